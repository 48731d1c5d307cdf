package statemachine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests hold the executor against two npm packages, installed on
// first use into .tools/node by scripts/ensure-node-tools.sh: asl-validator
// (4.x) must accept every definition, and aws-local-stepfunctions, run on
// the same definitions, inputs and task results, must reach the same
// status, output and error. When the tools cannot be installed (no npm,
// no registry) they fail with the script's message, which says what is
// missing and how to install it; they never skip. make test installs the
// tools up front (scripts/test.sh).

const repoRoot = "../.."

var nodeTools struct {
	once sync.Once
	dir  string
	node string
	err  error
}

func ensureNodeTools(t *testing.T) (dir, node string) {
	t.Helper()
	// The script needs npm only when .tools/node is not complete; without
	// it (and not root with apt to install it) it says so and how to get it.
	nodeTools.once.Do(func() {
		cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "ensure-node-tools.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			nodeTools.err = fmt.Errorf("asl-validator and aws-local-stepfunctions are not installed in .tools/node, "+
				"and scripts/ensure-node-tools.sh could not install them (%v):\n%s", err, stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		nodeTools.dir = lines[len(lines)-1]
		nodes, _ := filepath.Glob(filepath.Join(nodeTools.dir, "node_modules", "node-linux-*", "bin", "node"))
		if len(nodes) == 0 {
			nodeTools.err = fmt.Errorf("no Node.js binary under %s/node_modules/node-linux-*/bin", nodeTools.dir)
			return
		}
		nodeTools.node = nodes[0]
	})
	require.NoError(t, nodeTools.err)
	return nodeTools.dir, nodeTools.node
}

// definitionFiles lists the test fixtures and the project's definitions.
func definitionFiles(t *testing.T) []string {
	t.Helper()
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.asl.json"))
	require.NoError(t, err)
	require.NotEmpty(t, fixtures)
	project, err := filepath.Glob(filepath.Join(repoRoot, "statemachine", "*.asl.json"))
	require.NoError(t, err)
	return append(fixtures, project...)
}

var placeholderRe = regexp.MustCompile(`\$\{([A-Za-z0-9_.:-]+)\}`)

// placeholderSubstitutions gives every ${Name} of a definition a function
// ARN, for validation only.
func placeholderSubstitutions(def []byte) map[string]string {
	subs := map[string]string{}
	for _, m := range placeholderRe.FindAllSubmatch(def, -1) {
		subs[string(m[1])] = "arn:aws:lambda:us-east-1:123456789012:function:" + string(m[1])
	}
	return subs
}

func TestASLValidator(t *testing.T) {
	t.Parallel()
	dir, node := ensureNodeTools(t)
	files := definitionFiles(t)
	args := []string{filepath.Join(dir, "node_modules", "asl-validator", "dist", "bin", "asl-validator.js")}
	for _, f := range files {
		args = append(args, "--json-path", f)
	}
	out, err := exec.Command(node, args...).CombinedOutput()
	require.NoError(t, err, "asl-validator rejected a definition:\n%s", out)
	for _, f := range files {
		require.Contains(t, string(out), fmt.Sprintf("%q is valid", f))
		def, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, Validate(def, placeholderSubstitutions(def)), "the local executor refuses %s", f)
	}
	t.Logf("asl-validator and Validate accept %d definitions: %s", len(files), strings.Join(files, ", "))
}

// handlerSpec is a scripted task, the same in Go and in the JS harness.
type handlerSpec struct {
	Result    json.RawMessage `json:"result,omitempty"`
	FailFirst int             `json:"failFirst"`
	FailWhen  *struct {
		Field  string          `json:"field"`
		Equals json.RawMessage `json:"equals"`
	} `json:"failWhen"`
	Error string `json:"error"`
	Cause string `json:"cause"`
}

func (s handlerSpec) handler() Handler {
	var calls atomic.Int32
	return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		n := int(calls.Add(1))
		if n <= s.FailFirst {
			return nil, &namedErr{name: s.Error, msg: s.Cause}
		}
		if s.FailWhen != nil {
			v, err := fromRaw(in)
			if err != nil {
				return nil, err
			}
			if o, ok := v.(*object); ok {
				got, found := o.get(s.FailWhen.Field)
				want, err := fromRaw(s.FailWhen.Equals)
				if err != nil {
					return nil, err
				}
				if found && jsonEqual(got, want) {
					return nil, &namedErr{name: s.Error, msg: s.Cause}
				}
			}
		}
		if s.Result != nil {
			return s.Result, nil
		}
		return in, nil
	}
}

// diffCases is a testdata/*.cases.json file. Definition, when set, is the
// definition's path from the repository root (statemachine/cycle.asl.json,
// say); otherwise the definition is the sibling *.asl.json.
type diffCases struct {
	Definition    string                 `json:"definition"`
	Substitutions map[string]string      `json:"substitutions"`
	Handlers      map[string]handlerSpec `json:"handlers"`
	Runs          []struct {
		Name            string                 `json:"name"`
		Input           json.RawMessage        `json:"input"`
		Handlers        map[string]handlerSpec `json:"handlers"`
		KnownDifference string                 `json:"known_difference"`
	} `json:"runs"`
}

type diffJob struct {
	Definition    json.RawMessage        `json:"definition"`
	Substitutions map[string]string      `json:"substitutions"`
	Input         json.RawMessage        `json:"input"`
	Context       json.RawMessage        `json:"context"`
	Handlers      map[string]handlerSpec `json:"handlers"`

	name, file, knownDifference, execName string
}

type diffResult struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
}

func TestDifferentialLocalStepFunctions(t *testing.T) {
	t.Parallel()
	dir, node := ensureNodeTools(t)
	start := time.Date(2024, 5, 5, 2, 0, 0, 0, time.UTC)
	caseFiles, err := filepath.Glob(filepath.Join("testdata", "*.cases.json"))
	require.NoError(t, err)
	require.NotEmpty(t, caseFiles)
	var jobs []diffJob
	for _, cf := range caseFiles {
		raw, err := os.ReadFile(cf)
		require.NoError(t, err)
		var cases diffCases
		require.NoError(t, json.Unmarshal(raw, &cases), cf)
		defPath := strings.TrimSuffix(cf, ".cases.json") + ".asl.json"
		if cases.Definition != "" {
			defPath = filepath.Join(repoRoot, filepath.FromSlash(cases.Definition))
		}
		def, err := os.ReadFile(defPath)
		require.NoError(t, err, cf)
		for _, run := range cases.Runs {
			handlers := map[string]handlerSpec{}
			for r, h := range cases.Handlers {
				handlers[r] = h
			}
			for r, h := range run.Handlers {
				handlers[r] = h
			}
			name := fmt.Sprintf("diff-%d", len(jobs))
			ctxObj, err := json.Marshal(map[string]any{
				"Execution": map[string]any{
					"Id":        "arn:aws:states:local:000000000000:execution:local:" + name,
					"Input":     run.Input,
					"Name":      name,
					"RoleArn":   "arn:aws:iam::000000000000:role/local",
					"StartTime": start.Format(timeLayout),
				},
				"StateMachine": map[string]any{"Id": "arn:aws:states:local:000000000000:stateMachine:local", "Name": "local"},
			})
			require.NoError(t, err)
			jobs = append(jobs, diffJob{
				Definition: def, Substitutions: cases.Substitutions, Input: run.Input, Context: ctxObj, Handlers: handlers,
				name: run.Name, file: filepath.Base(cf), knownDifference: run.KnownDifference, execName: name,
			})
		}
	}
	payload, err := json.Marshal(jobs)
	require.NoError(t, err)
	cmd := exec.Command(node, filepath.Join("testdata", "localsfn-harness.mjs"), dir)
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "the aws-local-stepfunctions harness failed:\n%s", stderr.String())
	var want []diffResult
	require.NoError(t, json.Unmarshal(out, &want), string(out))
	require.Len(t, want, len(jobs))

	names := map[string]bool{}
	for i, job := range jobs {
		ref := want[i]
		t.Run(job.file+"/"+job.name, func(t *testing.T) {
			require.NotEqual(t, "HARNESS_ERROR", ref.Status, "aws-local-stepfunctions could not run the job: %s: %s", ref.Error, ref.Cause)
			reg := Registry{}
			for r, h := range job.Handlers {
				reg[r] = h.handler()
			}
			m, err := Load(job.Definition, job.Substitutions, WithHandlers(reg), SkipWaits(),
				WithSleeper(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }),
				WithClock(func() time.Time { return start }), WithRand(func() float64 { return 0.5 }))
			require.NoError(t, err)
			ex, err := m.Start(context.Background(), ExecutionOptions{Name: job.execName, Input: job.Input})
			require.NoError(t, err)
			require.Equal(t, ref.Status, string(ex.Status), "status (ours: %s %s; reference: %s %s)", ex.Error, ex.Cause, ref.Error, ref.Cause)
			if ref.Status == "SUCCEEDED" {
				require.JSONEq(t, string(ref.Output), string(ex.Output))
				return
			}
			if job.knownDifference != "" {
				t.Logf("known difference: %s (ours: %s, reference: %s)", job.knownDifference, ex.Error, ref.Error)
				return
			}
			require.Equal(t, ref.Error, ex.Error, "error name (ours: %s; reference: %s)", ex.Cause, ref.Cause)
			if !strings.HasPrefix(ex.Error, "States.") {
				require.Equal(t, ref.Cause, ex.Cause)
			}
		})
		names[job.file] = true
	}
	files := make([]string, 0, len(names))
	for f := range names {
		files = append(files, f)
	}
	sort.Strings(files)
	t.Logf("compared %d executions from %s with aws-local-stepfunctions", len(jobs), strings.Join(files, ", "))
}
