package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// SFN is the part of the Step Functions client a remote cycle uses.
type SFN interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, opts ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

var _ SFN = (*sfn.Client)(nil)

// Remote starts and follows executions of a deployed state machine.
type Remote struct {
	Client       SFN
	StateMachine string
	// Poll is the pause between history reads (default 5 s).
	Poll time.Duration
	// OnState receives "entered" / "exited" / "failed" per top-level state.
	OnState func(kind, state, detail string)
}

// RemoteExecution is how a remote execution ended.
type RemoteExecution struct {
	ARN    string
	Name   string
	Status string // SUCCEEDED | FAILED | TIMED_OUT | ABORTED
	Output json.RawMessage
	Error  string
	Cause  string
	Start  time.Time
	Stop   time.Time
}

// Start starts an execution named name with input, or, when one of that
// name exists already (a double click), follows that one.
func (r *Remote) Start(ctx context.Context, name string, input []byte) (string, error) {
	out, err := r.Client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(r.StateMachine), Name: aws.String(name), Input: aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return executionARN(r.StateMachine, name), nil
	}
	if err != nil {
		return "", fmt.Errorf("starting %s on %s: %w", name, r.StateMachine, err)
	}
	return aws.ToString(out.ExecutionArn), nil
}

// executionARN turns arn:...:stateMachine:NAME into arn:...:execution:NAME:EXEC.
func executionARN(stateMachine, name string) string {
	const marker = ":stateMachine:"
	for i := 0; i+len(marker) <= len(stateMachine); i++ {
		if stateMachine[i:i+len(marker)] == marker {
			return stateMachine[:i] + ":execution:" + stateMachine[i+len(marker):] + ":" + name
		}
	}
	return stateMachine + ":" + name
}

// Follow reports the execution's states as they happen and returns when it
// ends.
func (r *Remote) Follow(ctx context.Context, arn string) (*RemoteExecution, error) {
	poll := r.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	var seen int64
	for {
		if err := r.history(ctx, arn, &seen); err != nil {
			return nil, err
		}
		d, err := r.Client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("describing %s: %w", arn, err)
		}
		if d.Status != types.ExecutionStatusRunning && d.Status != types.ExecutionStatusPendingRedrive {
			if err := r.history(ctx, arn, &seen); err != nil {
				return nil, err
			}
			ex := &RemoteExecution{ARN: arn, Name: aws.ToString(d.Name), Status: string(d.Status),
				Error: aws.ToString(d.Error), Cause: aws.ToString(d.Cause), Start: aws.ToTime(d.StartDate), Stop: aws.ToTime(d.StopDate)}
			if d.Output != nil {
				ex.Output = json.RawMessage(*d.Output)
			}
			return ex, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// history reports the events after *seen.
func (r *Remote) history(ctx context.Context, arn string, seen *int64) error {
	var token *string
	for {
		out, err := r.Client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), NextToken: token, MaxResults: 1000})
		if err != nil {
			return fmt.Errorf("reading the history of %s: %w", arn, err)
		}
		for _, e := range out.Events {
			if e.Id <= *seen {
				continue
			}
			*seen = e.Id
			if r.OnState == nil {
				continue
			}
			switch {
			case e.StateEnteredEventDetails != nil:
				r.OnState("entered", aws.ToString(e.StateEnteredEventDetails.Name), "")
			case e.StateExitedEventDetails != nil:
				r.OnState("exited", aws.ToString(e.StateExitedEventDetails.Name), "")
			case e.LambdaFunctionFailedEventDetails != nil:
				r.OnState("failed", "", aws.ToString(e.LambdaFunctionFailedEventDetails.Error)+": "+aws.ToString(e.LambdaFunctionFailedEventDetails.Cause))
			case e.TaskFailedEventDetails != nil:
				r.OnState("failed", "", aws.ToString(e.TaskFailedEventDetails.Error)+": "+aws.ToString(e.TaskFailedEventDetails.Cause))
			}
		}
		if out.NextToken == nil {
			return nil
		}
		token = out.NextToken
	}
}
