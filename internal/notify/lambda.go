package notify

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/control/flag"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Lambda is the notify function's handler, on the cycle's success path and
// on its Catch path alike. It opens the database, the configuration and
// the sender on the first invocation and keeps them for the warm
// container; a failed open is retried on the next invocation.
type Lambda struct {
	Env  *app.Env
	Deps *app.Lazy
	// Level, when set, follows each cycle state's debug flag.
	Level *slog.LevelVar
	// Now stamps a cycle marked failed here (time.Now when nil).
	Now func() time.Time

	mu    sync.Mutex
	setup *Setup
}

// Handle runs the Notify step (functions/notify, and the local runner
// through steps.Notify). An execution that ended without reaching Catch
// (timed out, aborted) arrives from an EventBridge rule with the error set
// and the cycle still running: it is marked failed first. Errors come back
// classified for Step Functions (cycle.Classify), and an authentication
// failure drops the cached connection so the next call re-reads the secret.
//
// This wiring lives here, not in package steps, so that functions/notify
// links only what sending needs (no other step, no Bedrock client).
func (l *Lambda) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	if l.Level != nil {
		if st.Debug {
			l.Level.Set(slog.LevelDebug)
		} else {
			l.Level.Set(slog.LevelInfo)
		}
	}
	res, err := l.handle(ctx, st)
	if err != nil {
		l.Deps.Reset(err)
		return nil, cycle.Classify(err)
	}
	return res, nil
}

func (l *Lambda) handle(ctx context.Context, st cycle.State) (*Result, error) {
	d, err := l.Deps.Get(ctx)
	if err != nil {
		return nil, err
	}
	stopped := false
	if st.Error != nil && st.CycleID != "" {
		// Still running: the execution ended without reaching Catch (an
		// EventBridge rule sent it here), or RecordFailure failed. An
		// execution aborted while the pipeline is stopped is the
		// operator's stop (scentmatch stop aborts running executions
		// after it clears the flag): the cycle ends stopped, and nothing
		// is sent, as when the cycle sees the flag between states.
		store := &cycle.Store{DB: d.Pool, Now: l.Now}
		if rec, err := store.Get(ctx, st.CycleID); err == nil && rec.Status == cycle.StatusRunning {
			status, step := cycle.StatusFailed, "execution"
			typ, msg := describe(st.Error)
			switch {
			case st.Error.Error == "Execution.ABORTED":
				if stop, err := flag.StopRequested(ctx, d.Pool); err == nil && stop {
					status, typ, stopped = cycle.StatusStopped, "StoppedError", true
				}
			case !strings.HasPrefix(st.Error.Error, "Execution."):
				step = inferStep(st)
			}
			if err := store.Finish(ctx, st.CycleID, status, &cycle.Failure{Step: step, Type: typ, Message: msg}); err != nil {
				return nil, err
			}
		}
	}
	l.mu.Lock()
	if l.setup == nil {
		s, err := FromEnv(ctx, l.Env, d.Config)
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.setup = &s
	}
	s := *l.setup
	l.mu.Unlock()
	if stopped {
		res := &Result{Sent: []Sent{}, Skipped: []Skipped{}, Failed: []Failed{}, Via: s.Sender.Name()}
		for _, k := range Kinds {
			res.Skipped = append(res.Skipped, Skipped{Kind: k, Reason: "the cycle was stopped by an operator (scentmatch stop): nothing is sent"})
		}
		d.Logger.InfoContext(ctx, "cycle stopped by an operator: nothing sent", "cycle_id", st.CycleID)
		return res, nil
	}
	n := &Notifier{DB: d.Pool, Config: d.Config, Sender: s.Sender, From: s.From, StateMachineARN: s.StateMachineARN, Logger: d.Logger}
	return n.Handle(ctx, st)
}

// ForLambda builds the handler as functions/notify runs it: the process
// environment, a JSON logger on stdout whose level follows each cycle's
// debug flag, the AWS SDK configuration, and at most maxConns database
// connections. It is steps.ForLambda without the clients notify never uses.
func ForLambda(ctx context.Context, maxConns int32) (*Lambda, *slog.Logger, error) {
	env, level, _, err := app.ForLambda(ctx)
	if err != nil {
		return nil, env.Logger, err
	}
	return &Lambda{Env: env, Deps: &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: maxConns}}, Level: level}, env.Logger, nil
}
