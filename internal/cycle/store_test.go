package cycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestOneRunningCycleAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	c := &clock{t: time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)}
	s := &Store{DB: pool, Lease: time.Hour, Now: c.now}

	a := State{CycleID: "schedule-20261129T0200", Trigger: "schedule", MaxFragrances: 20}
	rec, err := s.Begin(ctx, a)
	require.NoError(t, err)
	require.Equal(t, StatusRunning, rec.Status)

	// The same id again (a retry) renews the lease.
	_, err = s.Begin(ctx, a)
	require.NoError(t, err)

	// Another cycle is refused and touches nothing.
	_, err = s.Begin(ctx, State{CycleID: "manual-20261129T0210", Trigger: "manual"})
	var running *AlreadyRunningError
	require.ErrorAs(t, err, &running)
	require.Equal(t, a.CycleID, running.ID)
	require.Contains(t, err.Error(), "cycle already running (schedule-20261129T0200, started 2026-11-29T02:00:00Z)")
	_, err = s.Get(ctx, "manual-20261129T0210")
	require.ErrorIs(t, err, ErrNotFound)

	// After the lease expires a later cycle takes over and the stale one is failed.
	c.t = c.t.Add(2 * time.Hour)
	b := State{CycleID: "manual-20261129T0400", Trigger: "manual"}
	_, err = s.Begin(ctx, b)
	require.NoError(t, err)
	old, err := s.Get(ctx, a.CycleID)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, old.Status)
	require.Equal(t, "LeaseExpired", *old.ErrorType)

	// Finished cycles free the lease.
	require.NoError(t, s.Finish(ctx, b.CycleID, StatusSucceeded, nil))
	_, err = s.Begin(ctx, State{CycleID: "manual-20261129T0500", Trigger: "manual"})
	require.NoError(t, err)
}

func TestRunStepIsIdempotentByCycleID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &Store{DB: dbtest.Pool(t)}
	st := State{CycleID: "manual-20261129T0900", Trigger: "manual"}
	type result struct {
		N int `json:"n"`
	}
	calls := 0
	step := func(context.Context) (result, error) { calls++; return result{N: calls}, nil }

	r1, err := RunStep(ctx, s, st, StepDetect, step)
	require.NoError(t, err)
	r2, err := RunStep(ctx, s, st, StepDetect, step)
	require.NoError(t, err)
	require.Equal(t, 1, calls, "a retried step answers from its stored result")
	require.Equal(t, r1, r2)

	rec, err := s.Get(ctx, st.CycleID)
	require.NoError(t, err)
	require.JSONEq(t, `{"n": 1}`, string(rec.StepResults[StepDetect]))

	// A failing step stores nothing; its error keeps its type.
	_, err = RunStep(ctx, s, st, StepImport, func(context.Context) (result, error) {
		return result{}, &BadInputError{Err: errors.New("bad")}
	})
	var bad *BadInputError
	require.ErrorAs(t, err, &bad)
	rec, err = s.Get(ctx, st.CycleID)
	require.NoError(t, err)
	require.NotContains(t, rec.StepResults, StepImport)

	// A stop between states ends the cycle as stopped.
	s.Stopped = func(context.Context) (bool, error) { return true, nil }
	_, err = RunStep(ctx, s, st, StepMaintain, step)
	var stopped *StoppedError
	require.ErrorAs(t, err, &stopped)
	rec, err = s.Get(ctx, st.CycleID)
	require.NoError(t, err)
	require.Equal(t, StatusStopped, rec.Status)
}

// TestRunStepKeepsTheBudget: once a cycle has run past its budget, Detect,
// Import and Maintain are refused with BudgetExceededError (the type name
// Step Functions' Catch sees); Metrics still runs, and so does any step
// on the Catch path.
func TestRunStepKeepsTheBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)}
	s := &Store{DB: dbtest.Pool(t), Now: c.now, Budget: time.Hour}
	st := State{CycleID: "manual-20261129T0200", Trigger: "manual"}
	step := func(context.Context) (int, error) { return 1, nil }
	_, err := RunStep(ctx, s, st, StepDetect, step)
	require.NoError(t, err, "within the budget")

	c.t = c.t.Add(61 * time.Minute)
	for _, name := range []string{StepImport, StepMaintain} {
		_, err = RunStep(ctx, s, st, name, step)
		var be *BudgetExceededError
		require.ErrorAs(t, err, &be, name)
		require.Equal(t, be, classify(err), "returned unwrapped, so its type name is the Lambda errorType")
		require.Contains(t, err.Error(), "over its 1h0m0s budget")
		require.Contains(t, err.Error(), name+" was not started")
	}
	_, err = RunStep(ctx, s, st, StepMetrics, step)
	require.NoError(t, err, "metrics records the cycle whatever its time")
	failed := st
	failed.Error = &StepError{Error: "BudgetExceededError", Cause: "over"}
	_, err = RunStep(ctx, s, failed, StepMaintain, step)
	require.NoError(t, err, "not on the Catch path")
}

func TestClassifyNamesTypesStepFunctionsCanCatch(t *testing.T) {
	t.Parallel()
	wrapped := classify(errors.Join(errors.New("context"), &TransientError{Err: errors.New("conn reset")}))
	_, ok := wrapped.(*TransientError)
	require.True(t, ok, "a wrapped transient error comes back as *TransientError, got %T", wrapped)
	_, ok = classify(context.DeadlineExceeded).(*TransientError)
	require.True(t, ok)
	plain := errors.New("plain")
	require.Equal(t, plain, classify(plain))
}
