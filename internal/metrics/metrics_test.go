package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/emf"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// now is the fixtures' clock: one hour after the Sunday 02:00 cycle.
var now = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

const cycleID = "schedule-20261129T0200"

type bundle struct {
	pool *pgxpool.Pool
	cfg  *settings.Config
	comp *metrics.Computer
}

// setup returns an empty database and a configuration whose market
// leaders are Dior (alias Christian Dior), Chanel, Hermès and Guerlain.
func setup(t *testing.T) *bundle {
	t.Helper()
	pool := dbtest.Pool(t)
	cfg := settings.Default()
	cfg.Brands.Brands = []settings.PriorityBrand{
		{Name: "Dior", Aliases: []string{"Christian Dior"}, Priority: 1, MarketLeader: true},
		{Name: "Chanel", Priority: 1, MarketLeader: true},
		{Name: "Hermès", Priority: 1, MarketLeader: true},
		{Name: "Guerlain", Priority: 1, MarketLeader: true},
		{Name: "Acme", Priority: 5},
	}
	return &bundle{pool: pool, cfg: cfg, comp: &metrics.Computer{Pool: pool, Config: cfg, Now: func() time.Time { return now }}}
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

// catalog fills the catalog: 10 fragrances created 60 days ago, 3 ten days
// ago, 2 two days ago by the cycle; 12 of the 15 embedded; 2 open reviews
// and 1 resolved; trending observations 3 and 20 days old.
func (b *bundle) catalog(t *testing.T) {
	t.Helper()
	b.exec(t, `INSERT INTO cycles (id, trigger, status, started_at, finished_at) VALUES ('old', 'schedule', 'succeeded', $1, $1)`, now.AddDate(0, 0, -70))
	b.exec(t, `INSERT INTO brands (name, match_key) VALUES ('Christian Dior', 'christian dior'), ('Chanel', 'chanel'), ('Acme', 'acme'), ('Hermes', 'hermes')`)
	b.exec(t, `INSERT INTO fragrances (brand_id, name, match_key, notes_top, content_hash, created_at, created_cycle_id)
		SELECT (SELECT id FROM brands WHERE match_key = CASE WHEN i <= 5 THEN 'christian dior' WHEN i <= 8 THEN 'chanel' ELSE 'acme' END),
			'F' || i, 'f' || i, '{bergamot}', 'h' || i,
			$1::timestamptz - CASE WHEN i <= 10 THEN interval '60 days' WHEN i <= 13 THEN interval '10 days' ELSE interval '2 days' END,
			CASE WHEN i > 13 THEN $2 END
		FROM generate_series(1, 15) i`, now, nil)
	b.exec(t, `INSERT INTO embeddings (fragrance_id, model, dimension, vector, content_hash)
		SELECT id, 'scent-profile-v1', 384, array_fill(0.1::real, ARRAY[384]), content_hash FROM fragrances ORDER BY id LIMIT 12`)
	b.exec(t, `INSERT INTO review_queue (fragrance_id, candidate, score, status)
		SELECT id, '{}', 0.85, s FROM fragrances, unnest(ARRAY['open', 'open', 'accepted']) s WHERE name = 'F1'`)
	b.exec(t, `INSERT INTO source_observations (source, source_id, observed_at, rank) VALUES
		('sandbox', 'a', $1::timestamptz - interval '3 days', 1), ('sandbox', 'b', $1::timestamptz - interval '20 days', 2),
		('sandbox', 'c', $1::timestamptz - interval '1 day', NULL)`, now)
}

// cycle inserts the fixture cycle with the given step results and status.
func (b *bundle) cycle(t *testing.T, status string, started time.Time, finished *time.Time, results string) {
	t.Helper()
	b.exec(t, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, step_results) VALUES ($1, 'schedule', $2, $3, $4, $5)`,
		cycleID, status, started, finished, results)
	b.exec(t, `UPDATE fragrances SET created_cycle_id = $1 WHERE created_at > $2::timestamptz - interval '3 days'`, cycleID, now)
}

const fullResults = `{
	"detect": {"candidate_count": 3, "crawl": {"requests": 50, "errors": 1, "status_429": 2, "robots_blocked": 1}, "max_rss_mb": 120},
	"import": {"counts": {"inserted": 2, "updated": 1, "unchanged": 5, "merged": 1, "review": 1, "rejected": 0},
		"embedding": {"embedded": 2, "failed": 0}, "max_rss_mb": 210.5},
	"maintain": {"embeddings_backfilled": 1, "embedding": {"embedded": 1, "failed": 1}, "max_rss_mb": 90}
}`

func value(t *testing.T, rep *metrics.Report, name string) *float64 {
	t.Helper()
	k, ok := rep.KPIs[name]
	require.True(t, ok, name)
	return k.Value
}

func requireKPI(t *testing.T, rep *metrics.Report, name string, want float64, status string) {
	t.Helper()
	v := value(t, rep, name)
	require.NotNil(t, v, name)
	require.InDelta(t, want, *v, 0.005, name)
	require.Equal(t, status, rep.KPIs[name].Status, name)
}

func requireUnknown(t *testing.T, rep *metrics.Report, names ...string) {
	t.Helper()
	for _, n := range names {
		require.Nil(t, value(t, rep, n), n)
		require.Equal(t, metrics.StatusUnknown, rep.KPIs[n].Status, n)
	}
}

func TestKPIsOfAFinishedCycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t)
	fin := now.Add(-30 * time.Minute)
	b.cycle(t, "succeeded", now.Add(-60*time.Minute), &fin, fullResults)
	cy, err := metrics.LoadCycle(context.Background(), b.pool, cycleID)
	require.NoError(t, err)
	rep, err := b.comp.Compute(context.Background(), metrics.Input{Cycle: cy})
	require.NoError(t, err)

	require.Equal(t, metrics.OutcomeSucceeded, rep.Outcome)
	requireKPI(t, rep, metrics.ExecutionTimeMinutes, 30, metrics.StatusWarn) // at error (30): warn
	requireKPI(t, rep, metrics.PeakMemoryMB, 210.5, metrics.StatusOK)
	requireKPI(t, rep, metrics.ValidationPassRate, 100, metrics.StatusOK)
	requireKPI(t, rep, metrics.ImportSuccessRate, 100, metrics.StatusOK)
	requireKPI(t, rep, metrics.Duplicates, 1, metrics.StatusOK)
	requireKPI(t, rep, metrics.EmbeddingSuccessRate, 75, metrics.StatusError)          // 3 of 4
	requireKPI(t, rep, metrics.ErrorRate, 3.13, metrics.StatusWarn)                    // (1 crawl + 1 vector) of (50 + 10 + 4)
	requireKPI(t, rep, metrics.NewFragrances, 2, metrics.StatusOK)                     // counts.inserted
	requireKPI(t, rep, metrics.PendingEmbeddings, 3, metrics.StatusOK)                 // 15 - 12
	requireKPI(t, rep, metrics.ReviewQueueSize, 2, metrics.StatusOK)                   // open only
	requireKPI(t, rep, metrics.NewFragrancesPerWeek, 2, metrics.StatusOK)              // created 2 days ago
	requireKPI(t, rep, metrics.DatabaseGrowthPercentPerMonth, 50, metrics.StatusError) // 5 new on 10
	requireKPI(t, rep, metrics.DataFreshnessDays, 3, metrics.StatusOK)                 // newest ranked observation
	requireKPI(t, rep, metrics.CoverageCompleteness, 50, metrics.StatusError)          // Dior (by alias) and Chanel of 4
	conns := value(t, rep, metrics.DatabaseConnections)
	require.NotNil(t, conns)
	require.GreaterOrEqual(t, *conns, 1.0)
	require.Equal(t, metrics.StatusOK, rep.KPIs[metrics.DatabaseConnections].Status)

	// 15 + 7.5 (error rate, warn) + 10 + 0 (embedding) + 5 (time, warn) + 10
	// + 0 (coverage) + 5 + 5 + 5 + 5 + 3 + 0 (growth) = 70.5 of 100.
	require.NotNil(t, rep.HealthScore)
	require.InDelta(t, 70.5, *rep.HealthScore, 0.001)
	require.Equal(t, 7.5, rep.Components[metrics.ErrorRate].Share)
	require.Equal(t, 0.5, *rep.Components[metrics.ErrorRate].Points)
	emb := rep.Components[metrics.EmbeddingSuccessRate]
	require.False(t, emb.Healthy)
	require.Equal(t, 0.0, *emb.Score)
	require.Equal(t, "embedding_success_rate 75 percent: error (warn 98, error 95)", emb.Detail)
	require.True(t, rep.Components[metrics.ErrorRate].Healthy, "warn is not unhealthy")
	require.Equal(t, int64(15), rep.CatalogSize)

	// The KPI JSON is the contract's shape.
	data, err := json.Marshal(rep.KPIs[metrics.ImportSuccessRate])
	require.NoError(t, err)
	require.JSONEq(t, `{"value": 100, "unit": "percent", "warn": 99, "error": 98, "status": "ok"}`, string(data))
	data, err = json.Marshal(rep.KPIs[metrics.Duplicates])
	require.NoError(t, err)
	require.JSONEq(t, `{"value": 1, "unit": "records", "warn": null, "error": null, "status": "ok"}`, string(data))
}

// TestPendingEmbeddingsFromTheMaintainStep takes the count the maintain
// step made moments before (a pass over the catalog saved); the catalog's
// size is still counted.
func TestPendingEmbeddingsFromTheMaintainStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t)
	fin := now.Add(-30 * time.Minute)
	results := strings.Replace(fullResults, `"maintain": {`, `"maintain": {"pending_embeddings": 7, `, 1)
	b.cycle(t, "succeeded", now.Add(-60*time.Minute), &fin, results)
	cy, err := metrics.LoadCycle(context.Background(), b.pool, cycleID)
	require.NoError(t, err)
	rep, err := b.comp.Compute(context.Background(), metrics.Input{Cycle: cy})
	require.NoError(t, err)
	requireKPI(t, rep, metrics.PendingEmbeddings, 7, metrics.StatusOK) // the step's count, not the table's 3
	require.Equal(t, int64(15), rep.CatalogSize)
}

func TestKPIsWithNoCycles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	latest, err := metrics.LatestCycle(context.Background(), b.pool)
	require.NoError(t, err)
	require.Nil(t, latest)
	rep, err := b.comp.Compute(context.Background(), metrics.Input{})
	require.NoError(t, err)
	require.Equal(t, metrics.OutcomeNone, rep.Outcome)
	requireUnknown(t, rep, metrics.ExecutionTimeMinutes, metrics.PeakMemoryMB, metrics.ValidationPassRate, metrics.ImportSuccessRate,
		metrics.Duplicates, metrics.EmbeddingSuccessRate, metrics.ErrorRate, metrics.NewFragrances,
		metrics.DatabaseGrowthPercentPerMonth, metrics.DataFreshnessDays)
	requireKPI(t, rep, metrics.PendingEmbeddings, 0, metrics.StatusOK)
	requireKPI(t, rep, metrics.ReviewQueueSize, 0, metrics.StatusOK)
	requireKPI(t, rep, metrics.NewFragrancesPerWeek, 0, metrics.StatusOK)
	requireKPI(t, rep, metrics.CoverageCompleteness, 0, metrics.StatusError)
	// Known: pending, reviews, connections (5 each, ok), new per week (3,
	// ok), coverage (5, error): 18 of 23.
	require.InDelta(t, 78.26, *rep.HealthScore, 0.001)
	require.Nil(t, rep.Components[metrics.ErrorRate].Points)
}

func TestKPIsOfEdgeCycles(t *testing.T) {
	t.Parallel()
	fin := now.Add(-50 * time.Minute)
	for _, tc := range []struct {
		name    string
		status  string
		finish  *time.Time
		failed  string
		results string
		check   func(t *testing.T, rep *metrics.Report)
	}{{
		name: "zero imports", status: "succeeded", finish: &fin,
		results: `{"detect": {"candidate_count": 0, "crawl": {"requests": 0, "errors": 0}},
			"import": {"counts": {"inserted": 0, "updated": 0, "unchanged": 0, "merged": 0, "review": 0, "rejected": 0}}}`,
		check: func(t *testing.T, rep *metrics.Report) {
			require.Equal(t, metrics.OutcomeSucceeded, rep.Outcome)
			requireUnknown(t, rep, metrics.ValidationPassRate, metrics.ImportSuccessRate, metrics.ErrorRate, metrics.EmbeddingSuccessRate)
			requireKPI(t, rep, metrics.Duplicates, 0, metrics.StatusOK)
			requireKPI(t, rep, metrics.NewFragrances, 0, metrics.StatusOK)
			requireKPI(t, rep, metrics.ExecutionTimeMinutes, 10, metrics.StatusOK)
		},
	}, {
		name: "import skipped", status: "succeeded", finish: &fin,
		results: `{"detect": {"candidate_count": 0}}`,
		check: func(t *testing.T, rep *metrics.Report) {
			requireUnknown(t, rep, metrics.ValidationPassRate, metrics.ImportSuccessRate, metrics.Duplicates)
			requireKPI(t, rep, metrics.NewFragrances, 0, metrics.StatusOK) // none in the catalog from this cycle
		},
	}, {
		name: "all rejected", status: "succeeded", finish: &fin,
		results: `{"import": {"counts": {"inserted": 0, "updated": 0, "unchanged": 0, "duplicate": 0, "review": 0, "rejected": 5}}}`,
		check: func(t *testing.T, rep *metrics.Report) {
			requireKPI(t, rep, metrics.ValidationPassRate, 0, metrics.StatusError)
			requireUnknown(t, rep, metrics.ImportSuccessRate, metrics.ErrorRate)
			requireKPI(t, rep, metrics.NewFragrances, 0, metrics.StatusOK)
		},
	}, {
		name: "still running", status: "running",
		results: `{"detect": {"candidate_count": 2, "crawl": {"requests": 10, "errors": 0}, "max_rss_mb": 50}}`,
		check: func(t *testing.T, rep *metrics.Report) {
			require.Equal(t, metrics.OutcomeRunning, rep.Outcome)
			requireKPI(t, rep, metrics.ExecutionTimeMinutes, 60, metrics.StatusError) // started an hour ago, not finished
			requireKPI(t, rep, metrics.PeakMemoryMB, 50, metrics.StatusOK)
			requireKPI(t, rep, metrics.ErrorRate, 0, metrics.StatusOK)
			requireUnknown(t, rep, metrics.ImportSuccessRate)
		},
	}, {
		name: "failed", status: "failed", finish: &fin, failed: "import",
		results: `{"detect": {"candidate_count": 2, "crawl": {"requests": 10, "errors": 0}}}`,
		check: func(t *testing.T, rep *metrics.Report) {
			require.Equal(t, metrics.OutcomeFailed, rep.Outcome)
			require.LessOrEqual(t, *rep.HealthScore, float64(metrics.FailedCycleCap))
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.cycle(t, tc.status, now.Add(-time.Hour), tc.finish, tc.results)
			if tc.failed != "" {
				b.exec(t, `UPDATE cycles SET failed_step = $2, error_type = 'TransientError' WHERE id = $1`, cycleID, tc.failed)
			}
			cy, err := metrics.LoadCycle(context.Background(), b.pool, cycleID)
			require.NoError(t, err)
			rep, err := b.comp.Compute(context.Background(), metrics.Input{Cycle: cy})
			require.NoError(t, err)
			tc.check(t, rep)
		})
	}
}

func TestScoreWeightsSumTo100(t *testing.T) {
	t.Parallel()
	var sum float64
	for _, w := range metrics.Weights {
		sum += w
	}
	require.Equal(t, 100.0, sum)
	kpis := map[string]metrics.KPI{}
	for n := range metrics.Weights {
		kpis[n] = metrics.KPI{Status: metrics.StatusOK}
	}
	s, _ := metrics.Score(kpis, false)
	require.Equal(t, 100.0, *s)
	s, _ = metrics.Score(kpis, true)
	require.Equal(t, 50.0, *s)
	s, _ = metrics.Score(map[string]metrics.KPI{}, false)
	require.Nil(t, s)
}

// TestMetricsStep runs the step at the JSON boundary on the fixture cycle:
// it stores the KPIs, writes one valid EMF line and one completion line,
// and a rerun returns the stored result without writing again.
func TestMetricsStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t)
	// The row holds detect's result; the state carries import and maintain.
	b.cycle(t, "running", now.Add(-20*time.Minute), nil, `{"detect": {"crawl": {"requests": 50, "errors": 1}, "max_rss_mb": 120}}`)
	var emfOut, logs bytes.Buffer
	step := &metrics.Step{
		Pool: b.pool, Config: b.cfg, Now: func() time.Time { return now },
		Logger: logging.New(&logs, logging.Options{Format: logging.JSON}),
		EMF:    &emf.Writer{W: &emfOut, Stage: "staging", Now: func() time.Time { return now }},
		RSS:    func() float64 { return 64 },
	}
	var full map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(fullResults), &full))
	st := cycle.State{CycleID: cycleID, Trigger: "schedule", MaxFragrances: 20, Results: map[string]json.RawMessage{
		"detect": full["detect"], "import": full["import"], "maintain": full["maintain"]}}
	payload, err := json.Marshal(st)
	require.NoError(t, err)
	h := lambda.NewHandler(step.Handle)
	out, err := h.Invoke(context.Background(), payload)
	require.NoError(t, err)
	var rep metrics.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	require.Equal(t, metrics.OutcomeSucceeded, rep.Outcome)
	requireKPI(t, &rep, metrics.ExecutionTimeMinutes, 20, metrics.StatusWarn)
	requireKPI(t, &rep, metrics.PeakMemoryMB, 210.5, metrics.StatusOK)
	require.Equal(t, 64.0, rep.MaxRSSMB)
	require.InDelta(t, 70.5, *rep.HealthScore, 0.001)

	// Stored on the row.
	var score float64
	var newFragrances int
	var kpis, stored []byte
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT health_score, new_fragrances, kpis, step_results -> 'metrics' FROM cycles WHERE id = $1`,
		cycleID).Scan(&score, &newFragrances, &kpis, &stored))
	require.Equal(t, 70.5, score)
	require.Equal(t, 2, newFragrances)
	var storedKPIs map[string]metrics.KPI
	require.NoError(t, json.Unmarshal(kpis, &storedKPIs))
	require.Equal(t, rep.KPIs, storedKPIs)
	require.JSONEq(t, string(out), string(stored))

	// One EMF line, valid, with every named metric that is known.
	lines := nonEmptyLines(emfOut.String())
	require.Len(t, lines, 1)
	d, err := emf.Validate([]byte(lines[0]))
	require.NoError(t, err)
	require.Equal(t, "ScentMatch/Pipeline", d.Namespace)
	require.Equal(t, map[string]string{"Environment": "staging"}, d.Dimensions)
	require.Equal(t, map[string]float64{
		"CycleDurationSeconds": 1200, "NewFragrancesImported": 2, "SystemHealthScore": 70.5, "ErrorRate": 3.13,
		"ImportSuccessRate": 100, "ValidationPassRate": 100, "EmbeddingSuccessRate": 75, "PendingEmbeddings": 3,
		"ReviewQueueSize": 2, "PeakMemoryMB": 210.5, "DatabaseConnections": *rep.KPIs[metrics.DatabaseConnections].Value,
		"CatalogSize": float64(rep.CatalogSize), "CrawlRequests": 50, "CrawlRefusals": 3, // 2 answers 429 + 1 robots.txt
	}, d.Values)
	require.Positive(t, rep.CatalogSize)
	require.Equal(t, "Seconds", d.Units["CycleDurationSeconds"])
	require.Equal(t, "Percent", d.Units["ErrorRate"])
	require.Equal(t, "Megabytes", d.Units["PeakMemoryMB"])

	completed := logLines(t, logs.String(), metrics.CompletedMessage)
	require.Len(t, completed, 1)
	require.Equal(t, "INFO", completed[0]["level"])
	require.Equal(t, cycleID, completed[0]["cycle_id"])
	require.Equal(t, 20.0, completed[0]["execution_time_minutes"])
	require.Equal(t, 2.0, completed[0]["new_fragrances_imported"])
	require.Equal(t, 70.5, completed[0]["system_health_score"])

	// A rerun (a Step Functions retry) returns the stored result, writes nothing.
	out2, err := h.Invoke(context.Background(), payload)
	require.NoError(t, err)
	require.JSONEq(t, string(out), string(out2))
	require.Len(t, nonEmptyLines(emfOut.String()), 1)
	require.Len(t, logLines(t, logs.String(), metrics.CompletedMessage), 1)

	// The success path closed the cycle.
	var status string
	var finished *time.Time
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT status, finished_at FROM cycles WHERE id = $1`, cycleID).Scan(&status, &finished))
	require.Equal(t, "succeeded", status)
	require.Equal(t, now, finished.UTC())
}

// TestCatchPath runs the step as RecordFailure: the cycle is marked
// failed at the step without a result, its KPIs are stored, the completion
// line is an ERROR.
func TestCatchPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cycle(t, "running", now.Add(-10*time.Minute), nil, `{}`)
	var logs bytes.Buffer
	step := &metrics.Step{Pool: b.pool, Config: b.cfg, Now: func() time.Time { return now },
		Logger: logging.New(&logs, logging.Options{Format: logging.JSON}), RSS: func() float64 { return 10 }}
	st := cycle.State{CycleID: cycleID, Results: map[string]json.RawMessage{
		"detect": json.RawMessage(`{"candidate_count": 2, "crawl": {"requests": 4, "errors": 4}}`)},
		Error: &cycle.StepError{Error: "States.TaskFailed", Cause: `{"errorType": "TransientError", "errorMessage": "import: connection refused"}`}}
	rep, err := step.Handle(context.Background(), st)
	require.NoError(t, err)
	require.Equal(t, metrics.OutcomeFailed, rep.Outcome)
	require.LessOrEqual(t, *rep.HealthScore, 50.0)
	requireKPI(t, rep, metrics.ErrorRate, 100, metrics.StatusError)
	lines := logLines(t, logs.String(), metrics.CompletedMessage)
	require.Len(t, lines, 1)
	require.Equal(t, "ERROR", lines[0]["level"])
	require.Equal(t, "TransientError", lines[0]["error_type"])
	require.Equal(t, "import", lines[0]["failed_step"])
	require.Equal(t, "failed", lines[0]["outcome"])

	var status, failedStep, errorType, message string
	var score float64
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT status, failed_step, error_type, error_message, health_score FROM cycles WHERE id = $1`,
		cycleID).Scan(&status, &failedStep, &errorType, &message, &score))
	require.Equal(t, []string{"failed", "import", "TransientError", "import: connection refused"}, []string{status, failedStep, errorType, message})
	require.Equal(t, *rep.HealthScore, score)

	// A retry of RecordFailure writes nothing new.
	rep2, err := step.Handle(context.Background(), st)
	require.NoError(t, err)
	require.Equal(t, rep.HealthScore, rep2.HealthScore)
	require.Len(t, logLines(t, logs.String(), metrics.CompletedMessage), 1)
}

// TestNotifyFailedAfterMetrics: the success path stored the metrics and
// closed the cycle; Notify failed, RecordFailure marks the cycle failed
// and keeps the metrics.
func TestNotifyFailedAfterMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cycle(t, "running", now.Add(-10*time.Minute), nil, `{}`)
	var logs bytes.Buffer
	step := &metrics.Step{Pool: b.pool, Config: b.cfg, Now: func() time.Time { return now },
		Logger: logging.New(&logs, logging.Options{Format: logging.JSON}), RSS: func() float64 { return 10 }}
	results := map[string]json.RawMessage{"detect": json.RawMessage(`{"candidate_count": 0}`), "maintain": json.RawMessage(`{"max_rss_mb": 20}`)}
	ok, err := step.Handle(context.Background(), cycle.State{CycleID: cycleID, Results: results})
	require.NoError(t, err)
	require.Equal(t, metrics.OutcomeSucceeded, ok.Outcome)

	results["metrics"], _ = json.Marshal(ok)
	rep, err := step.Handle(context.Background(), cycle.State{CycleID: cycleID, Results: results,
		Error: &cycle.StepError{Error: "SESError", Cause: "throttled"}})
	require.NoError(t, err)
	require.Equal(t, ok.HealthScore, rep.HealthScore)
	var status, failedStep string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT status, failed_step FROM cycles WHERE id = $1`, cycleID).Scan(&status, &failedStep))
	require.Equal(t, "failed", status)
	require.Equal(t, "notify", failedStep)
	require.Len(t, logLines(t, logs.String(), metrics.CompletedMessage), 1, "one completion line per cycle")
	require.Len(t, logLines(t, logs.String(), "cycle failed after its metrics were recorded"), 1)
}

// TestStoppedAndRefusedCycles: an emergency stop stays "stopped"; a cycle
// refused because another was running gets no row.
func TestStoppedAndRefusedCycles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cycle(t, "stopped", now.Add(-10*time.Minute), nil, `{}`)
	step := &metrics.Step{Pool: b.pool, Config: b.cfg, Now: func() time.Time { return now }, RSS: func() float64 { return 10 }}
	rep, err := step.Handle(context.Background(), cycle.State{CycleID: cycleID, Error: &cycle.StepError{Error: "StoppedError", Cause: "stopped"}})
	require.NoError(t, err)
	require.Equal(t, metrics.OutcomeStopped, rep.Outcome)
	var status string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT status FROM cycles WHERE id = $1`, cycleID).Scan(&status))
	require.Equal(t, "stopped", status)

	rep, err = step.Handle(context.Background(), cycle.State{CycleID: "manual-refused", Error: &cycle.StepError{Error: "AlreadyRunningError", Cause: "busy"}})
	require.NoError(t, err)
	require.Equal(t, metrics.OutcomeFailed, rep.Outcome)
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM cycles WHERE id = 'manual-refused'`).Scan(&n))
	require.Zero(t, n)
}

func TestFailureOf(t *testing.T) {
	t.Parallel()
	st := cycle.State{Error: &cycle.StepError{Error: "TransientError", Cause: "plain text"}}
	require.Equal(t, cycle.Failure{Step: "detect", Type: "TransientError", Message: "plain text"}, metrics.FailureOf(st))
	st.Results = map[string]json.RawMessage{"detect": json.RawMessage(`{"candidate_count": 0}`)}
	require.Equal(t, "maintain", metrics.FailureOf(st).Step, "import was skipped")
	st.Results["detect"] = json.RawMessage(`{"candidate_count": 3}`)
	require.Equal(t, "import", metrics.FailureOf(st).Step)
	require.Equal(t, cycle.Failure{}, metrics.FailureOf(cycle.State{}))
}

func nonEmptyLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

func logLines(t *testing.T, s, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range nonEmptyLines(s) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestSampleEvent replays events/metrics.json: coverage comes from the
// detect result when it has one, new fragrances from the import's count.
func TestSampleEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cycle(t, "running", now.Add(-25*time.Minute), nil, `{}`)
	payload, err := os.ReadFile("../../events/metrics.json")
	require.NoError(t, err)
	step := &metrics.Step{Pool: b.pool, Config: b.cfg, Now: func() time.Time { return now }, Logger: logging.Discard()}
	h := &metrics.Handler{Step: func(context.Context) (*metrics.Step, error) { return step, nil }}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	require.NoError(t, err)
	var rep metrics.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	requireKPI(t, &rep, metrics.CoverageCompleteness, 96.5, metrics.StatusOK)
	requireKPI(t, &rep, metrics.NewFragrances, 2, metrics.StatusOK)
	requireKPI(t, &rep, metrics.EmbeddingSuccessRate, 100, metrics.StatusOK)
	requireKPI(t, &rep, metrics.ErrorRate, 1.82, metrics.StatusOK) // 1 of 50 requests + 3 records + 2 vectors
}
