package steps_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/runner"
	"github.com/scentmatch/pipeline/internal/statemachine"
	"github.com/scentmatch/pipeline/internal/steps"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type bundle struct {
	home  string
	steps *steps.Steps
	store *cycle.Store
	// retries records the pauses the executor would have taken.
	mu     sync.Mutex
	events []statemachine.Event
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupEnv(t, nil)
}

// setupEnv is setup with more environment (SCENTMATCH_CONFIG_DIR).
func setupEnv(t *testing.T, extra map[string]string) *bundle {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": home}
	for k, v := range extra {
		env[k] = v
	}
	e := &app.Env{Getenv: func(k string) string { return env[k] }, Logger: logging.Discard()}
	deps := &app.Lazy{Env: e, Pool: postgres.PoolOptions{MaxConns: 4}}
	t.Cleanup(deps.Close)
	s := &steps.Steps{Env: e, Deps: deps, Bucket: bucket.Local(home), Open: steps.LocalOpener(logging.Discard(), nil)}
	d, err := deps.Get(context.Background())
	require.NoError(t, err)
	return &bundle{home: home, steps: s, store: &cycle.Store{DB: d.Pool}}
}

// options skip the real pauses between retries and record every event.
func (b *bundle) options() []statemachine.Option {
	return []statemachine.Option{
		statemachine.WithSleeper(func(context.Context, time.Duration) error { return nil }),
		statemachine.OnEvent(func(e statemachine.Event) { b.mu.Lock(); b.events = append(b.events, e); b.mu.Unlock() }),
	}
}

func (b *bundle) outbox(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(b.home, "outbox", "*.eml"))
	require.NoError(t, err)
	return files
}

func TestCycleSucceedsOnTheSandboxUpstream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0200", MaxFragrances: 4, Options: b.options()})
	require.NoError(t, err)
	require.Equal(t, "succeeded", sum.Outcome, "%+v", sum)
	require.Equal(t, 4, sum.NewFragrancesImported)
	require.NotNil(t, sum.SystemHealthScore)
	kinds := map[string]bool{}
	for _, m := range sum.Messages {
		kinds[m.Kind] = true
		require.FileExists(t, m.MessageID, "locally a message id is its outbox file")
	}
	require.True(t, kinds["weekly_report"], "%+v", sum.Messages)
	for _, m := range sum.Messages {
		if m.Kind == "weekly_report" {
			body, err := os.ReadFile(m.MessageID)
			require.NoError(t, err)
			// The import's counts, nested in its result, reach the report.
			require.Regexp(t, `inserted +4\b`, string(body))
			require.Regexp(t, `new_fragrances +4\b`, string(body))
			require.Regexp(t, `fetch_errors +0\b`, string(body))
		}
	}
	// The first cycle on a fresh database (what make run does on a fresh
	// clone): KPIs like coverage_completeness start past their thresholds,
	// which the weekly report shows; no component is unhealthy, so no
	// health-failure alert.
	require.False(t, kinds["health_failure"], "a first healthy cycle sends no health-failure alert: %+v", sum.Messages)

	rec, err := b.store.Get(ctx, sum.CycleID)
	require.NoError(t, err)
	for _, step := range []string{"detect", "import", "maintain", "metrics", "notify"} {
		require.Contains(t, rec.StepResults, step)
	}

	// Starting the same execution again (a double click within the
	// minute) is the same cycle: nothing new is imported or sent.
	before := len(b.outbox(t))
	again, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0200", MaxFragrances: 4, Options: b.options()})
	require.NoError(t, err)
	require.Equal(t, sum.NewFragrancesImported, again.NewFragrancesImported)
	require.Len(t, b.outbox(t), before)
}

// TestShippedDefaultsInADeploymentStillCycle runs the whole cycle as a
// default deploy does: the shipped configuration (its only source the
// local sandbox) with the deployment's source opener, which cannot start
// the sandbox. Detect warns "no source enabled", import is skipped, and
// the cycle succeeds with the warning in the weekly report.
func TestShippedDefaultsInADeploymentStillCycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.steps.Open = detect.OpenSource
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "schedule-20261129T0200", Options: b.options()})
	require.NoError(t, err)
	require.Equal(t, "succeeded", sum.Outcome, "%+v", sum)
	require.Zero(t, sum.NewFragrancesImported)

	rec, err := b.store.Get(ctx, sum.CycleID)
	require.NoError(t, err)
	require.NotContains(t, rec.StepResults, "import", "no candidates: the Choice skips import")
	var det detect.Result
	require.NoError(t, json.Unmarshal(rec.StepResults["detect"], &det))
	require.Len(t, det.Warnings, 1)
	require.True(t, strings.HasPrefix(det.Warnings[0], detect.NoSourceEnabled), det.Warnings[0])

	var report string
	for _, m := range sum.Messages {
		if m.Kind == "weekly_report" {
			b, err := os.ReadFile(m.MessageID)
			require.NoError(t, err)
			report = string(b)
		}
	}
	require.Contains(t, report, "WARNINGS", "the weekly report shows the warning")
	require.Contains(t, report, "no source enabled")
}

func TestFailingStepIsCaughtRecordedAndAlerted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	fns := b.steps.Functions()
	fns[definitions.MaintainFunction] = runner.Handle(func(ctx context.Context, st cycle.State) (any, error) {
		return nil, &cycle.BadInputError{Err: errors.New("injected: the maintenance step cannot go on")}
	})
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0300", MaxFragrances: 2, Options: b.options(), Functions: fns})
	require.NoError(t, err)
	require.Equal(t, "failed", sum.Outcome)
	require.Equal(t, string(statemachine.StatusFailed), sum.ExecutionStatus)
	require.Equal(t, "BadInputError", sum.Error)
	require.Equal(t, "maintain", sum.FailedStep)

	var alerts []string
	for _, m := range sum.Messages {
		if m.Kind == "error" {
			alerts = append(alerts, m.MessageID)
		}
	}
	require.Len(t, alerts, 1, "exactly one error alert, after the catch")
	body, err := os.ReadFile(alerts[0])
	require.NoError(t, err)
	require.Contains(t, string(body), "injected: the maintenance step cannot go on")

	var states []string
	for _, e := range b.events {
		if e.Type == statemachine.StateEntered && e.Scope == "" {
			states = append(states, e.State)
		}
	}
	require.Equal(t, []string{"Init", "MergeInput", "Detect", "HasCandidates", "Import", "Maintain", "RecordFailure", "AlertFailure", "Failed"}, states)
}

// TestFailureAlertedWhenRecordingItFails: the step fails and so does
// RecordFailure (the metrics function on the Catch path). Its Catch puts
// the error at $.record_error; the notify function must still take the
// state, mark the cycle failed at the step that failed, and send the one
// error alert, saying the failure was not recorded.
func TestFailureAlertedWhenRecordingItFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	fns := b.steps.Functions()
	fns[definitions.MaintainFunction] = runner.Handle(func(ctx context.Context, st cycle.State) (any, error) {
		return nil, &cycle.BadInputError{Err: errors.New("injected: the maintenance step cannot go on")}
	})
	metrics := fns[definitions.MetricsFunction]
	fns[definitions.MetricsFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		var st cycle.State
		require.NoError(t, json.Unmarshal(in, &st))
		if st.Error != nil {
			return nil, &cycle.BadInputError{Err: errors.New("injected: the failure cannot be recorded")}
		}
		return metrics(ctx, in)
	}
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0310", MaxFragrances: 2, Options: b.options(), Functions: fns})
	require.NoError(t, err)
	require.Equal(t, "failed", sum.Outcome)
	require.Equal(t, string(statemachine.StatusFailed), sum.ExecutionStatus)
	var states []string
	for _, e := range b.events {
		if e.Type == statemachine.StateEntered && e.Scope == "" {
			states = append(states, e.State)
		}
	}
	require.Equal(t, []string{"Init", "MergeInput", "Detect", "HasCandidates", "Import", "Maintain", "RecordFailure", "AlertFailure", "Failed"}, states)

	rec, err := b.store.Get(ctx, sum.CycleID)
	require.NoError(t, err)
	require.Equal(t, cycle.StatusFailed, rec.Status, "notify marks the cycle RecordFailure could not")
	require.NotNil(t, rec.FailedStep)
	require.Equal(t, "maintain", *rec.FailedStep)
	require.NotNil(t, rec.ErrorType)
	require.Equal(t, "BadInputError", *rec.ErrorType)

	var alerts []string
	for _, m := range sum.Messages {
		require.Equal(t, "error", m.Kind, "only the error alert on the Catch path")
		alerts = append(alerts, m.MessageID)
	}
	require.Len(t, alerts, 1, "exactly one error alert, although RecordFailure failed")
	body, err := os.ReadFile(alerts[0])
	require.NoError(t, err)
	require.Contains(t, string(body), "injected: the maintenance step cannot go on")
	require.Contains(t, string(body), "injected: the failure cannot be recorded")
	require.Contains(t, string(body), "NOT RECORDED")
}

// TestAbortedByTheStopEndsStopped: in AWS, scentmatch stop clears the
// flag and then aborts the running execution; the EventBridge rule sends
// notify the cycle id with Execution.ABORTED. The cycle ends stopped and
// nothing is sent, as when the cycle sees the flag between states. An
// execution aborted while the pipeline runs is a failure, alerted.
func TestAbortedByTheStopEndsStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, stop := range []bool{true, false} {
		b := setup(t)
		d, err := b.steps.Deps.Get(ctx)
		require.NoError(t, err)
		id := "manual-20261129T0320"
		_, err = b.store.Begin(ctx, cycle.State{CycleID: id, Trigger: "manual", MaxFragrances: 1})
		require.NoError(t, err)
		if stop {
			require.NoError(t, control.SetMonitoringEnabled(ctx, d.Pool, false, "test", "the test stops the pipeline"))
		}
		// What the rule's InputTemplate sends (template.yaml, CycleEndedWithoutCatchRule).
		event := cycle.State{CycleID: id, Trigger: "schedule", Error: &cycle.StepError{Error: "Execution.ABORTED", Cause: "the execution ended ABORTED without reaching its Catch"}}
		res, err := b.steps.Notify(ctx, event)
		require.NoError(t, err)
		rec, err := b.store.Get(ctx, id)
		require.NoError(t, err)
		if stop {
			require.Equal(t, cycle.StatusStopped, rec.Status)
			require.Empty(t, res.Sent)
			require.Len(t, res.Skipped, 5)
			require.Contains(t, res.Skipped[0].Reason, "stopped by an operator")
			require.Empty(t, b.outbox(t), "nothing is sent for a stop")
			continue
		}
		require.Equal(t, cycle.StatusFailed, rec.Status)
		require.NotNil(t, rec.FailedStep)
		require.Equal(t, "execution", *rec.FailedStep)
		require.Len(t, res.Sent, 1)
		require.Equal(t, "error", string(res.Sent[0].Kind))
	}
}

// TestFailureAlertHidesPasswords: a step's error that quotes a
// connection string reaches neither the cycle row nor the error alert
// with its password.
func TestFailureAlertHidesPasswords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	fns := b.steps.Functions()
	fns[definitions.MaintainFunction] = runner.Handle(func(ctx context.Context, st cycle.State) (any, error) {
		return nil, &cycle.BadInputError{Err: errors.New("injected: cannot reach postgres://admin:hunter2@db.example.com:5432/x")}
	})
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0330", MaxFragrances: 1, Options: b.options(), Functions: fns})
	require.NoError(t, err)
	require.Equal(t, "failed", sum.Outcome)
	rec, err := b.store.Get(ctx, sum.CycleID)
	require.NoError(t, err)
	require.NotNil(t, rec.ErrorMessage)
	require.Contains(t, *rec.ErrorMessage, "admin:xxxxx@db.example.com")
	require.NotContains(t, *rec.ErrorMessage, "hunter2")
	require.Len(t, sum.Messages, 1)
	body, err := os.ReadFile(sum.Messages[0].MessageID)
	require.NoError(t, err)
	require.Contains(t, string(body), "admin:xxxxx@db.example.com")
	require.NotContains(t, string(body), "hunter2")
}

func TestTransientFailureIsAbsorbedByRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	fns := b.steps.Functions()
	real := fns[definitions.ImportFunction]
	calls := 0
	fns[definitions.ImportFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		calls++
		if calls == 1 {
			return nil, &cycle.TransientError{Err: errors.New("injected: connection reset by peer")}
		}
		return real(ctx, in)
	}
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0400", MaxFragrances: 2, Options: b.options(), Functions: fns})
	require.NoError(t, err)
	require.Equal(t, "succeeded", sum.Outcome)
	require.Equal(t, 2, sum.NewFragrancesImported)
	require.Equal(t, 2, calls)
	retried := 0
	for _, e := range b.events {
		if e.Type == statemachine.StateRetried {
			retried++
			require.Equal(t, "Import", e.State)
			require.Equal(t, "TransientError", e.Error)
		}
	}
	require.Equal(t, 1, retried)
}

func TestSecondCycleIsRefusedAndTouchesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	_, err := b.store.Begin(ctx, cycle.State{CycleID: "schedule-20261129T0200", Trigger: "schedule"})
	require.NoError(t, err)
	_, err = b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0210", Options: b.options()})
	var running *cycle.AlreadyRunningError
	require.ErrorAs(t, err, &running)
	require.Contains(t, err.Error(), "cycle already running (schedule-20261129T0200")
	_, err = b.store.Get(ctx, "manual-20261129T0210")
	require.ErrorIs(t, err, cycle.ErrNotFound)
	require.Empty(t, b.outbox(t))

	// In AWS the refusal comes from the Detect step's lease: the execution
	// ends in AlreadyRunning, with no failure recorded and no alert.
	fns := b.steps.Functions()
	m, err := runner.Cycle(fns, b.options()...)
	require.NoError(t, err)
	exec, err := m.Start(ctx, statemachine.ExecutionOptions{Name: "manual-20261129T0220", Input: json.RawMessage(`{"trigger": "manual"}`)})
	require.NoError(t, err)
	require.Equal(t, statemachine.StatusFailed, exec.Status)
	require.Equal(t, "AlreadyRunningError", exec.Error)
	_, err = b.store.Get(ctx, "manual-20261129T0220")
	require.ErrorIs(t, err, cycle.ErrNotFound)
	require.Empty(t, b.outbox(t))
}

func TestDatasetImportThroughTheDistributedMap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	var lines []string
	lines = append(lines, "brand,name,concentration,notes")
	for i := 0; i < 25; i++ {
		lines = append(lines, "Acme,Dataset Scent "+strings.Repeat("I", i%5+1)+" "+string(rune('A'+i))+",EDP,Rose|Oud")
	}
	lines = append(lines, ",Missing Brand,EDT,Musk")
	key := "imports/drop.csv"
	path := filepath.Join(b.home, "bucket", key)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	b.steps.ChunkRecords = 10
	m, err := runner.ImportDataset(b.steps.Functions(), b.options()...)
	require.NoError(t, err)
	event, _ := json.Marshal(map[string]any{"detail": map[string]any{
		"bucket": map[string]any{"name": "local"}, "object": map[string]any{"key": key, "etag": ""},
	}})
	exec, err := m.Start(ctx, statemachine.ExecutionOptions{Name: "upload-1", Input: event})
	require.NoError(t, err)
	require.Equal(t, statemachine.StatusSucceeded, exec.Status, "%s: %s", exec.Error, exec.Cause)
	var out struct {
		Split struct {
			Chunks []json.RawMessage `json:"chunks"`
		} `json:"split"`
		Summary struct {
			Records      int            `json:"records"`
			ChunksFailed int            `json:"chunks_failed"`
			Counts       map[string]int `json:"counts"`
			Outcome      string         `json:"outcome"`
		} `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(exec.Output, &out))
	require.Equal(t, 26, out.Summary.Records)
	require.Equal(t, "succeeded", out.Summary.Outcome)
	require.Equal(t, 25, out.Summary.Counts["inserted"])
	require.Equal(t, 1, out.Summary.Counts["rejected"])
	iterations := 0
	for _, e := range b.events {
		if e.Type == statemachine.MapIterationSucceeded {
			iterations++
		}
	}
	require.Len(t, out.Split.Chunks, 3)
	require.Equal(t, 3, iterations)
}

func TestStopDuringACycleEndsItAsStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	d, err := b.steps.Deps.Get(ctx)
	require.NoError(t, err)
	fns := b.steps.Functions()
	realImport := fns[definitions.ImportFunction]
	// An operator runs `scentmatch stop` while Import works.
	fns[definitions.ImportFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		out, err := realImport(ctx, in)
		require.NoError(t, control.SetMonitoringEnabled(ctx, d.Pool, false, "ops", "incident"))
		return out, err
	}
	sum, err := b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0500", MaxFragrances: 2, Options: b.options(), Functions: fns})
	require.NoError(t, err)
	require.Equal(t, "stopped", sum.Outcome)
	require.Equal(t, string(statemachine.StatusAborted), sum.ExecutionStatus)
	require.Empty(t, sum.Messages, "a stop sends no alert")
	rec, err := b.store.Get(ctx, sum.CycleID)
	require.NoError(t, err)
	require.Contains(t, rec.StepResults, "import", "what finished before the stop is kept")
	require.NotContains(t, rec.StepResults, "maintain")

	// While stopped, a new cycle is refused; --force runs one.
	_, err = b.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0600", Options: b.options()})
	var refused *steps.MonitoringStoppedError
	require.ErrorAs(t, err, &refused)
}
