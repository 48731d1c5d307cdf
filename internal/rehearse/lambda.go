package rehearse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scentmatch/pipeline/internal/deploy"
	"github.com/scentmatch/pipeline/internal/statemachine"
)

// Lambda is one function's built bootstrap running under the Runtime
// Interface Emulator, one process (one execution environment) for the
// whole rehearsal: the first invocation is its cold start, the others warm.
type Lambda struct {
	Spec deploy.Function
	URL  string // the RIE's invoke endpoint
	Log  string // the RIE's and the function's output

	proc        *process
	mu          sync.Mutex // an execution environment serves one invocation at a time
	invocations int
}

// Result is one invocation's answer.
type Result struct {
	Payload      json.RawMessage
	ErrorType    string // the Lambda errorType, "" on success
	ErrorMessage string
	Duration     time.Duration
	Cold         bool
}

// RuntimeEnv is a function's environment in the rehearsal: the variables
// template.yaml gives it, overrides replacing some of them the way
// `sam local invoke --env-vars` does (only variables the template declares
// may be overridden: an undeclared one is an error), and what the Lambda
// service sets for every function (region, credentials, the function's
// name, memory and timeout), which the template must not set itself.
func RuntimeEnv(spec deploy.Function, region string, overrides map[string]string) (map[string]string, error) {
	env := map[string]string{}
	maps.Copy(env, spec.Environment)
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if _, ok := env[k]; !ok {
			return nil, fmt.Errorf("%s: template.yaml does not declare %s, so a deployment (or sam local invoke --env-vars) could not set it", spec.ID, k)
		}
		env[k] = overrides[k]
	}
	runtime := map[string]string{
		"AWS_REGION": region, "AWS_DEFAULT_REGION": region,
		"AWS_ACCESS_KEY_ID": "rehearsal", "AWS_SECRET_ACCESS_KEY": "rehearsal", "AWS_SESSION_TOKEN": "rehearsal",
		"AWS_LAMBDA_FUNCTION_NAME":        spec.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(spec.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(spec.TimeoutS),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + spec.Name,
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT":                "/var/task",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
	}
	for _, k := range slices.Sorted(maps.Keys(runtime)) {
		if _, ok := env[k]; ok {
			return nil, fmt.Errorf("%s: template.yaml sets %s, which the Lambda runtime sets itself", spec.ID, k)
		}
		env[k] = runtime[k]
	}
	return env, nil
}

// StartLambda starts rie with bootstrap under env (and nothing else of this
// process's environment), logging to dir/<id>.log.
func StartLambda(ctx context.Context, rie, bootstrap string, spec deploy.Function, env map[string]string, dir string) (*Lambda, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--log-level", "warn",
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap) // the task root
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	l := &Lambda{Spec: spec, URL: "http://" + addr + "/2015-03-31/functions/function/invocations", Log: filepath.Join(dir, spec.ID+".log")}
	if l.proc, err = startProcess("aws-lambda-rie "+spec.ID, cmd, l.Log); err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, l.proc, addr, 20*time.Second); err != nil {
		l.proc.stop()
		return nil, err
	}
	return l, nil
}

// Stop stops the emulator and the function.
func (l *Lambda) Stop() { l.proc.stop() }

// Invoke posts payload to the emulator, as the Lambda Invoke API would.
func (l *Lambda) Invoke(ctx context.Context, payload []byte) (Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc.exited() {
		return Result{}, fmt.Errorf("%s: the emulator has exited (%v); see %s", l.Spec.ID, l.proc.err, l.Log)
	}
	res := Result{Cold: l.invocations == 0}
	l.invocations++
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(payload))
	if err != nil {
		return res, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, fmt.Errorf("invoking %s: %w", l.Spec.ID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("reading %s's answer: %w", l.Spec.ID, err)
	}
	res.Payload = body
	var fe struct {
		Type    *string `json:"errorType"`
		Message string  `json:"errorMessage"`
	}
	if json.Unmarshal(body, &fe) == nil && fe.Type != nil && isErrorShape(body) {
		res.ErrorType, res.ErrorMessage = *fe.Type, fe.Message
		return res, nil
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("invoking %s: HTTP %d: %s", l.Spec.ID, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if !json.Valid(body) {
		return res, fmt.Errorf("%s answered with something that is not JSON: %.200s", l.Spec.ID, body)
	}
	return res, nil
}

// isErrorShape reports whether body is the runtime's error object (only
// errorType, errorMessage, stackTrace), not a result with such a field.
func isErrorShape(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	for k := range m {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return false
		}
	}
	return true
}

// FunctionError is a function's error as Step Functions sees it: its
// errorType is the name Retry and Catch match.
type FunctionError struct{ Type, Message string }

func (e *FunctionError) Error() string     { return e.Type + ": " + e.Message }
func (e *FunctionError) ErrorName() string { return e.Type }

// Handler binds the function to a state machine Task: the state's input is
// posted to the emulator over HTTP and its answer (or its errorType) is
// the Task's result. Each answer is also passed to observe, when not nil.
func (l *Lambda) Handler(observe func(*Lambda, Result)) statemachine.Handler {
	return func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		res, err := l.Invoke(ctx, input)
		if err != nil {
			return nil, err
		}
		if observe != nil {
			observe(l, res)
		}
		if res.ErrorType != "" {
			return nil, &FunctionError{Type: res.ErrorType, Message: res.ErrorMessage}
		}
		return res.Payload, nil
	}
}

// PeakRSSMB is the function process's peak resident memory (VmHWM), read
// from /proc: what Lambda reports as Max Memory Used.
func (l *Lambda) PeakRSSMB() (float64, error) {
	pid := l.proc.cmd.Process.Pid
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, child := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + child + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(st), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
					kb, err := strconv.ParseFloat(f[1], 64)
					if err != nil {
						return 0, err
					}
					return kb / 1024, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%s: no function process under the emulator (pid %d)", l.Spec.ID, pid)
}
