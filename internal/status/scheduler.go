package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Environment variables naming the AWS schedule (group default) and the
// cycle state machine, as template.yaml sets them on the status function;
// with EnvScheduleName set, status asks AWS instead of the local flag.
const (
	EnvScheduleName    = "SCHEDULE_NAME"
	EnvStateMachineARN = "STATE_MACHINE_ARN"
)

// Monitoring sources.
const (
	SourceScheduler = "eventbridge-scheduler"
	SourceSettings  = "pipeline_settings"
	SourceConfig    = "monitoring_config.json"
)

// SchedulerState is what the scheduler side says.
type SchedulerState struct {
	MonitoringEnabled bool
	// MonitoringSource says where MonitoringEnabled comes from.
	MonitoringSource string
	// Expression and Timezone are the schedule's (empty: the configuration's).
	Expression string
	Timezone   string
	Running    bool
	Detail     string
}

// Scheduler reports whether scheduled cycles are on and whether the
// machinery that runs them is sound.
type Scheduler interface {
	State(ctx context.Context) (SchedulerState, error)
}

// Local is the scheduler of a local installation: the monitoring_enabled
// flag in pipeline_settings (else monitoring_config.json's), and "running"
// when the last cycle did not fail and no cycle is stuck past its lease.
type Local struct {
	DB     postgres.DBTX
	Config *settings.Config
	Now    func() time.Time
}

// State implements Scheduler.
func (l Local) State(ctx context.Context) (SchedulerState, error) {
	f, err := control.Monitoring(ctx, l.DB, l.Config.Monitoring.MonitoringEnabled)
	if err != nil {
		return SchedulerState{}, err
	}
	st := SchedulerState{MonitoringEnabled: f.Enabled, MonitoringSource: SourceConfig}
	if f.Stored {
		st.MonitoringSource = SourceSettings
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	var id, status string
	var lease *time.Time
	err = l.DB.QueryRow(ctx, `SELECT id, status, lease_expires_at FROM cycles ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&id, &status, &lease)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		st.Running, st.Detail = true, "no cycle has run yet"
	case err != nil:
		return SchedulerState{}, fmt.Errorf("reading the last cycle: %w", err)
	case status == "running" && lease != nil && lease.Before(now):
		st.Detail = fmt.Sprintf("cycle %s is stuck: its lease expired at %s", id, lease.UTC().Format(time.RFC3339))
	case status == "failed":
		st.Detail = fmt.Sprintf("the last cycle, %s, failed", id)
	default:
		st.Running, st.Detail = true, fmt.Sprintf("the last cycle, %s, %s", id, status)
	}
	return st, nil
}

// ScheduleGetter is the part of the EventBridge Scheduler client used.
type ScheduleGetter interface {
	GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
}

// StateMachineReader is the part of the Step Functions client used.
type StateMachineReader interface {
	DescribeStateMachine(ctx context.Context, in *sfn.DescribeStateMachineInput, opts ...func(*sfn.Options)) (*sfn.DescribeStateMachineOutput, error)
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, opts ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
}

var (
	_ ScheduleGetter     = (*scheduler.Client)(nil)
	_ StateMachineReader = (*sfn.Client)(nil)
)

// AWS is the scheduler in AWS: the EventBridge schedule's state (ENABLED)
// is monitoring_enabled; "running" means the state machine exists and its
// latest execution did not fail, time out or abort.
type AWS struct {
	Schedules    ScheduleGetter
	StateMachine StateMachineReader
	ScheduleName string
	// ScheduleGroup defaults to "default".
	ScheduleGroup string
	// StateMachineARN defaults to the schedule's target.
	StateMachineARN string
}

// State implements Scheduler.
func (a AWS) State(ctx context.Context) (SchedulerState, error) {
	st := SchedulerState{MonitoringSource: SourceScheduler}
	in := &scheduler.GetScheduleInput{Name: aws.String(a.ScheduleName)}
	if a.ScheduleGroup != "" {
		in.GroupName = aws.String(a.ScheduleGroup)
	}
	sched, err := a.Schedules.GetSchedule(ctx, in)
	if err != nil {
		var nf *schedtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			st.Detail = fmt.Sprintf("schedule %s does not exist", a.ScheduleName)
			return st, nil
		}
		return st, fmt.Errorf("reading schedule %s: %w", a.ScheduleName, err)
	}
	st.MonitoringEnabled = sched.State == schedtypes.ScheduleStateEnabled
	st.Expression = aws.ToString(sched.ScheduleExpression)
	st.Timezone = aws.ToString(sched.ScheduleExpressionTimezone)
	arn := a.StateMachineARN
	if arn == "" && sched.Target != nil {
		arn = aws.ToString(sched.Target.Arn)
	}
	if arn == "" {
		st.Detail = "the schedule names no state machine"
		return st, nil
	}
	sm, err := a.StateMachine.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)})
	if err != nil {
		var nf *sfntypes.StateMachineDoesNotExist
		if errors.As(err, &nf) {
			st.Detail = "state machine " + arn + " does not exist"
			return st, nil
		}
		return st, fmt.Errorf("describing state machine %s: %w", arn, err)
	}
	if sm.Status != sfntypes.StateMachineStatusActive {
		st.Detail = fmt.Sprintf("state machine %s is %s", aws.ToString(sm.Name), sm.Status)
		return st, nil
	}
	ex, err := a.StateMachine.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn), MaxResults: 1})
	if err != nil {
		return st, fmt.Errorf("listing executions of %s: %w", arn, err)
	}
	if len(ex.Executions) == 0 {
		st.Running, st.Detail = true, fmt.Sprintf("state machine %s active, no execution yet", aws.ToString(sm.Name))
		return st, nil
	}
	last := ex.Executions[0]
	switch last.Status {
	case sfntypes.ExecutionStatusFailed, sfntypes.ExecutionStatusTimedOut, sfntypes.ExecutionStatusAborted:
		st.Detail = fmt.Sprintf("the last execution, %s, %s", aws.ToString(last.Name), last.Status)
	default:
		st.Running = true
		st.Detail = fmt.Sprintf("state machine %s active; the last execution, %s, %s", aws.ToString(sm.Name), aws.ToString(last.Name), last.Status)
	}
	return st, nil
}
