package faultinject_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/statemachine"
	"github.com/scentmatch/pipeline/internal/steps"
	"github.com/scentmatch/pipeline/internal/verify"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// sandboxWeek pins the sandbox upstream to one ISO week, so two databases
// crawled at different moments see the same trending list and records.
func sandboxWeek() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

// pipeline is one "process" running cycles against one database: its own
// environment, lazily opened pool and step handlers, as a Lambda container
// or a `scentmatch cycle` process has.
type pipeline struct {
	home  string
	url   string
	steps *steps.Steps
	deps  *app.Lazy

	mu     sync.Mutex
	events []statemachine.Event
}

// newPipeline builds the step handlers on dbURL with home as
// $SCENTMATCH_HOME (its bucket and outbox). open nil means the sandbox
// upstream pinned to sandboxWeek.
func newPipeline(t *testing.T, dbURL, home string, open detect.OpenFunc) *pipeline {
	t.Helper()
	env := map[string]string{"DATABASE_URL": dbURL, "SCENTMATCH_HOME": home}
	e := &app.Env{Getenv: func(k string) string { return env[k] }, Logger: logging.Discard()}
	deps := &app.Lazy{Env: e, Pool: postgres.PoolOptions{MaxConns: 4}}
	t.Cleanup(deps.Close)
	if open == nil {
		open = steps.LocalOpener(logging.Discard(), sandboxWeek)
	}
	return &pipeline{home: home, url: dbURL, deps: deps,
		steps: &steps.Steps{Env: e, Deps: deps, Bucket: bucket.Local(home), Open: open}}
}

// options skip the executor's pauses between retries and record events.
func (p *pipeline) options() []statemachine.Option {
	return []statemachine.Option{
		statemachine.WithSleeper(func(context.Context, time.Duration) error { return nil }),
		statemachine.OnEvent(func(e statemachine.Event) { p.mu.Lock(); p.events = append(p.events, e); p.mu.Unlock() }),
	}
}

// retried returns the StateRetried events: "State: Error" each.
func (p *pipeline) retried() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if e.Type == statemachine.StateRetried {
			out = append(out, e.State+": "+e.Error)
		}
	}
	return out
}

// outbox counts the messages in the local outbox by kind (the file name
// is <time>-<kind>-<random>.eml).
func outbox(t *testing.T, home string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(home, "outbox", "*.eml"))
	require.NoError(t, err)
	out := map[string]int{}
	for _, f := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".eml"), "-")
		require.GreaterOrEqual(t, len(parts), 3, f)
		out[strings.Join(parts[1:len(parts)-1], "-")]++
	}
	return out
}

// connect opens a pool for assertions, closed when t ends.
func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// catalogQueries select each catalog table's content by what does not
// depend on ids, timestamps or the order rows were written in: two
// databases that hold the same catalog give the same rows.
var catalogQueries = map[string]string{
	"brands":        `SELECT match_key, name FROM brands`,
	"brand_aliases": `SELECT a.alias_key, a.alias, b.match_key FROM brand_aliases a JOIN brands b ON b.id = a.brand_id`,
	"fragrances": `SELECT f.match_key, f.content_hash, b.match_key AS brand, f.name, f.year
		FROM fragrances f JOIN brands b ON b.id = f.brand_id`,
	"source_identities": `SELECT si.source, si.source_id, f.match_key, f.content_hash
		FROM source_identities si JOIN fragrances f ON f.id = si.fragrance_id`,
	"fragrance_keys": `SELECT k.key, f.match_key, f.content_hash FROM fragrance_keys k JOIN fragrances f ON f.id = k.fragrance_id`,
	"review_queue": `SELECT r.candidate_key, f.match_key, r.score FROM review_queue r JOIN fragrances f ON f.id = r.fragrance_id
		WHERE r.status = 'open'`,
	"merge_log": `SELECT m.merged_source, m.merged_source_id, f.match_key, m.reason, m.replaced
		FROM merge_log m JOIN fragrances f ON f.id = m.fragrance_id WHERE m.undone_at IS NULL`,
	"quarantined_records": `SELECT source, source_id, rule, field, reason FROM quarantined_records WHERE status = 'open'`,
}

// digest returns "rows:md5" per catalog table (the rows sorted, so a
// multiset: a duplicated row changes both figures).
func digest(t *testing.T, db *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, q := range catalogQueries {
		out[table] = digestOf(t, db, q)
	}
	return out
}

// digestOf returns "rows:md5" of the sorted rows q selects.
func digestOf(t *testing.T, db *pgxpool.Pool, q string) string {
	t.Helper()
	var n int64
	var sum string
	err := db.QueryRow(context.Background(), `SELECT count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '')
		FROM (`+q+`) t`).Scan(&n, &sum)
	require.NoError(t, err, q)
	return fmt.Sprintf("%d:%s", n, sum)
}

// requireIntegrity runs internal/verify's checks (orphans, duplicate match
// keys no rule explains, more than one running cycle): none may fail.
func requireIntegrity(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	e := settings.Default().Monitoring.Embedding
	rep, err := verify.Run(context.Background(), db, verify.Options{Model: e.Model, Dimension: e.Dimension})
	require.NoError(t, err)
	var failed []string
	for _, c := range rep.Checks {
		if !c.OK() {
			failed = append(failed, fmt.Sprintf("%s (%d): %s", c.Name, c.Violations, strings.Join(c.Examples, "; ")))
		}
	}
	sort.Strings(failed)
	require.Empty(t, failed, "verify found violations")
}

func scalar(t *testing.T, db *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), q, args...).Scan(&n), q)
	return n
}

// detectCrawl reads the crawl object of a cycle's stored detect result.
func detectCrawl(t *testing.T, db *pgxpool.Pool, cycleID string) map[string]any {
	t.Helper()
	rec, err := (&cycle.Store{DB: db}).Get(context.Background(), cycleID)
	require.NoError(t, err)
	var det struct {
		CandidateCount int            `json:"candidate_count"`
		Crawl          map[string]any `json:"crawl"`
	}
	require.NoError(t, json.Unmarshal(rec.StepResults[cycle.StepDetect], &det))
	det.Crawl["candidate_count"] = det.CandidateCount
	return det.Crawl
}

// tempHome is a $SCENTMATCH_HOME for one pipeline.
func tempHome(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bucket"), 0o755))
	return dir
}
