package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/emf"
	"github.com/scentmatch/pipeline/internal/maintain"
	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/status"
)

// opsEnv is a migrated database and a home of the test's own.
func opsEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	url := dbtest.URL(t)
	return map[string]string{"DATABASE_URL": url, "SCENTMATCH_HOME": t.TempDir()}, url
}

func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := postgres.ConnectOne(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err, sql)
}

func TestOperatorViewsOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	env, _ := opsEnv(t)

	r := run(t, env, "status", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	st := decode[status.Report](t, r.stdout)
	require.True(t, st.MonitoringEnabled)
	require.True(t, st.SchedulerRunning)
	require.Nil(t, st.LastCycle)
	require.NotNil(t, st.NextRun)
	require.Contains(t, st.Summary, "No cycle has run yet.")
	r = run(t, env, "status")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "monitoring_enabled")
	require.Contains(t, r.stdout, "No cycle has run yet.")

	r = run(t, env, "metrics", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	m := decode[metricsOutput](t, r.stdout)
	require.Equal(t, "computed", m.Source)
	require.Equal(t, metrics.OutcomeNone, m.Outcome)
	require.Equal(t, metrics.StatusUnknown, m.KPIs[metrics.ImportSuccessRate].Status)
	require.Equal(t, 0.0, *m.KPIs[metrics.PendingEmbeddings].Value)
	r = run(t, env, "metrics")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "no cycle yet: catalog KPIs only")
	require.Contains(t, r.stdout, "System health score:")

	r = run(t, env, "health", "--json")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	h := decode[healthJSON](t, r.stdout)
	require.True(t, h.DatabaseConnection)
	for _, n := range []string{"database", "migrations", "configuration", "upstream", "email", "last_cycle", "error_rate"} {
		require.True(t, h.Components[n].Healthy, "%s: %s", n, h.Components[n].Detail)
	}
	require.Equal(t, "no cycle has run yet", h.Components["last_cycle"].Detail)

	r = run(t, env, "maintain", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	mr := decode[maintain.Result](t, r.stdout)
	require.NotEmpty(t, mr.Vacuumed)
	for table, n := range mr.Purged {
		require.Zero(t, n, table)
	}
	r = run(t, env, "maintain", "--dry-run")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "Would purge:")
}

func TestOperatorViewsWithFixtureCycles(t *testing.T) {
	t.Parallel()
	env, url := opsEnv(t)
	now := time.Now().UTC()
	// An old cycle that stored its metrics, and a recent one that failed at import.
	execSQL(t, url, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, new_fragrances, health_score, kpis, step_results) VALUES
		('schedule-a', 'schedule', 'succeeded', $1::timestamptz - interval '8 days', $1::timestamptz - interval '8 days' + interval '12 minutes', 3, 88.5,
		 '{"error_rate": {"value": 1.5, "unit": "percent", "warn": 3, "error": 5, "status": "ok"},
		   "import_success_rate": {"value": 100, "unit": "percent", "warn": 99, "error": 98, "status": "ok"}}',
		 '{"import": {"counts": {"inserted": 3, "rejected": 1}}}'),
		('schedule-b', 'schedule', 'failed', $1::timestamptz - interval '1 day', $1::timestamptz - interval '1 day' + interval '5 minutes', 0, NULL, NULL,
		 '{"detect": {"crawl": {"requests": 20, "errors": 2}}}')`, now)
	execSQL(t, url, `UPDATE cycles SET failed_step = 'import', error_type = 'TransientError' WHERE id = 'schedule-b'`)

	r := run(t, env, "status", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	st := decode[status.Report](t, r.stdout)
	require.Equal(t, "schedule-b", st.LastCycle.ID)
	require.Equal(t, "failed", st.LastCycle.Outcome)
	require.Equal(t, "import", *st.LastCycle.FailedStep)
	require.Equal(t, 5.0, st.LastCycle.ExecutionTimeMinutes)
	require.False(t, st.SchedulerRunning)
	require.Equal(t, int64(2), st.Totals.Cycles)

	month := now.AddDate(0, 0, -1).Format("2006-01")
	r = run(t, env, "status", "--json", "--month", month)
	require.Equal(t, ExitOK, r.code, r.stderr)
	st = decode[status.Report](t, r.stdout)
	require.Equal(t, month, st.Month.Month)
	require.GreaterOrEqual(t, st.Month.Cycles.Failed, 1)
	r = run(t, env, "status", "--month", "11-2026")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "YYYY-MM")

	// The failed cycle has no stored metrics: computed now, not stored.
	r = run(t, env, "metrics", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	m := decode[metricsOutput](t, r.stdout)
	require.Equal(t, "computed", m.Source)
	require.Equal(t, "schedule-b", m.CycleID)
	require.Equal(t, metrics.OutcomeFailed, m.Outcome)
	require.Equal(t, 10.0, *m.KPIs[metrics.ErrorRate].Value)
	require.LessOrEqual(t, *m.HealthScore, 50.0)

	// The old one shows what it stored.
	r = run(t, env, "metrics", "--cycle", "schedule-a", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	m = decode[metricsOutput](t, r.stdout)
	require.Equal(t, "stored", m.Source)
	require.Equal(t, 88.5, *m.HealthScore)
	require.Equal(t, 1.5, *m.KPIs[metrics.ErrorRate].Value)

	r = run(t, env, "metrics", "--cycle", "nope")
	require.Equal(t, ExitUsage, r.code)

	// Recompute stores the KPIs on the cycle and writes one valid EMF line.
	emfFile := filepath.Join(t.TempDir(), "emf.jsonl")
	env["SCENTMATCH_STAGE"] = "staging"
	r = run(t, env, "metrics", "--cycle", "schedule-b", "--recompute", "--metrics-file", emfFile, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	f, err := os.Open(emfFile)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines int
	for sc.Scan() {
		d, err := emf.Validate(sc.Bytes())
		require.NoError(t, err)
		require.Equal(t, "staging", d.Dimensions["Environment"])
		require.Equal(t, 10.0, d.Values["ErrorRate"])
		lines++
	}
	require.Equal(t, 1, lines)
	r = run(t, env, "metrics", "--cycle", "schedule-b", "--json")
	require.Equal(t, "stored", decode[metricsOutput](t, r.stdout).Source)

	// A dry run's figures are what would have changed: no EMF line.
	execSQL(t, url, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, dry_run) VALUES
		('manual-dry', 'manual', 'succeeded', $1::timestamptz - interval '40 days', $1::timestamptz - interval '40 days' + interval '1 hour', true)`, now)
	dryFile := filepath.Join(t.TempDir(), "dry.jsonl")
	r = run(t, env, "metrics", "--cycle", "manual-dry", "--recompute", "--metrics-file", dryFile, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "was a dry run: no EMF line written")
	_, err = os.Stat(dryFile)
	require.ErrorIs(t, err, os.ErrNotExist)

	// Health: the last cycle failed, the error rate (10%) is above 5%.
	r = run(t, env, "health", "--json")
	require.Equal(t, ExitFailure, r.code, r.stdout)
	h := decode[healthJSON](t, r.stdout)
	require.True(t, h.DatabaseConnection)
	require.False(t, h.Components["last_cycle"].Healthy)
	require.Contains(t, h.Components["last_cycle"].Detail, "failed (step import, TransientError)")
	require.False(t, h.Components["error_rate"].Healthy)
	require.True(t, h.Components["database"].Healthy)

	r = run(t, env, "health", "--json", "--component", "database", "--component", "upstream")
	require.Equal(t, ExitOK, r.code, r.stdout)
	h = decode[healthJSON](t, r.stdout)
	require.Len(t, h.Components, 2)
	r = run(t, env, "health", "--component", "bogus")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "last_cycle")

	r = run(t, env, "maintain", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	mr := decode[maintain.Result](t, r.stdout)
	require.Equal(t, int64(0), mr.Purged["cycles"], "two cycles are within cycles_keep")
	require.Contains(t, mr.Vacuumed, "cycles")

	r = run(t, env, "status", "--health")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stdout, "FAILED at step import (TransientError)")
	require.Contains(t, r.stdout, "UNHEALTHY")
}

// TestHealthWithTheDatabaseStopped stops a throwaway cluster: health
// answers with "database_connection": false and exits 1.
func TestHealthWithTheDatabaseStopped(t *testing.T) {
	t.Parallel()
	cl := dbtest.NewCluster(t)
	ctx := context.Background()
	require.NoError(t, cl.EnsureDatabase(ctx, "catalog"))
	env := map[string]string{"DATABASE_URL": cl.URL("catalog"), "SCENTMATCH_HOME": t.TempDir()}
	r := run(t, env, "db", "migrate")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "health", "--json")
	require.Equal(t, ExitOK, r.code, r.stdout)

	require.NoError(t, cl.Stop(ctx))
	r = run(t, env, "health", "--json")
	require.Equal(t, ExitFailure, r.code)
	h := decode[healthJSON](t, r.stdout)
	require.False(t, h.Healthy)
	require.False(t, h.DatabaseConnection)
	for _, n := range []string{"database", "migrations", "last_cycle", "error_rate"} {
		require.False(t, h.Components[n].Healthy, n)
	}
	require.True(t, h.Components["configuration"].Healthy)
	require.True(t, strings.Contains(h.Components["last_cycle"].Detail, "unreachable"))

	r = run(t, env, "status", "--json")
	require.Equal(t, ExitFailure, r.code)
	require.NotContains(t, r.stderr, "password")
}

// TestMetricsThenNotify runs the Metrics step on a fixture cycle, then
// notify --cycle: the weekly report reads the KPIs and health score the
// step stored.
func TestMetricsThenNotify(t *testing.T) {
	t.Parallel()
	env, url := opsEnv(t)
	ctx := context.Background()
	start := time.Now().UTC().Add(-20 * time.Minute)
	execSQL(t, url, `INSERT INTO cycles (id, trigger, status, started_at, lease_expires_at) VALUES ('schedule-x', 'schedule', 'running', $1, $2)`,
		start, start.Add(time.Hour))
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()
	cfg := settings.Default()
	step := &metrics.Step{Pool: pool, Config: cfg}
	rep, err := step.Handle(ctx, cycle.State{CycleID: "schedule-x", Trigger: "schedule", Results: map[string]json.RawMessage{
		"detect":   json.RawMessage(`{"candidate_count": 0, "crawl": {"requests": 10, "errors": 0}}`),
		"maintain": json.RawMessage(`{"max_rss_mb": 40}`)}})
	require.NoError(t, err)
	require.NotNil(t, rep.HealthScore)

	r := run(t, env, "notify", "--cycle", "schedule-x")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var subjects []string
	for s := range readOutbox(t, env["SCENTMATCH_HOME"]) {
		subjects = append(subjects, s)
	}
	require.Contains(t, strings.Join(subjects, "\n"), fmt.Sprintf("health %.1f", *rep.HealthScore))
}
