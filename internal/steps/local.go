package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/runner"
	"github.com/scentmatch/pipeline/internal/statemachine"
)

// CycleOptions describe one local cycle.
type CycleOptions struct {
	// Name is the execution name, and so the cycle id (default
	// manual-YYYYMMDDTHHMM: a double start within a minute is one cycle).
	Name          string
	Trigger       string // manual (default) or schedule
	MaxFragrances int    // 0: the configured cap
	Debug, DryRun bool
	// Force runs even while monitoring is stopped.
	Force bool
	// Machine options (OnEvent for progress, WithSleeper in tests).
	Options []statemachine.Option
	// Functions replaces the handlers (fault injection in tests); nil
	// runs s.Functions().
	Functions runner.Functions
}

// Summary is what a cycle run prints at the end.
type Summary struct {
	CycleID               string `json:"cycle_id"`
	Outcome               string `json:"outcome"` // succeeded | failed | stopped
	ExecutionStatus       string `json:"execution_status"`
	NewFragrancesImported int    `json:"new_fragrances_imported"`
	// Candidates is how many candidates the import step was given, and
	// FetchErrorsCount how many of them it could not fetch.
	Candidates           int      `json:"candidates"`
	FetchErrorsCount     int      `json:"fetch_errors_count"`
	ExecutionTimeMinutes float64  `json:"execution_time_minutes"`
	SystemHealthScore    *float64 `json:"system_health_score"`
	FailedStep           string   `json:"failed_step,omitempty"`
	Error                string   `json:"error,omitempty"`
	Cause                string   `json:"cause,omitempty"`
	DryRun               bool     `json:"dry_run"`
	// Messages says where each e-mail went (outbox paths locally, SES
	// message ids in AWS).
	Messages []Message `json:"messages"`
}

// Message is one e-mail the cycle sent.
type Message struct {
	Kind      string `json:"kind"`
	Subject   string `json:"subject"`
	MessageID string `json:"message_id"`
}

// MonitoringStoppedError refuses a manual cycle while monitoring is stopped.
type MonitoringStoppedError struct{}

func (*MonitoringStoppedError) Error() string {
	return "monitoring is stopped (scentmatch stop): start it with scentmatch start, or pass --force to run one cycle anyway"
}

// RunCycle runs the weekly cycle definition in-process, the way Step
// Functions runs it in AWS, and summarises it. A second cycle while one
// runs is refused before the execution starts (*cycle.AlreadyRunningError);
// an emergency stop between states ends the cycle as stopped.
func (s *Steps) RunCycle(ctx context.Context, o CycleOptions) (*Summary, error) {
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	store := s.store(d)
	if !o.Force {
		flag, err := control.Monitoring(ctx, d.Pool, d.Config.Monitoring.MonitoringEnabled)
		if err != nil {
			return nil, err
		}
		if !flag.Enabled {
			return nil, &MonitoringStoppedError{}
		}
	}
	if other, expired, err := store.Running(ctx); err != nil {
		return nil, err
	} else if other != nil && !expired {
		return nil, &cycle.AlreadyRunningError{ID: other.ID, StartedAt: other.StartedAt.UTC().Format(time.RFC3339)}
	}
	name := o.Name
	if name == "" {
		name = "manual-" + s.now().UTC().Format("20060102T1504")
	}
	trigger := o.Trigger
	if trigger == "" {
		trigger = "manual"
	}
	in := map[string]any{"trigger": trigger, "max_fragrances": o.MaxFragrances, "debug": o.Debug, "dry_run": o.DryRun}
	if o.Force {
		in["force"] = true
	}
	input, _ := json.Marshal(in)
	fns := o.Functions
	if fns == nil {
		fns = s.Functions()
	}
	m, err := runner.Cycle(fns, o.Options...)
	if err != nil {
		return nil, err
	}
	stopped := false
	exec, err := m.Start(ctx, statemachine.ExecutionOptions{
		Name: name, Input: input, StopReason: "stopped by an operator (scentmatch stop)",
		StopRequested: func() bool {
			if !o.Force {
				stopped, _ = control.StopRequested(ctx, d.Pool)
			}
			return stopped
		},
	})
	if err != nil {
		return nil, err
	}
	// An execution that ends without reaching Catch (aborted) still ends
	// its cycle, as the EventBridge rule does in AWS.
	finish := context.WithoutCancel(ctx)
	if exec.Status == statemachine.StatusAborted || exec.Status == statemachine.StatusTimedOut {
		if rec, err := store.Get(finish, name); err == nil && rec.Status == cycle.StatusRunning {
			status, typ := cycle.StatusFailed, "Execution."+string(exec.Status)
			if stopped {
				status, typ = cycle.StatusStopped, "StoppedError"
			}
			if err := store.Finish(finish, name, status, &cycle.Failure{Step: "execution", Type: typ, Message: exec.Cause}); err != nil {
				return nil, err
			}
		}
	}
	return s.summarise(finish, store, exec)
}

func (s *Steps) summarise(ctx context.Context, store *cycle.Store, exec *statemachine.Execution) (*Summary, error) {
	sum := &Summary{CycleID: exec.Name, ExecutionStatus: string(exec.Status), Error: exec.Error, Cause: exec.Cause, Messages: []Message{}}
	rec, err := store.Get(ctx, exec.Name)
	if errors.Is(err, cycle.ErrNotFound) {
		sum.Outcome = "failed"
		return sum, nil
	}
	if err != nil {
		return nil, err
	}
	sum.Outcome, sum.DryRun, sum.NewFragrancesImported, sum.SystemHealthScore = rec.Status, rec.DryRun, rec.NewFragrances, rec.HealthScore
	if rec.Status == cycle.StatusRunning {
		sum.Outcome = "failed"
	}
	end := exec.StopTime
	if rec.FinishedAt != nil {
		end = *rec.FinishedAt
	}
	sum.ExecutionTimeMinutes = float64(int(end.Sub(rec.StartedAt).Minutes()*100+0.5)) / 100
	if rec.FailedStep != nil {
		sum.FailedStep = *rec.FailedStep
	}
	if raw, ok := rec.StepResults["import"]; ok {
		var ires struct {
			Candidates       int `json:"candidates"`
			FetchErrorsCount int `json:"fetch_errors_count"`
		}
		if err := json.Unmarshal(raw, &ires); err != nil {
			return nil, fmt.Errorf("reading the import result: %w", err)
		}
		sum.Candidates, sum.FetchErrorsCount = ires.Candidates, ires.FetchErrorsCount
	}
	var nres notify.Result
	if raw, ok := rec.StepResults["notify"]; ok {
		if err := json.Unmarshal(raw, &nres); err != nil {
			return nil, fmt.Errorf("reading the notify result: %w", err)
		}
		for _, m := range nres.Sent {
			sum.Messages = append(sum.Messages, Message{Kind: string(m.Kind), Subject: m.Subject, MessageID: m.MessageID})
		}
	}
	return sum, nil
}
