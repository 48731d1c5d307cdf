package steps_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/statemachine"
)

// errorNames collects every ErrorEquals name in the definitions.
func errorNames(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "statemachine", "*.asl.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	names := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if k == "ErrorEquals" {
					for _, n := range val.([]any) {
						names[n.(string)] = true
					}
					continue
				}
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var def any
		require.NoError(t, json.Unmarshal(b, &def))
		walk(def)
	}
	return names
}

// TestDefinitionsNameOurErrorTypes checks that every error name the
// definitions retry or catch is either a States./Lambda. name or the
// Lambda errorType (the Go type name) of an error our handlers return.
func TestDefinitionsNameOurErrorTypes(t *testing.T) {
	t.Parallel()
	ours := map[string]error{}
	for _, err := range []error{
		&cycle.TransientError{Err: errors.New("x")},
		&cycle.BadInputError{Err: errors.New("x")},
		&cycle.AlreadyRunningError{ID: "x"},
		&cycle.StoppedError{ID: "x"},
		&importer.BadInputError{Err: errors.New("x")},
		&detect.UpstreamBlockedError{},
	} {
		ours[statemachine.ErrorName(err)] = err
	}
	require.Contains(t, ours, "TransientError")
	require.Contains(t, ours, "AlreadyRunningError")
	require.Contains(t, ours, "StoppedError")
	for name := range errorNames(t) {
		if strings.HasPrefix(name, "States.") || strings.HasPrefix(name, "Lambda.") {
			continue
		}
		require.Contains(t, ours, name, "the definitions name %s, which no handler returns", name)
	}
	// A wrapped transient error reaches Step Functions under its own name.
	require.Equal(t, "TransientError", statemachine.ErrorName(cycle.Classify(errors.Join(errors.New("ctx"), &cycle.TransientError{Err: errors.New("reset")}))))
}
