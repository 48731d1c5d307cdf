package statemachine_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scentmatch/pipeline/internal/statemachine"
)

func Example() {
	definition := []byte(`{
	  "StartAt": "Detect",
	  "States": {
	    "Detect": {"Type": "Task", "Resource": "${DetectFunctionArn}", "ResultPath": "$.results.detect", "Next": "New?"},
	    "New?": {"Type": "Choice", "Choices": [{"Variable": "$.results.detect.candidate_count", "NumericGreaterThan": 0, "Next": "Import"}], "Default": "Done"},
	    "Import": {"Type": "Pass", "Result": {"imported": 2}, "ResultPath": "$.results.import", "Next": "Done"},
	    "Done": {"Type": "Succeed"}
	  }
	}`)
	detect := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"candidate_count": 2}`), nil
	}
	m, err := statemachine.Load(definition, map[string]string{"DetectFunctionArn": "detect"},
		statemachine.WithHandlers(statemachine.Registry{"detect": detect}),
		statemachine.OnEvent(func(e statemachine.Event) {
			if e.Type == statemachine.StateEntered {
				fmt.Println("entered", e.State)
			}
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	ex, err := m.Start(context.Background(), statemachine.ExecutionOptions{Name: "manual-20240505T0200", Input: json.RawMessage(`{"cycle_id": "c1"}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ex.Status, string(ex.Output))
	// Output:
	// entered Detect
	// entered New?
	// entered Import
	// entered Done
	// SUCCEEDED {"cycle_id":"c1","results":{"detect":{"candidate_count":2},"import":{"imported":2}}}
}
