package steps_test

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/runner"
	"github.com/scentmatch/pipeline/internal/steps"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// lambdaBudget reads the connection budget a function's main gives
// steps.ForLambda (functions/<dir>/main.go), so the test holds the code
// as deployed.
func lambdaBudget(t *testing.T, dir string) int32 {
	t.Helper()
	src, err := os.ReadFile("../../functions/" + dir + "/main.go")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?:steps|notify)\.ForLambda\([^,]+,\s*(\d+)\)`).FindSubmatch(src)
	require.NotNil(t, m, "functions/%s/main.go calls steps.ForLambda(ctx, maxConns)", dir)
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return int32(n)
}

// TestCycleStaysWithinFourConnectionsPerFunction runs a cycle with each
// step wired as its Lambda function is (a pool of its own, the budget its
// main passes), each under an application_name of its own, while a
// sampler polls pg_stat_activity. No function ever holds more than 4
// connections, nor more than its budget.
func TestCycleStaysWithinFourConnectionsPerFunction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	dbName := u.Path[1:]
	home := t.TempDir()

	wire := func(name string, budget int32) *steps.Steps {
		q := u.Query()
		q.Set("application_name", postgres.ApplicationName+"-"+name)
		v := *u
		v.RawQuery = q.Encode()
		env := map[string]string{"DATABASE_URL": v.String(), "SCENTMATCH_HOME": home}
		e := &app.Env{Getenv: func(k string) string { return env[k] }, Logger: logging.Discard()}
		deps := &app.Lazy{Env: e, Pool: postgres.PoolOptions{MaxConns: budget}}
		t.Cleanup(deps.Close)
		return &steps.Steps{Env: e, Deps: deps, Bucket: bucket.Local(home), Open: steps.LocalOpener(logging.Discard(), nil)}
	}
	budgets := map[string]int32{}
	for _, fn := range []string{"detect", "import", "maintain", "metrics", "notify"} {
		budgets[fn] = lambdaBudget(t, fn)
	}
	detect, imp, maintain := wire("detect", budgets["detect"]), wire("import", budgets["import"]), wire("maintain", budgets["maintain"])
	metrics, notify := wire("metrics", budgets["metrics"]), wire("notify", budgets["notify"])
	fns := runner.Functions{
		definitions.DetectFunction:   runner.Handle(detect.Detect),
		definitions.ImportFunction:   runner.Handle(imp.Import),
		definitions.MaintainFunction: runner.Handle(maintain.Maintain),
		definitions.MetricsFunction:  runner.Handle(metrics.Metrics),
		definitions.NotifyFunction:   runner.Handle(notify.Notify),
	}
	// The runner stands for Step Functions: it checks the lease and reads
	// the summary, through a pool of one.
	orchestrator := wire("runner", 1)

	sampler, err := postgres.ConnectOne(ctx, dbtest.AdminURL(t), postgres.PoolOptions{})
	require.NoError(t, err)
	defer sampler.Close(ctx)
	peak := map[string]int{}
	samples := 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			rows, err := sampler.Query(ctx, `SELECT application_name, count(*)::int FROM pg_stat_activity
				WHERE datname = $1 AND application_name LIKE 'scentmatch%' GROUP BY 1`, dbName)
			if err == nil {
				for rows.Next() {
					var name string
					var n int
					if rows.Scan(&name, &n) == nil && n > peak[name] {
						peak[name] = n
					}
				}
				rows.Close()
				samples++
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	sum, err := orchestrator.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T1100", MaxFragrances: 20, Functions: fns,
		Options: (&bundle{}).options()})
	close(done)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, "succeeded", sum.Outcome, "%+v", sum)
	require.Positive(t, sum.NewFragrancesImported)

	t.Logf("peak connections per function over %d samples: %v (budgets %v)", samples, peak, budgets)
	require.Greater(t, samples, 10)
	for fn, budget := range budgets {
		name := postgres.ApplicationName + "-" + fn
		require.Positive(t, peak[name], "%s was seen connected", fn)
		require.LessOrEqual(t, peak[name], 4, "%s: at most 4 connections", fn)
		require.LessOrEqual(t, peak[name], int(budget), "%s: within its main's budget", fn)
	}
	require.LessOrEqual(t, peak[postgres.ApplicationName+"-runner"], 1)
}
