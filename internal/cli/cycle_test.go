package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/mototest"
	"github.com/scentmatch/pipeline/internal/postgres"
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

	// metrics shows what the Metrics step stored, all of it: the figures
	// only step_results.metrics holds come back as they were stored.
	r = run(t, env, "metrics", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	shown := decode[metricsOutput](t, r.stdout)
	require.Equal(t, "stored", shown.Source)
	require.Equal(t, "manual-20261129T0900", shown.CycleID)
	pool, err := postgres.Connect(context.Background(), env["DATABASE_URL"], postgres.PoolOptions{MaxConns: 1})
	require.NoError(t, err)
	defer pool.Close()
	var stored metrics.Report
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT step_results->'metrics' FROM cycles WHERE id = $1`,
		"manual-20261129T0900").Scan(&stored))
	require.Equal(t, int64(3), shown.CatalogSize, "the three fragrances the cycle imported")
	require.Equal(t, stored.CatalogSize, shown.CatalogSize)
	require.Positive(t, shown.MaxRSSMB)
	require.Equal(t, stored.MaxRSSMB, shown.MaxRSSMB)
	require.False(t, shown.ComputedAt.IsZero())
	require.True(t, stored.ComputedAt.Equal(shown.ComputedAt))
	require.NotNil(t, shown.Crawl)
	require.Equal(t, *stored.Crawl, *shown.Crawl)
	require.Equal(t, *sum.SystemHealthScore, *shown.HealthScore)

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

// TestCycleRemoteTakesTheStateMachineFromTheEnvironment: docs/operations.md
// tells operators to run `scentmatch cycle --remote` with the stack's
// STATE_MACHINE_ARN exported (as `scentmatch stop` reads it), so --remote
// without --state-machine starts an execution of that state machine, here
// on moto's Step Functions (its executions run until stopped).
func TestCycleRemoteTakesTheStateMachineFromTheEnvironment(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sf := sfn.NewFromConfig(mototest.Config(t)) // the binary's moto: a state machine of this test's own
	sm, err := sf.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(mototest.Name(t)),
		Definition: aws.String(`{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}`),
		RoleArn:    aws.String("arn:aws:iam::" + mototest.AccountID + ":role/scentmatch-dev-cycle"),
	})
	require.NoError(t, err)
	arn := aws.ToString(sm.StateMachineArn)

	env := map[string]string{"SCENTMATCH_HOME": t.TempDir(), "AWS_REGION": mototest.Region, "AWS_ENDPOINT_URL": mototest.URL(t),
		"AWS_ACCESS_KEY_ID": mototest.AccessKey, "AWS_SECRET_ACCESS_KEY": mototest.SecretKey, "STATE_MACHINE_ARN": arn}
	done := make(chan result, 1)
	go func() { done <- run(t, env, "cycle", "--remote", "--name", "manual-from-env", "--log-level", "warn") }()

	var execARN string
	require.Eventually(t, func() bool {
		l, err := sf.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)})
		if err != nil || len(l.Executions) == 0 {
			return false
		}
		execARN = aws.ToString(l.Executions[0].ExecutionArn)
		return aws.ToString(l.Executions[0].Name) == "manual-from-env"
	}, 30*time.Second, 100*time.Millisecond, "cycle --remote started no execution of $STATE_MACHINE_ARN")
	_, err = sf.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(execARN), Error: aws.String("Test")})
	require.NoError(t, err)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("cycle --remote did not end after its execution was stopped")
	}
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "following "+execARN)
	require.Equal(t, "ABORTED", decode[struct {
		ExecutionStatus string `json:"execution_status"`
	}](t, r.stdout).ExecutionStatus)

	// Neither the flag nor the variable: exit 2, naming both.
	delete(env, "STATE_MACHINE_ARN")
	r = run(t, env, "cycle", "--remote")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--state-machine ARN or $STATE_MACHINE_ARN")
}

// TestCycleWhoseFetchesAllFailedSaysSo: a request budget the detect crawl
// spends entirely leaves the import's fetch nothing, so every candidate
// fetch fails; the cycle must not claim the catalog has everything.
func TestCycleWhoseFetchesAllFailedSaysSo(t *testing.T) {
	t.Parallel()
	dir := fastSandbox(t)
	path := filepath.Join(dir, "scraping_ethics.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	tight := strings.Replace(string(data), `"max_requests_per_cycle": 200`, `"max_requests_per_cycle": 5`, 1)
	require.NotEqual(t, string(data), tight)
	require.NoError(t, os.WriteFile(path, []byte(tight), 0o644))
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": t.TempDir(), "SCENTMATCH_CONFIG_DIR": dir}

	r := run(t, env, "cycle", "--max-fragrances", "3", "--name", "manual-20261129T0930", "--log-level", "warn")
	require.Equal(t, ExitOK, r.code, r.stderr)
	sum := decode[struct {
		NewFragrancesImported int `json:"new_fragrances_imported"`
		Candidates            int `json:"candidates"`
		FetchErrorsCount      int `json:"fetch_errors_count"`
	}](t, r.stdout)
	require.Zero(t, sum.NewFragrancesImported)
	require.Positive(t, sum.Candidates)
	require.Equal(t, sum.Candidates, sum.FetchErrorsCount)
	require.Contains(t, r.stderr, "every candidate fetch failed")
	require.NotContains(t, r.stderr, "already has what the upstream offers")
}
