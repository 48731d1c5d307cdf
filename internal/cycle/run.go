package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// StoppedError ends a cycle between states after an emergency stop.
type StoppedError struct {
	ID string
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("cycle %s stopped: monitoring is stopped (scentmatch start re-enables it)", e.ID)
}

// BudgetExceededError refuses to begin a work step (Detect, Import,
// Maintain) once the cycle has run longer than its time budget
// (cycle.timeout_minutes). Step Functions catches it (States.ALL): the
// cycle is recorded failed and the error alert goes out.
type BudgetExceededError struct {
	ID      string
	Step    string
	Elapsed time.Duration
	Budget  time.Duration
}

func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("cycle %s has run %s, over its %s budget (cycle.timeout_minutes): %s was not started; find what took the time (scentmatch status, the step timings) and raise the budget if the work is expected",
		e.ID, e.Elapsed.Round(time.Second), e.Budget, e.Step)
}

// RunStep runs one step of a cycle, idempotently: it takes (or renews) the
// cycle's lease, answers from the stored result when this step already
// finished for this cycle id (a Step Functions retry or a redrive), and
// otherwise runs fn and stores its result. Database failures a retry may
// cure come back as *TransientError.
func RunStep[T any](ctx context.Context, s *Store, st State, step string, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	rec, err := s.Begin(ctx, st)
	if err != nil {
		return zero, classify(err)
	}
	if raw, ok := rec.StepResults[step]; ok && len(raw) > 0 && string(raw) != "null" {
		var out T
		if err := json.Unmarshal(raw, &out); err != nil {
			return zero, fmt.Errorf("decoding the stored %s result of cycle %s: %w", step, st.CycleID, err)
		}
		return out, nil
	}
	if rec.Status != StatusRunning {
		return zero, &BadInputError{Err: fmt.Errorf("cycle %s already ended (%s) without a %s result", st.CycleID, rec.Status, step)}
	}
	if s.Stopped != nil && !st.Force {
		stopped, err := s.Stopped(ctx)
		if err != nil {
			return zero, classify(err)
		}
		if stopped {
			if err := s.Finish(ctx, st.CycleID, StatusStopped, &Failure{Step: step, Type: "StoppedError", Message: "stopped by an operator"}); err != nil {
				return zero, classify(err)
			}
			return zero, &StoppedError{ID: st.CycleID}
		}
	}
	if s.Budget > 0 && st.Error == nil && (step == StepDetect || step == StepImport || step == StepMaintain) {
		if elapsed := s.now().Sub(rec.StartedAt); elapsed > s.Budget {
			return zero, &BudgetExceededError{ID: st.CycleID, Step: step, Elapsed: elapsed, Budget: s.Budget}
		}
	}
	started := s.now()
	out, err := fn(ctx)
	if err != nil {
		return zero, classify(err)
	}
	if err := s.SaveStep(ctx, st.CycleID, step, out, started); err != nil {
		return zero, classify(err)
	}
	return out, nil
}

// classify returns err unwrapped to a type Step Functions can name:
// transient database failures become *TransientError.
func classify(err error) error {
	var t *TransientError
	var b *BadInputError
	var a *AlreadyRunningError
	var s *StoppedError
	var be *BudgetExceededError
	switch {
	case errors.As(err, &a):
		return a
	case errors.As(err, &s):
		return s
	case errors.As(err, &be):
		return be
	case errors.As(err, &t):
		if error(t) == err {
			return t
		}
		return &TransientError{Err: err}
	case errors.As(err, &b):
		if error(b) == err {
			return b
		}
		return &BadInputError{Err: err}
	case postgres.IsTransient(err), errors.Is(err, context.DeadlineExceeded):
		return &TransientError{Err: err}
	}
	return err
}

// Classify is classify for callers outside RunStep.
func Classify(err error) error { return classify(err) }
