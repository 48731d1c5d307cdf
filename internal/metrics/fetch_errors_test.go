package metrics_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/metrics"
)

// TestFailedFetchesAreFailedWork runs the metrics step at the JSON
// boundary on the import result of a cycle whose request budget ran out
// after one record (scraping_ethics.json max_requests_per_cycle 40): 19
// of the 20 candidates were never fetched. They are failed work in
// error_rate, candidates not imported in import_success_rate, and their
// count is the fetch_errors KPI; the health score falls below the alert.
func TestFailedFetchesAreFailedWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		imp                    string
		errorRate, success     float64
		fetchErrors            float64
		validationKnown, dupes bool
	}{{
		name: "budget spent after one record",
		imp: `{"candidates": 20, "fetched": 1, "fetch_errors_count": 19,
			"fetch_errors": [{"source": "sandbox", "source_id": "15337", "error": "the request budget of this cycle is spent (max_requests_per_cycle)"}],
			"records": 1, "counts": {"inserted": 1, "updated": 0, "unchanged": 0, "duplicate": 0, "review": 0, "rejected": 0},
			"new_fragrances": 1, "embedding": {"embedded": 1, "failed": 0}, "max_rss_mb": 40}`,
		// 19 fetches of 38 requests + 20 fetches + 1 record + 1 vector.
		errorRate: 100 * 19.0 / 60, success: 5, fetchErrors: 19, validationKnown: true, dupes: true,
	}, {
		// The importer returns before importing: no counts at all.
		name:      "every fetch failed",
		imp:       `{"candidates": 20, "fetched": 0, "fetch_errors_count": 20, "records": 0, "counts": {}, "new_fragrances": 0}`,
		errorRate: 100 * 20.0 / 58, success: 0, fetchErrors: 20,
	}, {
		// fetch_errors_count is left out when 0.
		name:      "every fetch succeeded",
		imp:       `{"candidates": 2, "fetched": 2, "records": 2, "counts": {"inserted": 2, "updated": 0, "unchanged": 0, "duplicate": 0, "review": 0, "rejected": 0}}`,
		errorRate: 0, success: 100, fetchErrors: 0, validationKnown: true, dupes: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.cycle(t, "running", now.Add(-5*time.Minute), nil, `{}`)
			step := &metrics.Step{Pool: b.pool, Config: b.cfg, Now: func() time.Time { return now },
				Logger: logging.Discard(), RSS: func() float64 { return 30 }}
			st := cycle.State{CycleID: cycleID, Trigger: "manual", MaxFragrances: 20, Results: map[string]json.RawMessage{
				"detect": json.RawMessage(`{"candidate_count": 20, "crawl": {"source": "sandbox", "requests": 38, "errors": 0}, "max_rss_mb": 35}`),
				"import": json.RawMessage(tc.imp),
			}}
			payload, err := json.Marshal(st)
			require.NoError(t, err)
			out, err := lambda.NewHandler(step.Handle).Invoke(context.Background(), payload)
			require.NoError(t, err)
			var rep metrics.Report
			require.NoError(t, json.Unmarshal(out, &rep))

			status := func(v float64, higherIsBetter bool, warn, bad float64) string {
				switch {
				case higherIsBetter && v >= warn, !higherIsBetter && v <= warn:
					return metrics.StatusOK
				case higherIsBetter && v >= bad, !higherIsBetter && v <= bad:
					return metrics.StatusWarn
				}
				return metrics.StatusError
			}
			requireKPI(t, &rep, metrics.ErrorRate, tc.errorRate, status(tc.errorRate, false, 3, 5))
			requireKPI(t, &rep, metrics.ImportSuccessRate, tc.success, status(tc.success, true, 99, 98))
			requireKPI(t, &rep, metrics.FetchErrors, tc.fetchErrors, metrics.StatusOK)
			require.Equal(t, "candidates", rep.KPIs[metrics.FetchErrors].Unit)
			if tc.validationKnown {
				requireKPI(t, &rep, metrics.ValidationPassRate, 100, metrics.StatusOK) // fetch errors are no records
			} else {
				requireUnknown(t, &rep, metrics.ValidationPassRate)
			}
			if !tc.dupes {
				requireUnknown(t, &rep, metrics.Duplicates)
			}
			if tc.fetchErrors > 0 {
				require.Less(t, *rep.HealthScore, float64(b.cfg.Monitoring.Thresholds.HealthScoreMin), "the alert fires")
				require.False(t, rep.Components[metrics.ImportSuccessRate].Healthy)
				require.False(t, rep.Components[metrics.ErrorRate].Healthy)
			}

			// Stored with the cycle, as the weekly report reads it.
			var stored map[string]metrics.KPI
			var kpis []byte
			require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT kpis FROM cycles WHERE id = $1`, cycleID).Scan(&kpis))
			require.NoError(t, json.Unmarshal(kpis, &stored))
			require.Equal(t, rep.KPIs[metrics.FetchErrors], stored[metrics.FetchErrors])
		})
	}
}

// TestFetchErrorsUnknownWithoutAFetch: a cycle without an import result,
// or an import result without "fetched" (an older shape), says nothing
// about fetches.
func TestFetchErrorsUnknownWithoutAFetch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.catalog(t)
	fin := now.Add(-30 * time.Minute)
	b.cycle(t, "succeeded", now.Add(-60*time.Minute), &fin, fullResults)
	cy, err := metrics.LoadCycle(context.Background(), b.pool, cycleID)
	require.NoError(t, err)
	rep, err := b.comp.Compute(context.Background(), metrics.Input{Cycle: cy})
	require.NoError(t, err)
	requireUnknown(t, rep, metrics.FetchErrors)
	requireKPI(t, rep, metrics.ErrorRate, 3.13, metrics.StatusWarn) // as before: no fetch counted
}
