package control_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/dbtest"
)

func awsConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1}
}

type request struct {
	Method, Path, Query, Target string
	Body                        map[string]any
}

// recorder keeps every request a fake AWS endpoint receives.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (rec *recorder) add(r *http.Request) request {
	body, _ := io.ReadAll(r.Body)
	req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Target: r.Header.Get("X-Amz-Target")}
	if len(body) > 0 {
		_ = json.Unmarshal(body, &req.Body)
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, req)
	rec.mu.Unlock()
	return req
}

func (rec *recorder) all() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.reqs...)
}

// schedulerServer serves one schedule, state as given, and applies updates.
func schedulerServer(t *testing.T, state string, startDate float64) (*httptest.Server, *recorder) {
	rec := &recorder{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := rec.add(r)
		w.Header().Set("Content-Type", "application/json")
		if req.Path != "/schedules/scentmatch-prod-weekly" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"Message": "Schedule not found"}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			_ = json.NewEncoder(w).Encode(map[string]any{
				"Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/ops/scentmatch-prod-weekly", "Name": "scentmatch-prod-weekly",
				"GroupName": "ops", "State": state, "ScheduleExpression": "cron(0 2 ? * SUN *)", "ScheduleExpressionTimezone": "UTC",
				"Description": "weekly cycle", "FlexibleTimeWindow": map[string]any{"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
				"StartDate": startDate,
				"Target": map[string]any{"Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:cycle", "RoleArn": "arn:aws:iam::123456789012:role/sched",
					"Input": `{"trigger":"schedule"}`, "RetryPolicy": map[string]any{"MaximumRetryAttempts": 0}},
			})
		case http.MethodPut:
			state, _ = req.Body["State"].(string)
			_, _ = io.WriteString(w, `{"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/ops/scentmatch-prod-weekly"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func TestScheduleDisableSendsTheWholeScheduleBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	past := float64(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	srv, rec := schedulerServer(t, "ENABLED", past)
	client := scheduler.NewFromConfig(awsConfig(), func(o *scheduler.Options) { o.BaseEndpoint = aws.String(srv.URL) })

	changed, err := control.SetScheduleState(ctx, client, "ops", "scentmatch-prod-weekly", false, now)
	require.NoError(t, err)
	require.True(t, changed)
	reqs := rec.all()
	require.Len(t, reqs, 2)
	require.Equal(t, "GET", reqs[0].Method)
	require.Equal(t, "groupName=ops", reqs[0].Query)
	put := reqs[1]
	require.Equal(t, "PUT", put.Method)
	require.Equal(t, "/schedules/scentmatch-prod-weekly", put.Path)
	require.Equal(t, "DISABLED", put.Body["State"])
	require.Equal(t, "ops", put.Body["GroupName"])
	require.Equal(t, "cron(0 2 ? * SUN *)", put.Body["ScheduleExpression"])
	require.Equal(t, "UTC", put.Body["ScheduleExpressionTimezone"])
	require.Equal(t, "weekly cycle", put.Body["Description"])
	require.Equal(t, map[string]any{"Mode": "FLEXIBLE", "MaximumWindowInMinutes": float64(15)}, put.Body["FlexibleTimeWindow"])
	target := put.Body["Target"].(map[string]any)
	require.Equal(t, "arn:aws:states:us-east-1:123456789012:stateMachine:cycle", target["Arn"])
	require.Equal(t, "arn:aws:iam::123456789012:role/sched", target["RoleArn"])
	require.Equal(t, `{"trigger":"schedule"}`, target["Input"])
	require.NotContains(t, put.Body, "StartDate", "a start date already past is not sent back")

	// Already disabled: one read, no update.
	changed, err = control.SetScheduleState(ctx, client, "ops", "scentmatch-prod-weekly", false, now)
	require.NoError(t, err)
	require.False(t, changed)
	require.Len(t, rec.all(), 3)

	// Enabling keeps a future start date.
	future := float64(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix())
	srv2, rec2 := schedulerServer(t, "DISABLED", future)
	client2 := scheduler.NewFromConfig(awsConfig(), func(o *scheduler.Options) { o.BaseEndpoint = aws.String(srv2.URL) })
	changed, err = control.SetScheduleState(ctx, client2, "ops", "scentmatch-prod-weekly", true, now)
	require.NoError(t, err)
	require.True(t, changed)
	put = rec2.all()[1]
	require.Equal(t, "ENABLED", put.Body["State"])
	require.Equal(t, future, put.Body["StartDate"])

	// A missing schedule is an error naming it.
	_, err = control.SetScheduleState(ctx, client, "ops", "nope", false, now)
	require.ErrorContains(t, err, "ops/nope")
}

// sfnServer lists two pages of running executions and stops them.
func sfnServer(t *testing.T, failStop string) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := rec.add(r)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch req.Target {
		case "AWSStepFunctions.ListExecutions":
			exec := func(name string) map[string]any {
				return map[string]any{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:cycle:" + name, "name": name,
					"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:cycle", "status": "RUNNING", "startDate": 1.7e9}
			}
			if req.Body["nextToken"] == nil {
				_ = json.NewEncoder(w).Encode(map[string]any{"executions": []any{exec("schedule-20260308T0200")}, "nextToken": "page2"})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"executions": []any{exec("manual-20260308T0930")}})
		case "AWSStepFunctions.StopExecution":
			if strings.HasSuffix(req.Body["executionArn"].(string), failStop) && failStop != "" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type": "ExecutionDoesNotExist", "message": "gone"}`)
				return
			}
			_, _ = io.WriteString(w, `{"stopDate": 1.7e9}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func TestStopRunningExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, rec := sfnServer(t, "")
	client := sfn.NewFromConfig(awsConfig(), func(o *sfn.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	arn := "arn:aws:states:us-east-1:123456789012:stateMachine:cycle"
	stopped, err := control.StopRunningExecutions(ctx, client, arn, "scentmatch stop by ops: drill")
	require.NoError(t, err)
	require.Equal(t, []string{
		"arn:aws:states:us-east-1:123456789012:execution:cycle:schedule-20260308T0200",
		"arn:aws:states:us-east-1:123456789012:execution:cycle:manual-20260308T0930",
	}, stopped)
	reqs := rec.all()
	require.Len(t, reqs, 4)
	require.Equal(t, "AWSStepFunctions.ListExecutions", reqs[0].Target)
	require.Equal(t, arn, reqs[0].Body["stateMachineArn"])
	require.Equal(t, "RUNNING", reqs[0].Body["statusFilter"])
	require.Equal(t, "AWSStepFunctions.StopExecution", reqs[1].Target)
	require.Equal(t, "EmergencyStop", reqs[1].Body["error"])
	require.Equal(t, "scentmatch stop by ops: drill", reqs[1].Body["cause"])
	require.Equal(t, "page2", reqs[2].Body["nextToken"])

	// One stop failing does not keep the other from being stopped.
	srv2, _ := sfnServer(t, "schedule-20260308T0200")
	client2 := sfn.NewFromConfig(awsConfig(), func(o *sfn.Options) { o.BaseEndpoint = aws.String(srv2.URL) })
	stopped, err = control.StopRunningExecutions(ctx, client2, arn, "x")
	require.ErrorContains(t, err, "schedule-20260308T0200")
	require.Len(t, stopped, 1)
}

func TestOperatorStopInAWS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	schedSrv, schedRec := schedulerServer(t, "ENABLED", 0)
	sfnSrv, sfnRec := sfnServer(t, "")
	op := &control.Operator{
		DB:              pool,
		Scheduler:       scheduler.NewFromConfig(awsConfig(), func(o *scheduler.Options) { o.BaseEndpoint = aws.String(schedSrv.URL) }),
		ScheduleGroup:   "ops",
		ScheduleName:    "scentmatch-prod-weekly",
		Executions:      sfn.NewFromConfig(awsConfig(), func(o *sfn.Options) { o.BaseEndpoint = aws.String(sfnSrv.URL) }),
		StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:cycle",
		By:              "ops",
	}
	r := op.Stop(ctx, "bad data upstream")
	require.True(t, r.OK(), "%+v", r)
	require.True(t, r.Schedule.Changed)
	require.Len(t, r.Stopped, 2)
	require.Equal(t, "DISABLED", schedRec.all()[1].Body["State"])
	on, err := control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.False(t, on)

	r = op.Start(ctx, "")
	require.True(t, r.OK(), "%+v", r)
	require.Nil(t, r.Executions, "start does not touch executions")
	require.Equal(t, "ENABLED", schedRec.all()[3].Body["State"])
	require.Len(t, sfnRec.all(), 4, "start sends nothing to Step Functions")
}
