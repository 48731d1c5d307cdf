// Package runner runs the pipeline's state machine definitions in-process:
// the same ASL files SAM deploys, through the local executor
// (internal/statemachine), with each Task bound to the handler function the
// corresponding Lambda wraps. `scentmatch cycle` and `make run` use it.
package runner

import (
	"context"
	"encoding/json"
	"fmt"

	definitions "github.com/scentmatch/pipeline/statemachine"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/statemachine"
)

// Handle adapts a typed handler (what lambda.Start takes) to the executor:
// the input is decoded into I and the result encoded as JSON, as the
// Lambda runtime does. The error is classified as event.Strict does, so
// its type name is the error name Retry and Catch match in AWS.
func Handle[I, O any](fn func(context.Context, I) (O, error)) statemachine.Handler {
	return func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		// Decoded as the deployed functions decode (event.Strict): an
		// unknown field or a wrong type is a *cycle.BadInputError.
		var in I
		if err := event.Decode(input, &in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			// Classified as event.Strict classifies in Lambda.
			return nil, cycle.Classify(err)
		}
		return json.Marshal(out)
	}
}

// Functions are the in-process handlers of the pipeline's functions, by
// the substitution name of their ARN (definitions.DetectFunction, ...).
type Functions map[string]statemachine.Handler

// Load binds a definition's substitutions to local resource names and
// loads it with the handlers.
func Load(definition []byte, fns Functions, opts ...statemachine.Option) (*statemachine.Machine, error) {
	subs := map[string]string{}
	reg := statemachine.Registry{}
	for name, h := range fns {
		res := "local:" + name
		subs[name] = res
		reg[res] = h
	}
	m, err := statemachine.Load(definition, subs, append([]statemachine.Option{statemachine.WithHandlers(reg)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("loading the state machine: %w", err)
	}
	return m, nil
}

// Cycle loads the weekly cycle definition.
func Cycle(fns Functions, opts ...statemachine.Option) (*statemachine.Machine, error) {
	return Load(definitions.Cycle, fns, append(opts, statemachine.WithName("scentmatch-local-cycle"))...)
}

// ImportDataset loads the dataset import definition.
func ImportDataset(fns Functions, opts ...statemachine.Option) (*statemachine.Machine, error) {
	return Load(definitions.ImportDataset, fns, append(opts, statemachine.WithName("scentmatch-local-import-dataset"))...)
}
