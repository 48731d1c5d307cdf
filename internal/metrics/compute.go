package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Outcomes of the cycle a report is about.
const (
	OutcomeNone      = "none" // no cycle: catalog KPIs only
	OutcomeRunning   = "running"
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeStopped   = "stopped" // an operator's emergency stop
)

// Computer computes KPIs against one database.
type Computer struct {
	Pool   *pgxpool.Pool
	Config *settings.Config
	Now    func() time.Time
}

// Input says what to compute the KPIs of.
type Input struct {
	// Cycle is the cycle (nil: no cycle yet; only the catalog KPIs are known).
	Cycle *Cycle
	// Results overlay the cycle's stored step_results (the state the step
	// received is newer than what is stored).
	Results map[string]json.RawMessage
	// StepError is the Catch path's $.error: a step of the cycle failed.
	StepError *cycle.StepError
	// SelfRSSMB is the caller's own peak memory, counted in peak_memory_mb
	// (the metrics step's; 0 from the CLI, whose memory is not the cycle's).
	SelfRSSMB float64
	// Finishing says the caller is the cycle's metrics step: the cycle's
	// work is over, so its outcome is succeeded or failed, not running.
	Finishing bool
}

// Report is the metrics of one cycle: the Metrics step's result.
type Report struct {
	CycleID     string               `json:"cycle_id,omitempty"`
	Outcome     string               `json:"outcome"`
	DryRun      bool                 `json:"dry_run,omitempty"`
	KPIs        map[string]KPI       `json:"kpis"`
	HealthScore *float64             `json:"health_score"`
	Components  map[string]Component `json:"components"`
	ComputedAt  time.Time            `json:"computed_at"`
	// CatalogSize counts the catalog's fragrances when the KPIs were computed.
	CatalogSize int64 `json:"catalog_size"`
	// MaxRSSMB is the computing process's own peak memory (every step
	// result carries one).
	MaxRSSMB float64 `json:"max_rss_mb"`
	// Crawl counts the detect step's requests to the upstream, nil when
	// the cycle has no detect result.
	Crawl *CrawlCounts `json:"crawl,omitempty"`
}

// CrawlCounts is what the dashboard shows of a cycle's crawl.
type CrawlCounts struct {
	// Requests sent (robots.txt and retries included).
	Requests float64 `json:"requests"`
	// Refusals counts the upstream saying no: HTTP 429 answers and URLs
	// robots.txt disallows.
	Refusals float64 `json:"refusals"`
}

func (c *Computer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Compute computes every KPI and the health score.
func (c *Computer) Compute(ctx context.Context, in Input) (*Report, error) {
	now := c.now().UTC()
	rep := &Report{Outcome: OutcomeNone, ComputedAt: now, KPIs: map[string]KPI{}, MaxRSSMB: in.SelfRSSMB}
	res := map[string]map[string]any{}
	failed := in.StepError != nil
	var execMinutes *float64
	if cy := in.Cycle; cy != nil {
		rep.CycleID, rep.DryRun = cy.ID, cy.DryRun
		for step, raw := range cy.StepResults {
			res[step] = decodeObject(raw)
		}
		end := now
		if cy.FinishedAt != nil {
			end = *cy.FinishedAt
		}
		execMinutes = ptr(math.Max(0, end.Sub(cy.StartedAt).Minutes()))
		// A stopped cycle was interrupted on purpose: not a failure.
		failed = cy.Status != OutcomeStopped && (failed || cy.Failed())
		switch {
		case cy.Status == OutcomeStopped:
			rep.Outcome = OutcomeStopped
		case failed:
			rep.Outcome = OutcomeFailed
		case in.Finishing || cy.Status == OutcomeSucceeded:
			rep.Outcome = OutcomeSucceeded
		default:
			rep.Outcome = OutcomeRunning
		}
	}
	for step, raw := range in.Results {
		res[step] = decodeObject(raw)
	}
	// The metrics' own earlier result and notify's say nothing about the work.
	delete(res, cycle.StepMetrics)
	delete(res, cycle.StepNotify)

	th := c.Config.Monitoring.KPIs
	set := func(name string, v *float64) { rep.KPIs[name] = judge(name, v, th) }

	set(ExecutionTimeMinutes, execMinutes)
	set(PeakMemoryMB, peakMemory(res, in.SelfRSSMB))

	imp := importCounts(res[cycle.StepImport])
	fetch := fetchCounts(res[cycle.StepImport])
	var validation, success, duplicates, fetchErrors *float64
	if imp.known {
		if imp.total() > 0 {
			validation = ptr(100 * float64(imp.total()-imp.rejected) / float64(imp.total()))
		}
		duplicates = ptr(float64(imp.merged))
	}
	// A candidate whose record could not be fetched was not imported: it
	// counts against the success rate as a record that failed to write.
	if a := imp.attempted() + fetch.failed; a > 0 {
		success = ptr(100 * float64(imp.attempted()-imp.failed) / float64(a))
	}
	if fetch.known {
		fetchErrors = ptr(float64(fetch.failed))
	}
	set(ValidationPassRate, validation)
	set(ImportSuccessRate, success)
	set(Duplicates, duplicates)
	set(FetchErrors, fetchErrors)

	embedded, embedFailed := embeddingCounts(res)
	var embedRate *float64
	if embedded+embedFailed > 0 {
		embedRate = ptr(100 * embedded / (embedded + embedFailed))
	}
	set(EmbeddingSuccessRate, embedRate)

	// Error rate: failed work among all work the cycle did (detect's
	// requests, the candidates' record fetches, records written, vectors).
	ops, errs := embedded+embedFailed, embedFailed
	if imp.known {
		ops += float64(imp.attempted())
		errs += float64(imp.failed)
	}
	ops += float64(fetch.attempted)
	errs += float64(fetch.failed)
	if req, ok := num(res[cycle.StepDetect], "crawl", "requests"); ok {
		ops += req
		rep.Crawl = &CrawlCounts{Requests: req}
		for _, k := range []string{"status_429", "robots_blocked"} {
			if n, ok := num(res[cycle.StepDetect], "crawl", k); ok {
				rep.Crawl.Refusals += n
			}
		}
		if e, ok := num(res[cycle.StepDetect], "crawl", "errors"); ok {
			errs += e
		}
	}
	var errorRate *float64
	if ops > 0 {
		errorRate = ptr(100 * errs / ops)
	}
	set(ErrorRate, errorRate)

	newCycle, err := c.newFragrances(ctx, in.Cycle, res[cycle.StepImport])
	if err != nil {
		return nil, err
	}
	set(NewFragrances, newCycle)

	if rep.CatalogSize, err = c.catalogKPIs(ctx, now, res, set); err != nil {
		return nil, err
	}
	rep.HealthScore, rep.Components = Score(rep.KPIs, failed)
	return rep, nil
}

// catalogKPIs sets the KPIs read from the database as it is now and
// returns the catalog's size.
func (c *Computer) catalogKPIs(ctx context.Context, now time.Time, res map[string]map[string]any, set func(string, *float64)) (int64, error) {
	var conns int64
	if err := c.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
		postgres.ApplicationName).Scan(&conns); err != nil {
		return 0, fmt.Errorf("counting database connections: %w", err)
	}
	set(DatabaseConnections, ptr(float64(conns)))

	// The maintain step, just before, counted the pending vectors (a pass
	// over the catalog: seconds at a million fragrances); without its
	// result, count them here.
	var size int64
	if pending, ok := num(res[cycle.StepMaintain], "pending_embeddings"); ok {
		set(PendingEmbeddings, &pending)
		if err := c.Pool.QueryRow(ctx, `SELECT count(*) FROM fragrances`).Scan(&size); err != nil {
			return 0, fmt.Errorf("counting the catalog: %w", err)
		}
	} else {
		e := c.Config.Monitoring.Embedding
		st, err := embedding.GetStatus(ctx, c.Pool, e.Model, e.Dimension)
		if err != nil {
			return 0, err
		}
		set(PendingEmbeddings, ptr(float64(st.Pending)))
		size = st.Fragrances
	}

	var reviews, week, before, month int64
	var newest *time.Time
	if err := c.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM review_queue WHERE status = 'open'),
			(SELECT count(*) FROM fragrances WHERE created_at > $1::timestamptz - interval '7 days' AND created_at <= $1),
			(SELECT count(*) FROM fragrances WHERE created_at <= $1::timestamptz - interval '30 days'),
			(SELECT count(*) FROM fragrances WHERE created_at > $1::timestamptz - interval '30 days' AND created_at <= $1),
			(SELECT max(observed_at) FROM source_observations WHERE rank IS NOT NULL AND observed_at <= $1)`, now).
		Scan(&reviews, &week, &before, &month, &newest); err != nil {
		return 0, fmt.Errorf("reading catalog figures: %w", err)
	}
	set(ReviewQueueSize, ptr(float64(reviews)))
	set(NewFragrancesPerWeek, ptr(float64(week)))
	var growth *float64
	if before > 0 {
		growth = ptr(100 * float64(month) / float64(before))
	}
	set(DatabaseGrowthPercentPerMonth, growth)
	var fresh *float64
	if newest != nil {
		fresh = ptr(now.Sub(*newest).Hours() / 24)
	}
	set(DataFreshnessDays, fresh)

	// The detect step measures it against the upstream's counts
	// (coverage.market_leaders.value, null when no count was known).
	if v, ok := num(res[cycle.StepDetect], "coverage", "market_leaders", "value"); ok {
		set(CoverageCompleteness, &v)
		return size, nil
	}
	cov, err := c.coverage(ctx)
	if err != nil {
		return 0, err
	}
	set(CoverageCompleteness, cov)
	return size, nil
}

// coverage is the percent of market-leader brands (brand_priorities.json)
// with at least one fragrance in the catalog, matching the brand's name or
// an alias by its folded key; nil when no brand is a market leader.
func (c *Computer) coverage(ctx context.Context) (*float64, error) {
	var idx []int32
	var keys []string
	leaders := 0
	for _, b := range c.Config.Brands.Brands {
		if !b.MarketLeader {
			continue
		}
		for _, s := range append([]string{b.Name}, b.Aliases...) {
			if k := catalog.Fold(s); k != "" {
				idx, keys = append(idx, int32(leaders)), append(keys, k)
			}
		}
		leaders++
	}
	if leaders == 0 {
		return nil, nil
	}
	var covered int64
	// The brands first (a few thousand rows), then one index probe per
	// brand: joining the fragrances to the brands per key read the whole
	// catalog each time (19.6 s against a million fragrances).
	if err := c.Pool.QueryRow(ctx, `SELECT count(DISTINCT k.idx) FROM unnest($1::int[], $2::text[]) AS k(idx, key)
		WHERE EXISTS (SELECT 1 FROM brands b
			WHERE (b.match_key = k.key OR b.id IN (SELECT a.brand_id FROM brand_aliases a WHERE a.alias_key = k.key))
			AND EXISTS (SELECT 1 FROM fragrances f WHERE f.brand_id = b.id))`,
		idx, keys).Scan(&covered); err != nil {
		return nil, fmt.Errorf("measuring market-leader coverage: %w", err)
	}
	return ptr(100 * float64(covered) / float64(leaders)), nil
}

// newFragrances is what the import step says it added, else what the
// catalog holds from this cycle; nil without a cycle.
func (c *Computer) newFragrances(ctx context.Context, cy *Cycle, imp map[string]any) (*float64, error) {
	if cy == nil {
		return nil, nil
	}
	if v, ok := num(imp, "new_fragrances"); ok {
		return &v, nil
	}
	if v, ok := num(imp, "counts", "inserted"); ok {
		return &v, nil
	}
	if v, ok := num(imp, "inserted"); ok {
		return &v, nil
	}
	var n int64
	if err := c.Pool.QueryRow(ctx, `SELECT count(*) FROM fragrances WHERE created_cycle_id = $1`, cy.ID).Scan(&n); err != nil {
		return nil, fmt.Errorf("counting the fragrances of cycle %s: %w", cy.ID, err)
	}
	return ptr(float64(n)), nil
}

// peakMemory is the largest max_rss_mb any step reported, or self.
func peakMemory(res map[string]map[string]any, self float64) *float64 {
	peak := self
	for _, r := range res {
		if v, ok := num(r, "max_rss_mb"); ok && v > peak {
			peak = v
		}
	}
	if peak <= 0 {
		return nil
	}
	return &peak
}

// counts are the import step's records by outcome.
type counts struct {
	known                                                          bool
	inserted, updated, unchanged, merged, review, rejected, failed int64
}

func (c counts) total() int64 {
	return c.inserted + c.updated + c.unchanged + c.merged + c.review + c.rejected + c.failed
}

// attempted counts the valid records, those the import tried to write.
func (c counts) attempted() int64 { return c.total() - c.rejected }

// importCounts reads the counts under "counts" or at the top level;
// "duplicate" (the importer's word) is read as "merged".
func importCounts(m map[string]any) counts {
	var c counts
	if m == nil {
		return c
	}
	src := m
	if inner, ok := m["counts"].(map[string]any); ok {
		src = inner
	}
	for key, dst := range map[string]*int64{"inserted": &c.inserted, "updated": &c.updated, "unchanged": &c.unchanged,
		"merged": &c.merged, "review": &c.review, "rejected": &c.rejected, "failed": &c.failed} {
		v, ok := num(src, key)
		if !ok && key == "merged" {
			v, ok = num(src, "duplicate")
		}
		if ok {
			*dst = int64(v)
			c.known = true
		}
	}
	return c
}

// fetches are the import step's fetches of the candidates' records.
type fetches struct {
	known             bool
	attempted, failed int64
}

// fetchCounts reads the import step's candidate fetches: fetched plus
// fetch_errors_count (left out when 0) attempted, fetch_errors_count
// failed. A result without "fetched" (a dataset import) fetched nothing.
func fetchCounts(m map[string]any) fetches {
	var f fetches
	ok, failed := false, 0.0
	if v, found := num(m, "fetched"); found {
		f.attempted, ok = int64(v), true
	}
	if v, found := num(m, "fetch_errors_count"); found {
		failed, ok = v, true
	} else if errs, found := m["fetch_errors"].([]any); found {
		failed, ok = float64(len(errs)), true // an older result without the count
	}
	f.known, f.failed = ok, int64(failed)
	f.attempted += f.failed
	return f
}

// embeddingCounts adds the vectors the import and the maintenance
// backfill made and failed to make.
func embeddingCounts(res map[string]map[string]any) (embedded, failed float64) {
	for _, step := range []string{cycle.StepImport, cycle.StepMaintain} {
		m := res[step]
		if v, ok := num(m, "embedding", "embedded"); ok {
			embedded += v
		} else if v, ok := num(m, "embedded"); ok {
			embedded += v
		} else if v, ok := num(m, "embeddings_backfilled"); ok {
			embedded += v
		}
		if v, ok := num(m, "embedding", "failed"); ok {
			failed += v
		} else if v, ok := num(m, "embedding_failed"); ok {
			failed += v
		}
	}
	return embedded, failed
}

// decodeObject reads a step result as a JSON object; anything else is
// treated as absent.
func decodeObject(raw json.RawMessage) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// num follows path through nested objects to a number.
func num(m map[string]any, path ...string) (float64, bool) {
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		cur = obj[p]
	}
	v, ok := cur.(float64)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}
