package cli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
)

func TestCycleCommandRunsAFullCycleThenStatusShowsIt(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": t.TempDir()}
	r := run(t, env, "cycle", "--max-fragrances", "3", "--name", "manual-20261129T0900", "--log-level", "warn")
	require.Equal(t, ExitOK, r.code, r.stderr)
	for _, state := range []string{"-> Detect", "<- Detect", "-> Import", "-> Maintain", "-> Metrics", "-> Notify", "<- Done"} {
		require.Contains(t, r.stderr, state)
	}
	type summary struct {
		CycleID               string   `json:"cycle_id"`
		Outcome               string   `json:"outcome"`
		NewFragrancesImported int      `json:"new_fragrances_imported"`
		SystemHealthScore     *float64 `json:"system_health_score"`
		Messages              []struct {
			Kind      string `json:"kind"`
			MessageID string `json:"message_id"`
		} `json:"messages"`
	}
	sum := decode[summary](t, r.stdout)
	require.Equal(t, "manual-20261129T0900", sum.CycleID)
	require.Equal(t, "succeeded", sum.Outcome)
	require.Equal(t, 3, sum.NewFragrancesImported)
	require.NotNil(t, sum.SystemHealthScore)
	require.NotEmpty(t, sum.Messages)

	r = run(t, env, "status", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	type status struct {
		LastCycle struct {
			ID                string   `json:"id"`
			Outcome           string   `json:"outcome"`
			SystemHealthScore *float64 `json:"system_health_score"`
		} `json:"last_cycle"`
	}
	st := decode[status](t, r.stdout)
	require.Equal(t, "manual-20261129T0900", st.LastCycle.ID)
	require.Equal(t, "succeeded", st.LastCycle.Outcome)
	require.Equal(t, *sum.SystemHealthScore, *st.LastCycle.SystemHealthScore)

	// A stopped pipeline refuses a manual cycle unless --force.
	r = run(t, env, "stop", "--reason", "test")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "cycle", "--name", "manual-20261129T1000")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stderr, "monitoring is stopped")
	r = run(t, env, "cycle", "--name", "manual-20261129T1000", "--force", "--dry-run", "--log-level", "warn")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.True(t, decode[struct {
		DryRun bool `json:"dry_run"`
	}](t, r.stdout).DryRun)

	r = run(t, env, "cycle", "--max-fragrances", "-1")
	require.Equal(t, ExitUsage, r.code)
	r = run(t, env, "cycle", "--remote")
	require.Equal(t, ExitUsage, r.code)
}
