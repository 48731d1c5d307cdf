package statemachine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// Error names the Amazon States Language reserves (spec Appendix A) that
// this executor reports or matches.
const (
	ErrAll                         = "States.ALL"
	ErrTaskFailed                  = "States.TaskFailed"
	ErrTimeout                     = "States.Timeout"
	ErrRuntime                     = "States.Runtime"
	ErrResultPathMatchFailure      = "States.ResultPathMatchFailure"
	ErrParameterPathFailure        = "States.ParameterPathFailure"
	ErrNoChoiceMatched             = "States.NoChoiceMatched"
	ErrIntrinsicFailure            = "States.IntrinsicFailure"
	ErrExceedToleratedFailureLimit = "States.ExceedToleratedFailureThreshold"
	ErrBranchFailed                = "States.BranchFailed"
	ErrHeartbeatTimeout            = "States.HeartbeatTimeout"
)

// knownErrorNames are the States.* names a Retry or Catch may list.
var knownErrorNames = map[string]bool{
	ErrAll: true, ErrTaskFailed: true, ErrTimeout: true, ErrRuntime: true,
	ErrResultPathMatchFailure: true, ErrParameterPathFailure: true, ErrNoChoiceMatched: true,
	ErrIntrinsicFailure: true, ErrExceedToleratedFailureLimit: true, ErrBranchFailed: true,
	ErrHeartbeatTimeout: true, "States.Permissions": true, "States.DataLimitExceeded": true,
	"States.ItemReaderFailed": true, "States.ResultWriterFailed": true, "States.QueryEvaluationError": true,
}

// Handler runs a Task state's Resource in-process: it receives the state's
// effective input (after InputPath and Parameters) and returns the raw
// result (before ResultSelector and ResultPath). The context carries the
// state's TimeoutSeconds deadline.
type Handler func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)

// Registry maps Task Resource strings (after DefinitionSubstitutions: a
// function ARN or a plain name) to their handlers.
type Registry map[string]Handler

// Named is implemented by errors that choose their own error name.
type Named interface {
	ErrorName() string
}

// ErrorName is the name under which a handler's error reaches Retry and
// Catch: the error's own ErrorName() when it has one, otherwise the name of
// its dynamic type with any pointer stripped (*cycle.TransientError gives
// "TransientError", errors.New gives "errorString"). Like the errorType the
// Lambda Go runtime reports, only the returned error itself counts: an
// error wrapped with fmt.Errorf("...: %w") is named "wrapError", exactly as
// it would be in AWS, so the local run does not retry what AWS would not.
func ErrorName(err error) string {
	if n, ok := err.(Named); ok {
		return n.ErrorName()
	}
	t := reflect.TypeOf(err)
	if t == nil {
		return ""
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return t.String()
	}
	return t.Name()
}

// failure is a state error as Retry and Catch see it.
type failure struct {
	Name  string
	Cause string
}

func (f *failure) Error() string {
	if f.Cause == "" {
		return f.Name
	}
	return f.Name + ": " + f.Cause
}

func fail(name, format string, a ...any) *failure {
	return &failure{Name: name, Cause: fmt.Sprintf(format, a...)}
}

// retriable reports whether Retry and Catch may act on the error at all:
// per the Step Functions documentation, States.Runtime (and
// States.DataLimitExceeded) always fail the execution.
func (f *failure) retriable() bool {
	return f.Name != ErrRuntime && f.Name != "States.DataLimitExceeded"
}

// matches reports whether an ErrorEquals list names this failure.
func (f *failure) matches(names []string) bool {
	if !f.retriable() {
		return false
	}
	for _, n := range names {
		switch n {
		case ErrAll:
			return true
		case ErrTaskFailed:
			if f.Name != ErrTimeout {
				return true
			}
		default:
			if n == f.Name {
				return true
			}
		}
	}
	return false
}

// abortError stops an execution: the caller's context ended, the stop flag
// was raised, or the execution's own TimeoutSeconds ran out.
type abortError struct {
	reason   string
	timedOut bool
}

func (e *abortError) Error() string { return e.reason }
