package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// StoppedError ends a cycle between states after an emergency stop.
type StoppedError struct {
	ID string
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("cycle %s stopped: monitoring is stopped (scentmatch start re-enables it)", e.ID)
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
	switch {
	case errors.As(err, &a):
		return a
	case errors.As(err, &s):
		return s
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
