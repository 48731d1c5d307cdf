package control

import (
	"context"
	"fmt"
	"time"
)

// Operator stops and starts the pipeline. Each part it is given acts:
// the stored flag (DB), the weekly schedule (Scheduler + ScheduleName)
// and the running executions (Executions + StateMachineARN). A part that
// fails does not keep the others from acting; the Report says which did.
type Operator struct {
	DB              DB // nil when the database cannot be reached
	DBError         error
	Scheduler       Scheduler
	ScheduleGroup   string
	ScheduleName    string
	Executions      Executions
	StateMachineARN string
	// By names the operator; Now is the clock (time.Now when nil).
	By  string
	Now func() time.Time
}

// Report is what a stop or start did.
type Report struct {
	Action            string `json:"action"` // stop | start
	MonitoringEnabled bool   `json:"monitoring_enabled"`
	// Flag is the stored monitoring_enabled flag.
	Flag Part `json:"flag"`
	// RunningCycle is the local cycle that ends as stopped at its next state.
	RunningCycle string `json:"running_cycle,omitempty"`
	Schedule     *Part  `json:"schedule,omitempty"`
	// Stopped lists the Step Functions executions stopped.
	Executions *Part    `json:"executions,omitempty"`
	Stopped    []string `json:"stopped_executions,omitempty"`
}

// Part is one thing stop or start acted on.
type Part struct {
	Target  string `json:"target"`
	Changed bool   `json:"changed"`
	Error   string `json:"error,omitempty"`
}

// OK reports whether every part acted.
func (r Report) OK() bool {
	for _, p := range []*Part{&r.Flag, r.Schedule, r.Executions} {
		if p != nil && p.Error != "" {
			return false
		}
	}
	return true
}

func (o *Operator) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Stop stores monitoring_enabled = false first (a running cycle sees it at
// its next state, and a cycle starting now refuses to run), then disables
// the schedule and stops the running executions.
func (o *Operator) Stop(ctx context.Context, reason string) Report {
	r := Report{Action: "stop", MonitoringEnabled: false}
	r.Flag = o.setFlag(ctx, false, reason)
	if o.DB != nil {
		if id, err := RunningCycle(ctx, o.DB); err == nil {
			r.RunningCycle = id
		}
	}
	if o.Scheduler != nil && o.ScheduleName != "" {
		p := Part{Target: "schedule " + o.ScheduleName}
		changed, err := SetScheduleState(ctx, o.Scheduler, o.ScheduleGroup, o.ScheduleName, false, o.now())
		p.Changed = changed
		if err != nil {
			p.Error = err.Error()
		}
		r.Schedule = &p
	}
	if o.Executions != nil && o.StateMachineARN != "" {
		p := Part{Target: "executions of " + o.StateMachineARN}
		cause := fmt.Sprintf("scentmatch stop by %s", o.By)
		if reason != "" {
			cause += ": " + reason
		}
		stopped, err := StopRunningExecutions(ctx, o.Executions, o.StateMachineARN, cause)
		r.Stopped = stopped
		p.Changed = len(stopped) > 0
		if err != nil {
			p.Error = err.Error()
		}
		r.Executions = &p
	}
	return r
}

// Start stores monitoring_enabled = true, then enables the schedule (so a
// run the schedule fires at once finds the flag on).
func (o *Operator) Start(ctx context.Context, reason string) Report {
	r := Report{Action: "start", MonitoringEnabled: true}
	r.Flag = o.setFlag(ctx, true, reason)
	if o.Scheduler != nil && o.ScheduleName != "" {
		p := Part{Target: "schedule " + o.ScheduleName}
		changed, err := SetScheduleState(ctx, o.Scheduler, o.ScheduleGroup, o.ScheduleName, true, o.now())
		p.Changed = changed
		if err != nil {
			p.Error = err.Error()
		}
		r.Schedule = &p
	}
	return r
}

func (o *Operator) setFlag(ctx context.Context, enabled bool, reason string) Part {
	p := Part{Target: "pipeline_settings." + KeyMonitoringEnabled}
	if o.DB == nil {
		p.Error = "database unreachable"
		if o.DBError != nil {
			p.Error = o.DBError.Error()
		}
		return p
	}
	before, err := MonitoringEnabled(ctx, o.DB)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	if err := SetMonitoringEnabled(ctx, o.DB, enabled, o.By, reason); err != nil {
		p.Error = err.Error()
		return p
	}
	p.Changed = before != enabled
	return p
}
