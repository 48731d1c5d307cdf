package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// Environment variables naming the AWS resources stop and start act on.
const (
	EnvScheduleName    = "SCHEDULE_NAME"
	EnvScheduleGroup   = "SCHEDULE_GROUP" // default "default"
	EnvStateMachineARN = "STATE_MACHINE_ARN"
)

// Scheduler is the part of the EventBridge Scheduler client stop and start use.
type Scheduler interface {
	GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
}

// Executions is the part of the Step Functions client stop uses.
type Executions interface {
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, opts ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, opts ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
}

var (
	_ Scheduler  = (*scheduler.Client)(nil)
	_ Executions = (*sfn.Client)(nil)
)

// SetScheduleState enables or disables a schedule. UpdateSchedule replaces
// the whole schedule, so every field GetSchedule returned is sent back
// unchanged except State (and a StartDate already past, which the API
// refuses and which no longer matters). changed is false when the
// schedule was already in that state.
func SetScheduleState(ctx context.Context, c Scheduler, group, name string, enabled bool, now time.Time) (changed bool, err error) {
	if group == "" {
		group = "default"
	}
	want := schedtypes.ScheduleStateDisabled
	if enabled {
		want = schedtypes.ScheduleStateEnabled
	}
	cur, err := c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &name, GroupName: &group})
	if err != nil {
		return false, fmt.Errorf("reading schedule %s/%s: %w", group, name, err)
	}
	if cur.State == want {
		return false, nil
	}
	in := &scheduler.UpdateScheduleInput{
		Name:                       cur.Name,
		GroupName:                  cur.GroupName,
		FlexibleTimeWindow:         cur.FlexibleTimeWindow,
		ScheduleExpression:         cur.ScheduleExpression,
		ScheduleExpressionTimezone: cur.ScheduleExpressionTimezone,
		Target:                     cur.Target,
		Description:                cur.Description,
		EndDate:                    cur.EndDate,
		KmsKeyArn:                  cur.KmsKeyArn,
		ActionAfterCompletion:      cur.ActionAfterCompletion,
		State:                      want,
	}
	if in.Name == nil {
		in.Name = &name
	}
	if in.GroupName == nil {
		in.GroupName = &group
	}
	if cur.StartDate != nil && cur.StartDate.After(now) {
		in.StartDate = cur.StartDate
	}
	if in.FlexibleTimeWindow == nil || in.ScheduleExpression == nil || in.Target == nil {
		return false, fmt.Errorf("schedule %s/%s: GetSchedule returned no flexible time window, expression or target to send back", group, name)
	}
	if _, err := c.UpdateSchedule(ctx, in); err != nil {
		return false, fmt.Errorf("setting schedule %s/%s to %s: %w", group, name, want, err)
	}
	return true, nil
}

// StopRunningExecutions stops every running execution of the state
// machine and returns their ARNs. It goes on past a failed stop and
// returns the failures joined.
func StopRunningExecutions(ctx context.Context, c Executions, stateMachineARN, cause string) ([]string, error) {
	var stopped []string
	var errs []error
	in := &sfn.ListExecutionsInput{StateMachineArn: &stateMachineARN, StatusFilter: sfntypes.ExecutionStatusRunning}
	for {
		out, err := c.ListExecutions(ctx, in)
		if err != nil {
			return stopped, errors.Join(append(errs, fmt.Errorf("listing running executions of %s: %w", stateMachineARN, err))...)
		}
		for _, e := range out.Executions {
			if e.ExecutionArn == nil {
				continue
			}
			_, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: e.ExecutionArn, Error: ptr(StopError), Cause: &cause})
			if err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", *e.ExecutionArn, err))
				continue
			}
			stopped = append(stopped, *e.ExecutionArn)
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return stopped, errors.Join(errs...)
}

// StopError is the error name a stopped execution records.
const StopError = "EmergencyStop"

func ptr[T any](v T) *T { return &v }
