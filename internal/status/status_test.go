package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/status"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// now is a Monday morning; the default schedule next fires on Sunday
// 2026-12-06 at 02:00 UTC.
var now = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func reporter(t *testing.T) (*pgxpool.Pool, *status.Reporter) {
	t.Helper()
	pool := dbtest.Pool(t)
	return pool, &status.Reporter{Pool: pool, Config: settings.Default(), Now: func() time.Time { return now }}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func TestStatusOfAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	_, r := reporter(t)
	rep, err := r.Report(context.Background(), "")
	require.NoError(t, err)
	require.True(t, rep.MonitoringEnabled)
	require.Equal(t, status.SourceConfig, rep.MonitoringSource)
	require.True(t, rep.SchedulerRunning)
	require.Equal(t, "cron(0 2 ? * SUN *)", rep.Schedule)
	require.Equal(t, "UTC", rep.Timezone)
	require.Equal(t, time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC), *rep.NextRun)
	require.Nil(t, rep.LastCycle)
	require.Equal(t, status.Totals{}, rep.Totals)
	require.Contains(t, rep.Summary, "No cycle has run yet.")
	require.Contains(t, rep.Summary, "Monitoring is on; next cycle Sun 2026-12-06 02:00 UTC.")
}

func TestStatusAnswersEveryState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, r := reporter(t)

	// Succeeded.
	exec(t, pool, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, new_fragrances, health_score)
		VALUES ('schedule-20261129T0200', 'schedule', 'succeeded', '2026-11-29T02:00:00Z', '2026-11-29T02:12:30Z', 4, 92.5)`)
	rep, err := r.Report(ctx, "")
	require.NoError(t, err)
	lc := rep.LastCycle
	require.Equal(t, "schedule-20261129T0200", lc.ID)
	require.Equal(t, "succeeded", lc.Outcome)
	require.Equal(t, 4, lc.NewFragrancesImported)
	require.Equal(t, 12.5, lc.ExecutionTimeMinutes)
	require.Equal(t, 92.5, *lc.SystemHealthScore)
	require.Equal(t, int64(1), rep.Totals.Cycles)
	require.Contains(t, rep.Summary, "The last cycle, schedule-20261129T0200, succeeded: 4 new fragrance(s) in 12.5 minutes, health score 92.5/100.")

	// Running.
	exec(t, pool, `INSERT INTO cycles (id, trigger, status, started_at, lease_expires_at) VALUES ('manual-20261130T0750', 'manual', 'running', $1, $2)`,
		now.Add(-10*time.Minute), now.Add(80*time.Minute))
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.Equal(t, "running", rep.LastCycle.Outcome)
	require.Equal(t, 10.0, rep.LastCycle.ExecutionTimeMinutes)
	require.True(t, rep.SchedulerRunning)
	require.Contains(t, rep.Summary, "Cycle manual-20261130T0750 is running (started 2026-11-30 07:50 UTC, 10.0 minutes so far).")

	// Failed: the scheduler is not running either.
	exec(t, pool, `UPDATE cycles SET status = 'failed', finished_at = $1, failed_step = 'import', error_type = 'TransientError',
		error_message = 'connecting to postgres://app:hunter2@db/x: refused' WHERE id = 'manual-20261130T0750'`, now)
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.Equal(t, "failed", rep.LastCycle.Outcome)
	require.Equal(t, "import", *rep.LastCycle.FailedStep)
	require.NotContains(t, *rep.LastCycle.ErrorMessage, "hunter2")
	require.False(t, rep.SchedulerRunning)
	require.Contains(t, rep.Summary, "FAILED at step import (TransientError)")

	// Monitoring turned off: no next run.
	require.NoError(t, control.SetMonitoringEnabled(ctx, pool, false, "test", "fixture"))
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.False(t, rep.MonitoringEnabled)
	require.Equal(t, status.SourceSettings, rep.MonitoringSource)
	require.Nil(t, rep.NextRun)
	require.Contains(t, rep.Summary, "Monitoring is OFF")
}

func TestMonthSummary(t *testing.T) {
	t.Parallel()
	pool, r := reporter(t)
	exec(t, pool, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, new_fragrances, health_score, failed_step, error_type, kpis) VALUES
		('oct', 'schedule', 'succeeded', '2026-10-25T02:00:00Z', '2026-10-25T02:10:00Z', 9, 99, NULL, NULL, NULL),
		('n1', 'schedule', 'succeeded', '2026-11-01T02:00:00Z', '2026-11-01T02:10:00Z', 3, 80, NULL, NULL, '{"error_rate": {"value": 1, "status": "ok"}}'),
		('n2', 'schedule', 'failed', '2026-11-08T02:00:00Z', '2026-11-08T02:30:00Z', 0, 40, 'detect', 'UpstreamBlockedError', '{"error_rate": {"value": 9, "status": "error"}}'),
		('n3', 'schedule', 'succeeded', '2026-11-15T02:00:00Z', '2026-11-15T02:20:00Z', 5, 90, NULL, NULL, '{"error_rate": {"value": null, "status": "unknown"}}'),
		('n4', 'manual', 'running', '2026-11-30T07:00:00Z', NULL, 0, NULL, NULL, NULL, NULL)`)
	exec(t, pool, `INSERT INTO brands (name, match_key) VALUES ('Acme', 'acme')`)
	exec(t, pool, `INSERT INTO fragrances (brand_id, name, match_key, content_hash, created_at)
		SELECT (SELECT id FROM brands), 'F' || i, 'f' || i, 'h', CASE WHEN i <= 2 THEN '2026-10-10T00:00:00Z'::timestamptz ELSE '2026-11-10T00:00:00Z' END
		FROM generate_series(1, 5) i`)

	rep, err := r.Report(context.Background(), "2026-11")
	require.NoError(t, err)
	m := rep.Month
	require.NotNil(t, m)
	require.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), m.From)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), m.To)
	require.Equal(t, 4, m.Cycles.Total)
	require.Equal(t, 2, m.Cycles.Succeeded)
	require.Equal(t, 1, m.Cycles.Failed)
	require.Equal(t, 1, m.Cycles.Running)
	require.Equal(t, int64(8), m.NewFragrancesImported)
	require.Equal(t, 20.0, *m.ExecutionTimeMinutes.Avg) // 10, 30, 20
	require.Equal(t, 30.0, *m.ExecutionTimeMinutes.Max)
	require.Equal(t, 70.0, *m.HealthScore.Avg) // 80, 40, 90
	require.Equal(t, 40.0, *m.HealthScore.Min)
	require.Equal(t, 90.0, *m.HealthScore.Last)
	require.Equal(t, 2, m.KPIs["error_rate"].Count)
	require.Equal(t, 5.0, *m.KPIs["error_rate"].Avg)
	require.Equal(t, int64(3), m.FragrancesCreated)
	require.Equal(t, int64(5), m.CatalogAtEnd)
	require.Len(t, m.FailedCycles, 1)
	require.Equal(t, "n2", m.FailedCycles[0].ID)
	require.Equal(t, "detect", *m.FailedCycles[0].FailedStep)

	_, err = r.Report(context.Background(), "2026-13")
	var bad *status.BadMonthError
	require.ErrorAs(t, err, &bad)

	rep, err = r.Report(context.Background(), "2020-01")
	require.NoError(t, err)
	require.Zero(t, rep.Month.Cycles.Total)
	require.Nil(t, rep.Month.HealthScore.Avg)
	require.Empty(t, rep.Month.FailedCycles)
}

// fakeAWS serves EventBridge Scheduler's GetSchedule (REST-JSON) and Step
// Functions' DescribeStateMachine and ListExecutions (JSON 1.0), enough for
// the real SDK clients.
type fakeAWS struct {
	mu            sync.Mutex
	scheduleState string // "" = no such schedule
	expression    string
	timezone      string
	machine       bool
	lastExecution string // "" = none yet
	calls         []string
}

const machineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:scentmatch-prod-cycle"

func (f *fakeAWS) clients(t *testing.T) (*scheduler.Client, *sfn.Client) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			f.calls = append(f.calls, target)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			var in map[string]any
			require.NoError(t, json.Unmarshal(body, &in))
			require.Equal(t, machineARN, in["stateMachineArn"])
			switch target {
			case "AWSStepFunctions.DescribeStateMachine":
				if !f.machine {
					w.WriteHeader(400)
					fmt.Fprint(w, `{"__type": "com.amazonaws.states#StateMachineDoesNotExist", "message": "State Machine Does Not Exist"}`)
					return
				}
				fmt.Fprintf(w, `{"stateMachineArn": %q, "name": "scentmatch-prod-cycle", "status": "ACTIVE", "definition": "{}",
					"roleArn": "arn:aws:iam::123456789012:role/r", "type": "STANDARD", "creationDate": 1764381600}`, machineARN)
			case "AWSStepFunctions.ListExecutions":
				require.EqualValues(t, 1, in["maxResults"])
				if f.lastExecution == "" {
					fmt.Fprint(w, `{"executions": []}`)
					return
				}
				fmt.Fprintf(w, `{"executions": [{"executionArn": "arn:x", "stateMachineArn": %q, "name": "schedule-20261129T0200",
					"status": %q, "startDate": 1764381600}]}`, machineARN, f.lastExecution)
			default:
				w.WriteHeader(400)
			}
			return
		}
		f.calls = append(f.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/schedules/") || f.scheduleState == "" {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"Message": "Schedule scentmatch-prod-weekly-cycle does not exist."}`)
			return
		}
		fmt.Fprintf(w, `{"Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/scentmatch/scentmatch-prod-weekly-cycle",
			"Name": "scentmatch-prod-weekly-cycle", "GroupName": "scentmatch", "State": %q, "ScheduleExpression": %q,
			"ScheduleExpressionTimezone": %q, "FlexibleTimeWindow": {"Mode": "OFF"},
			"Target": {"Arn": %q, "RoleArn": "arn:aws:iam::123456789012:role/s"}}`, f.scheduleState, f.expression, f.timezone, machineARN)
	}))
	t.Cleanup(srv.Close)
	return scheduler.New(scheduler.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}),
		sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
}

func TestStatusInAWS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, r := reporter(t)
	f := &fakeAWS{scheduleState: "ENABLED", expression: "cron(0 3 ? * MON *)", timezone: "Europe/Paris", machine: true, lastExecution: "SUCCEEDED"}
	sc, sf := f.clients(t)
	r.Scheduler = status.AWS{Schedules: sc, StateMachine: sf, ScheduleName: "scentmatch-prod-weekly-cycle", ScheduleGroup: "scentmatch"}

	rep, err := r.Report(ctx, "")
	require.NoError(t, err)
	require.True(t, rep.MonitoringEnabled)
	require.Equal(t, status.SourceScheduler, rep.MonitoringSource)
	require.True(t, rep.SchedulerRunning, rep.SchedulerDetail)
	require.Equal(t, "cron(0 3 ? * MON *)", rep.Schedule)
	require.Equal(t, "Europe/Paris", rep.Timezone)
	// Monday 03:00 in Paris (UTC+1 in winter) is 02:00 UTC: next week's.
	require.Equal(t, time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC), *rep.NextRun)
	require.Contains(t, f.calls, "GET /schedules/scentmatch-prod-weekly-cycle?groupName=scentmatch")
	require.Contains(t, f.calls, "AWSStepFunctions.ListExecutions")

	f.lastExecution = "FAILED"
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.False(t, rep.SchedulerRunning)
	require.Contains(t, rep.SchedulerDetail, "schedule-20261129T0200, FAILED")

	f.lastExecution, f.scheduleState = "", "DISABLED"
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.False(t, rep.MonitoringEnabled)
	require.Nil(t, rep.NextRun)
	require.True(t, rep.SchedulerRunning)
	require.Contains(t, rep.SchedulerDetail, "no execution yet")

	f.scheduleState, f.machine = "ENABLED", false
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.False(t, rep.SchedulerRunning)
	require.Contains(t, rep.SchedulerDetail, "does not exist")

	f.scheduleState = ""
	rep, err = r.Report(ctx, "")
	require.NoError(t, err)
	require.False(t, rep.MonitoringEnabled)
	require.False(t, rep.SchedulerRunning)
	require.Contains(t, rep.SchedulerDetail, "schedule scentmatch-prod-weekly-cycle does not exist")
	require.Equal(t, "cron(0 2 ? * SUN *)", rep.Schedule, "the configuration's schedule when AWS has none")
}

func TestStatusFunction(t *testing.T) {
	t.Parallel()
	pool, r := reporter(t)
	h := &status.Handler{
		Reporter: func(context.Context) (*status.Reporter, error) { return r, nil },
		HealthInputs: func(context.Context) health.Inputs {
			return health.Inputs{Pool: pool, Config: r.Config, Only: []string{health.Database, health.LastCycle}}
		},
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(`{"month": "2026-11", "health": true}`))
	require.NoError(t, err)
	var rep status.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	require.True(t, rep.MonitoringEnabled)
	require.NotNil(t, rep.Month)
	require.NotNil(t, rep.Health)
	require.True(t, rep.Health.Healthy)
	require.True(t, rep.Health.DatabaseConnection)

	_, err = lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(`{"month": "November"}`))
	require.ErrorContains(t, err, "want YYYY-MM")

	// The database is gone: the health report still answers.
	down := &status.Handler{
		Reporter: func(context.Context) (*status.Reporter, error) {
			return nil, fmt.Errorf("connecting to postgres://app:xxxxx@db/x: connection refused")
		},
		HealthInputs: func(context.Context) health.Inputs {
			return health.Inputs{Connect: func(context.Context) (*pgxpool.Pool, error) { return nil, fmt.Errorf("connection refused") },
				Only: []string{health.Database}}
		},
	}
	out, err = lambda.NewHandler(down.Handle).Invoke(context.Background(), []byte(`{"health": true}`))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(out, &rep))
	require.Contains(t, rep.Error, "connection refused")
	require.False(t, rep.Health.DatabaseConnection)
	require.False(t, rep.Health.Healthy)
	_, err = lambda.NewHandler(down.Handle).Invoke(context.Background(), []byte(`{}`))
	require.Error(t, err)
}

func TestSampleEvents(t *testing.T) {
	t.Parallel()
	pool, r := reporter(t)
	h := &status.Handler{
		Reporter:     func(context.Context) (*status.Reporter, error) { return r, nil },
		HealthInputs: func(context.Context) health.Inputs { return health.Inputs{Pool: pool, Only: []string{health.Database}} },
	}
	for file, withMonth := range map[string]bool{"../../events/status.json": false, "../../events/status-month-health.json": true} {
		payload, err := os.ReadFile(file)
		require.NoError(t, err)
		out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
		require.NoError(t, err, file)
		var rep status.Report
		require.NoError(t, json.Unmarshal(out, &rep))
		require.Equal(t, withMonth, rep.Month != nil, file)
		require.Equal(t, withMonth, rep.Health != nil, file)
	}
}

// TestStatusShowsTheCycleWarnings: a cycle that succeeded with detect's
// "no source enabled" warning (a deployment with the shipped defaults)
// shows it in last_cycle.warnings and in the summary.
func TestStatusShowsTheCycleWarnings(t *testing.T) {
	t.Parallel()
	pool, r := reporter(t)
	exec(t, pool, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, health_score, step_results)
		VALUES ('schedule-20261129T0200', 'schedule', 'succeeded', '2026-11-29T02:00:00Z', '2026-11-29T02:01:00Z', 90,
		'{"detect": {"candidate_count": 0, "warnings": ["no source enabled: scraping_ethics.json enables none"]}}')`)
	rep, err := r.Report(context.Background(), "")
	require.NoError(t, err)
	require.Equal(t, "succeeded", rep.LastCycle.Outcome)
	require.Equal(t, []string{"no source enabled: scraping_ethics.json enables none"}, rep.LastCycle.Warnings)
	require.Contains(t, rep.Summary, "succeeded: 0 new fragrance(s)")
	require.Contains(t, rep.Summary, "Warning: no source enabled: scraping_ethics.json enables none.")
}
