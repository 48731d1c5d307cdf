// Package event decodes the functions' Lambda events at the door. Every
// handler is wrapped in Strict (functions/*/main.go, the local executor and
// scentmatch invoke), so an event with a field the handler does not know,
// or a value of the wrong type, is refused with a *cycle.BadInputError
// naming the field before the handler runs: nothing is done on a
// malformed event (no migration, no backup). aws-lambda-go's own decoding
// would accept unknown fields and answer a wrong type with its
// UnmarshalTypeError, which the state machines' Retry and Catch do not
// name.
package event

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/scentmatch/pipeline/internal/cycle"
)

// Decode decodes one Lambda event into v strictly: a single JSON value,
// no field v does not have (at any depth), every value of its field's
// type. An empty payload or null leaves v as it is (an invocation with no
// payload). Errors are *cycle.BadInputError naming the field and the rule.
func Decode(payload []byte, v any) error {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &cycle.BadInputError{Err: describe(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &cycle.BadInputError{Err: errors.New("the event: more than one JSON value")}
	}
	return nil
}

// describe words a decoding error after the field it is about.
func describe(err error) error {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("the event: a JSON %s where %s is expected", typ.Value, kind(typ.Type.String()))
		}
		return fmt.Errorf("the event's field %q: a JSON %s where %s is expected", fieldPath(typ.Field), typ.Value, kind(typ.Type.String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the event is not JSON: it ends in the middle of a value")
	case errors.As(err, &syn):
		return fmt.Errorf("the event is not JSON (at byte %d): %w", syn.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return fmt.Errorf("the event's field %s is not one this function takes (rule: no unknown fields)", field)
	}
	return fmt.Errorf("decoding the event: %w", err)
}

// fieldPath drops from encoding/json's field path the names of embedded
// Go structs ("SplitEvent.bucket" is the event's "bucket"): an inner
// segment starting with a capital letter is a Go type, since the events'
// JSON names are lower case (StepError's "Error" and "Cause" come last).
func fieldPath(p string) string {
	parts := strings.Split(p, ".")
	out := parts[:0]
	for i, s := range parts {
		if i < len(parts)-1 && s != "" && s[0] >= 'A' && s[0] <= 'Z' {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// kind names a Go type the way an operator writing JSON thinks of it.
func kind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}

// Strict wraps a handler so its event is decoded by Decode: pass the
// result to lambda.Start. The handler runs only on an event that decodes.
// Its error goes through cycle.Classify, so whatever path a handler took,
// a failure a retry may cure (a dropped connection, a pooler restart,
// SQLSTATE 08xxx, 57P0x, 53300) reaches Step Functions as TransientError,
// never as a bare wrapError its Retry does not name.
func Strict[T, R any](h func(context.Context, T) (R, error)) func(context.Context, json.RawMessage) (R, error) {
	return func(ctx context.Context, payload json.RawMessage) (R, error) {
		var ev T
		if err := Decode(payload, &ev); err != nil {
			var zero R
			return zero, err
		}
		out, err := h(ctx, ev)
		if err != nil {
			return out, cycle.Classify(err)
		}
		return out, nil
	}
}
