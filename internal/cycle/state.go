// Package cycle holds the weekly cycle's shared contract: the state every
// state-machine step receives, the typed errors Step Functions retries and
// catches, and the helpers steps use to stay idempotent by cycle id.
// docs/state-contract.md is the prose version of this file.
package cycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// State is the JSON document every step of the cycle state machine
// receives. A step returns only its own result; the definition places it
// at $.results.<step>.
type State struct {
	CycleID       string `json:"cycle_id"`
	Trigger       string `json:"trigger"` // schedule | manual
	MaxFragrances int    `json:"max_fragrances"`
	DryRun        bool   `json:"dry_run"`
	Debug         bool   `json:"debug"`
	// Force runs the cycle although an operator stopped the pipeline
	// (scentmatch cycle --force): the steps skip the emergency-stop check.
	Force   bool                       `json:"force,omitempty"`
	Results map[string]json.RawMessage `json:"results,omitempty"`
	// Error is set on the Catch path: the failed state's {"Error", "Cause"}.
	Error *StepError `json:"error,omitempty"`
	// RecordError is set when RecordFailure itself failed on the Catch
	// path (its Catch places the error here): AlertFailure still sends
	// the error alert, which says the failure was not recorded.
	RecordError *StepError `json:"record_error,omitempty"`
}

// StepError is what Catch places at $.error.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Step names, as keys of State.Results and of cycles.step_results.
const (
	StepDetect   = "detect"
	StepImport   = "import"
	StepMaintain = "maintain"
	StepMetrics  = "metrics"
	StepNotify   = "notify"
)

// Result decodes one step's result into v. ok is false when the step has
// not run (or was skipped by the Choice).
func (s State) Result(step string, v any) (ok bool, err error) {
	raw, found := s.Results[step]
	if !found || len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decoding the %s result: %w", step, err)
	}
	return true, nil
}

// Validate checks the fields every step relies on.
func (s State) Validate() error {
	if strings.TrimSpace(s.CycleID) == "" {
		return &BadInputError{Err: errors.New(`the cycle state needs "cycle_id"`)}
	}
	if s.MaxFragrances < 0 {
		return &BadInputError{Err: fmt.Errorf("max_fragrances %d: must be 0 or more", s.MaxFragrances)}
	}
	return nil
}

// TransientError is a failure a retry may cure (database restart,
// throttling, network). Its type name, TransientError, is the Lambda
// errorType the definitions Retry on.
type TransientError struct {
	Err error
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// BadInputError is an input no retry will fix; Step Functions catches it.
type BadInputError struct {
	Err error
}

func (e *BadInputError) Error() string { return e.Err.Error() }
func (e *BadInputError) Unwrap() error { return e.Err }

// AlreadyRunningError refuses a second cycle while one holds the lease.
type AlreadyRunningError struct {
	ID        string
	StartedAt string
}

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("cycle already running (%s, started %s)", e.ID, e.StartedAt)
}
