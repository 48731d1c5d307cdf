// Package faultinject holds the fault-injection suite: tests only, run by
// make test against real PostgreSQL clusters and real processes, with no
// mock of the database. Each test breaks the pipeline one way and checks
// that it loses nothing and doubles nothing:
//
//   - TestImportSurvivesSIGKILL kills `scentmatch import` (the CLI binary,
//     built once) with SIGKILL at seeded random points of an import of a
//     slice of the real 37k catalog, reruns it to completion, and compares
//     every catalog table with a clean single import in another database.
//     FAULTINJECT_SEED replays a run; FAULTINJECT_TRIALS sets the count.
//   - TestPostgresRestartMidCycle restarts a throwaway cluster (a fast
//     restart, and a backend crash that makes PostgreSQL reset every
//     session) while the cycle's Import step waits inside its batch
//     transaction: the step fails with *cycle.TransientError, the
//     executor's Retry recovers, and the catalog holds exactly the cycle's
//     new fragrances.
//   - TestThrottledUpstreamDegradesTheCrawl puts an upstream that answers
//     only 429 (with Retry-After) and 503 for a while in front of the
//     sandbox: the crawl backs off within its budget, the circuit opens, the
//     cycle finishes with the candidates it has and reports crawl.degraded.
//   - TestTwoCyclesAtOnce starts two cycles together on one database: one
//     runs, the other is refused with AlreadyRunningError, and the catalog
//     equals a single cycle's on another database.
//   - TestNotifyRetriedAfterItsSend retries the Notify step after its
//     messages went out (and after a timeout between a send and its
//     record): one message per kind, never two.
//
// docs/reliability.md says what each test proves and how long it takes.
package faultinject
