package statemachine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// MaxPayloadBytes is Step Functions' limit on a state's input or output
// and on a task's result (256 KiB); past it a state fails with
// States.DataLimitExceeded, which no Catch can handle.
const MaxPayloadBytes = 256 * 1024

// Sleeper pauses for d, returning early with an error when ctx ends. The
// executor sleeps through it for Wait states and between retries, so tests
// can record the pauses instead of taking them.
type Sleeper func(ctx context.Context, d time.Duration) error

// Option configures a Machine.
type Option func(*options)

type options struct {
	handlers  Registry
	sleep     Sleeper
	rand      func() float64
	now       func() time.Time
	skipWaits bool
	onEvent   func(Event)
	name      string
}

// WithHandlers registers the in-process handlers of the Task resources.
// Load refuses a Task whose Resource has none.
func WithHandlers(r Registry) Option { return func(o *options) { o.handlers = r } }

// WithSleeper replaces the real sleep of Wait states and retry pauses.
func WithSleeper(s Sleeper) Option { return func(o *options) { o.sleep = s } }

// WithRand replaces the random source (a float in [0, 1)) of
// JitterStrategy FULL, States.MathRandom, States.UUID and generated
// execution names.
func WithRand(f func() float64) Option { return func(o *options) { o.rand = f } }

// WithClock replaces time.Now for timestamps, the context object and
// Timestamp waits.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// SkipWaits makes Wait states pass at once (retry pauses still happen,
// through the Sleeper).
func SkipWaits() Option { return func(o *options) { o.skipWaits = true } }

// OnEvent receives every event as it happens, one at a time, from
// whichever goroutine runs the state (Map iterations run concurrently).
func OnEvent(f func(Event)) Option { return func(o *options) { o.onEvent = f } }

// WithName sets the state machine's name, used in $$.StateMachine and in
// execution ids; the default is "local".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// Machine is a loaded, validated state machine, ready to run executions.
// It is safe for concurrent use.
type Machine struct {
	root    *scope
	timeout time.Duration
	opts    options
}

// Load parses and validates an Amazon States Language definition, resolves
// its ${Name} DefinitionSubstitutions, binds every Task Resource to its
// handler and returns the machine. A definition that uses anything the
// local executor does not implement is refused with an error naming the
// state and the feature.
func Load(definition []byte, substitutions map[string]string, opts ...Option) (*Machine, error) {
	o := options{
		sleep: realSleep,
		rand:  rand.Float64,
		now:   time.Now,
		name:  "local",
	}
	for _, f := range opts {
		f(&o)
	}
	root, timeout, err := compileDefinition(definition, substitutions, o.handlers, true)
	if err != nil {
		return nil, err
	}
	return &Machine{root: root, timeout: timeout, opts: o}, nil
}

func realSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status is an execution's end state.
type Status string

// Execution statuses, as Step Functions names them.
const (
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusAborted   Status = "ABORTED"
	StatusTimedOut  Status = "TIMED_OUT"
)

// ExecutionOptions describe one execution.
type ExecutionOptions struct {
	// Name is the execution name ($$.Execution.Name); empty: a UUID.
	Name string
	// Input is the execution input; empty means {}.
	Input json.RawMessage
	// StopRequested, when set, is asked before every state (Map iterations
	// and Parallel branches included, so possibly from several goroutines at
	// once); true aborts the execution with StopReason as its cause.
	StopRequested func() bool
	StopReason    string
}

// Execution is a finished execution.
type Execution struct {
	ID        string
	Name      string
	Status    Status
	Input     json.RawMessage
	Output    json.RawMessage // SUCCEEDED only
	Error     string          // FAILED: the error name; TIMED_OUT: States.Timeout
	Cause     string
	StartTime time.Time
	StopTime  time.Time
	History   []Event
}

// EventType names what an Event reports.
type EventType string

// Event types.
const (
	ExecutionStarted      EventType = "ExecutionStarted"
	ExecutionSucceeded    EventType = "ExecutionSucceeded"
	ExecutionFailed       EventType = "ExecutionFailed"
	ExecutionAborted      EventType = "ExecutionAborted"
	ExecutionTimedOut     EventType = "ExecutionTimedOut"
	StateEntered          EventType = "StateEntered"
	StateExited           EventType = "StateExited"
	StateFailed           EventType = "StateFailed"
	StateRetried          EventType = "StateRetried"
	StateCaught           EventType = "StateCaught"
	MapIterationStarted   EventType = "MapIterationStarted"
	MapIterationSucceeded EventType = "MapIterationSucceeded"
	MapIterationFailed    EventType = "MapIterationFailed"
	BranchStarted         EventType = "ParallelBranchStarted"
	BranchSucceeded       EventType = "ParallelBranchSucceeded"
	BranchFailed          EventType = "ParallelBranchFailed"
)

// Event is one step of an execution's history.
type Event struct {
	Type      EventType
	Time      time.Time
	State     string // the state (for Map and branch events: the Map or Parallel state)
	StateType string
	// Scope locates states inside Map iterations and Parallel branches:
	// "Split[3]" is iteration 3 of Map state Split, "Fan#1" branch 1 of
	// Parallel state Fan, nested scopes joined by "/"; empty at the top.
	Scope  string
	Input  json.RawMessage // StateEntered, iteration and branch starts, ExecutionStarted
	Output json.RawMessage // StateExited, StateCaught, successes
	Next   string          // StateExited, StateCaught: the next state, if any
	Error  string
	Cause  string
	// Attempt and Delay describe a StateRetried event: the retry number
	// (1 for the first retry) and the pause before it.
	Attempt int
	Delay   time.Duration
}

// run is one execution in progress.
type run struct {
	m         *Machine
	env       *evalEnv
	execution *object // $$.Execution
	machine   *object // $$.StateMachine
	stop      func() bool
	reason    string
	cancel    context.CancelCauseFunc

	mu      sync.Mutex
	history []Event
}

const timeLayout = "2006-01-02T15:04:05.000Z"

// Start runs one execution to its end and returns it. The error is only
// for an input that is not JSON or a bad name; a failed execution is an
// Execution with Status FAILED. Cancelling ctx aborts the execution
// (Status ABORTED).
func (m *Machine) Start(ctx context.Context, o ExecutionOptions) (*Execution, error) {
	var input any = newObject(0)
	if len(strings.TrimSpace(string(o.Input))) > 0 {
		v, err := decodeJSON(o.Input, false)
		if err != nil {
			return nil, fmt.Errorf("execution input is not JSON: %w", err)
		}
		input = v
	}
	env := &evalEnv{rand: m.opts.rand}
	name := o.Name
	if name == "" {
		u, _ := fnUUID(env, nil, nil)
		name = u.(string)
	}
	if len([]rune(name)) > 80 || strings.ContainsAny(name, " \t\n<>{}[]?*\"#%\\^|~`$&,;:/") {
		return nil, fmt.Errorf("execution name %q: at most 80 characters, no whitespace or any of <>{}[]?*\"#%%\\^|~`$&,;:/", name)
	}
	start := m.opts.now()
	smID := "arn:aws:states:local:000000000000:stateMachine:" + m.opts.name
	exec := &Execution{
		ID:        "arn:aws:states:local:000000000000:execution:" + m.opts.name + ":" + name,
		Name:      name,
		Input:     mustJSON(input),
		StartTime: start,
	}
	r := &run{m: m, env: env, stop: o.StopRequested, reason: o.StopReason}
	if r.reason == "" {
		r.reason = "stop requested"
	}
	r.execution = newObject(5)
	r.execution.set("Id", exec.ID)
	r.execution.set("Input", input)
	r.execution.set("Name", name)
	r.execution.set("RoleArn", "arn:aws:iam::000000000000:role/local")
	r.execution.set("StartTime", start.UTC().Format(timeLayout))
	r.machine = newObject(2)
	r.machine.set("Id", smID)
	r.machine.set("Name", m.opts.name)

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel
	if m.timeout > 0 {
		t := time.AfterFunc(m.timeout, func() {
			cancel(&abortError{timedOut: true, reason: fmt.Sprintf("the execution ran longer than its TimeoutSeconds (%s)", m.timeout)})
		})
		defer t.Stop()
	}

	r.emit(Event{Type: ExecutionStarted, Input: exec.Input})
	out, err := r.runScope(rctx, m.root, input, "")
	if err == nil {
		exec.Output, err = r.checkSize(out, "the execution output")
	}
	var f *failure
	var ae *abortError
	switch {
	case err == nil:
		exec.Status = StatusSucceeded
		r.emit(Event{Type: ExecutionSucceeded, Output: exec.Output})
	case errors.As(err, &f):
		exec.Status, exec.Error, exec.Cause = StatusFailed, f.Name, f.Cause
		r.emit(Event{Type: ExecutionFailed, Error: f.Name, Cause: f.Cause})
	case errors.As(err, &ae) && ae.timedOut:
		exec.Status, exec.Error, exec.Cause = StatusTimedOut, ErrTimeout, ae.reason
		r.emit(Event{Type: ExecutionTimedOut, Error: ErrTimeout, Cause: ae.reason})
	default:
		exec.Status, exec.Cause = StatusAborted, err.Error()
		r.emit(Event{Type: ExecutionAborted, Cause: err.Error()})
	}
	exec.StopTime = m.opts.now()
	r.mu.Lock()
	exec.History = r.history
	r.mu.Unlock()
	return exec, nil
}

func (r *run) emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Time = r.m.opts.now()
	r.history = append(r.history, e)
	if r.m.opts.onEvent != nil {
		r.m.opts.onEvent(e)
	}
}

// aborted turns an ended context into the abort it stands for.
func (r *run) aborted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	var ae *abortError
	if errors.As(cause, &ae) {
		return ae
	}
	return &abortError{reason: "aborted: " + cause.Error()}
}

func (r *run) checkStop(ctx context.Context) error {
	if r.stop != nil && r.stop() {
		r.cancel(&abortError{reason: r.reason})
	}
	return r.aborted(ctx)
}

func (r *run) sleep(ctx context.Context, d time.Duration) error {
	if err := r.m.opts.sleep(ctx, d); err != nil {
		if a := r.aborted(ctx); a != nil {
			return a
		}
		return &abortError{reason: "sleep: " + err.Error()}
	}
	return r.aborted(ctx)
}

func (r *run) checkSize(v any, what string) (json.RawMessage, error) {
	b, err := encodeJSON(v)
	if err != nil {
		return nil, fail(ErrRuntime, "%s: %v", what, err)
	}
	if len(b) > MaxPayloadBytes {
		return nil, fail("States.DataLimitExceeded", "%s has %d bytes, more than the %d Step Functions allows", what, len(b), MaxPayloadBytes)
	}
	return b, nil
}

func (r *run) runScope(ctx context.Context, sc *scope, input any, label string) (any, error) {
	name := sc.startAt
	for {
		if err := r.checkStop(ctx); err != nil {
			return nil, err
		}
		out, next, err := r.runState(ctx, sc.states[name], input, label)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		input, name = out, next
	}
}

// runState runs a state with its Retry and Catch, emitting its events.
func (r *run) runState(ctx context.Context, st *state, raw any, label string) (any, string, error) {
	entered := r.m.opts.now()
	r.emit(Event{Type: StateEntered, State: st.name, StateType: st.typ, Scope: label, Input: mustJSON(raw)})
	counts := make([]int, len(st.retry))
	retries := 0
	for {
		out, next, err := r.attempt(ctx, st, raw, label, entered, retries)
		if err == nil {
			var b json.RawMessage
			b, err = r.checkSize(out, fmt.Sprintf("the output of state %q", st.name))
			if err == nil {
				r.emit(Event{Type: StateExited, State: st.name, StateType: st.typ, Scope: label, Output: b, Next: next})
				return out, next, nil
			}
		}
		var f *failure
		if !errors.As(err, &f) {
			return nil, "", err // aborted
		}
		if i := firstRetrier(st.retry, f); i >= 0 && counts[i] < st.retry[i].maxAttempts {
			d := r.retryDelay(st.retry[i], counts[i])
			counts[i]++
			retries++
			r.emit(Event{Type: StateRetried, State: st.name, StateType: st.typ, Scope: label, Error: f.Name, Cause: f.Cause, Attempt: retries, Delay: d})
			if err := r.sleep(ctx, d); err != nil {
				return nil, "", err
			}
			continue
		}
		for _, c := range st.catch {
			if !f.matches(c.errorEquals) {
				continue
			}
			errOut := newObject(2)
			errOut.set("Error", f.Name)
			errOut.set("Cause", f.Cause)
			out, err := applyResultPath(raw, c.resultPath, errOut)
			if err != nil {
				f = fail(ErrResultPathMatchFailure, "Catch of state %q: %v", st.name, err)
				break
			}
			b, err := r.checkSize(out, fmt.Sprintf("the output of state %q", st.name))
			if err != nil {
				errors.As(err, &f)
				break
			}
			r.emit(Event{Type: StateCaught, State: st.name, StateType: st.typ, Scope: label, Error: f.Name, Cause: f.Cause, Output: b, Next: c.next})
			return out, c.next, nil
		}
		r.emit(Event{Type: StateFailed, State: st.name, StateType: st.typ, Scope: label, Error: f.Name, Cause: f.Cause})
		return nil, "", f
	}
}

// firstRetrier finds the retrier whose ErrorEquals names the failure; only
// the first such retrier applies, exhausted or not.
func firstRetrier(rs []retrier, f *failure) int {
	for i, rt := range rs {
		if f.matches(rt.errorEquals) {
			return i
		}
	}
	return -1
}

// retryDelay is IntervalSeconds x BackoffRate^(retries so far), capped by
// MaxDelaySeconds, then drawn uniformly from [0, delay] under JitterStrategy
// FULL.
func (r *run) retryDelay(rt retrier, done int) time.Duration {
	d := rt.interval
	for i := 0; i < done; i++ {
		d *= rt.backoff
		if rt.maxDelay > 0 && d > rt.maxDelay {
			break
		}
	}
	if rt.maxDelay > 0 && d > rt.maxDelay {
		d = rt.maxDelay
	}
	if rt.fullJitter {
		d *= r.m.opts.rand()
	}
	return time.Duration(d * float64(time.Second))
}

// contextObject is $$ for one state.
func (r *run) contextObject(st *state, entered time.Time, retries int) *object {
	s := newObject(3)
	s.set("EnteredTime", entered.UTC().Format(timeLayout))
	s.set("Name", st.name)
	s.set("RetryCount", intNumber(int64(retries)))
	c := newObject(3)
	c.set("Execution", r.execution)
	c.set("State", s)
	c.set("StateMachine", r.machine)
	return c
}

func applyPath(p optPath, v, ctx any, what string) (any, error) {
	if p.null {
		return newObject(0), nil
	}
	if p.path == nil {
		return v, nil
	}
	out, err := p.path.eval(v, ctx)
	if err != nil {
		return nil, fail(ErrRuntime, "%s: %v", what, err)
	}
	return out, nil
}

func applyResultPath(raw any, p optPath, result any) (any, error) {
	if p.null {
		return raw, nil
	}
	if p.path == nil {
		return result, nil
	}
	return setPath(raw, p.path, result)
}

// evalPayload runs a payload template and names its failure.
func (r *run) evalPayload(p *payload, field string, data, ctx any) (any, error) {
	v, err := p.eval(r.env, data, ctx)
	if err != nil {
		var ie *intrinsicError
		if errors.As(err, &ie) {
			return nil, fail(ErrIntrinsicFailure, "%s: %v", field, err)
		}
		return nil, fail(ErrParameterPathFailure, "%s: %v", field, err)
	}
	return v, nil
}

// attempt runs a state once: input processing, the state's work, output
// processing.
func (r *run) attempt(ctx context.Context, st *state, raw any, label string, entered time.Time, retries int) (any, string, error) {
	cobj := r.contextObject(st, entered, retries)
	if st.typ == "Fail" {
		return nil, "", r.failState(st, raw, cobj)
	}
	eff, err := applyPath(st.inputPath, raw, cobj, "InputPath")
	if err != nil {
		return nil, "", err
	}
	if st.parameters != nil {
		if eff, err = r.evalPayload(st.parameters, "Parameters", eff, cobj); err != nil {
			return nil, "", err
		}
	}
	var result any
	next := st.next
	switch st.typ {
	case "Choice":
		next = ""
		for _, rule := range st.choices {
			ok, err := rule.eval(eff, cobj)
			if err != nil {
				return nil, "", fail(ErrRuntime, "%v", err)
			}
			if ok {
				next = rule.next
				break
			}
		}
		if next == "" {
			if st.defaultNext == "" {
				return nil, "", fail(ErrNoChoiceMatched, "no choice rule matched and there is no Default in state %q", st.name)
			}
			next = st.defaultNext
		}
		out, err := applyPath(st.outputPath, eff, cobj, "OutputPath")
		return out, next, err
	case "Wait":
		if err := r.wait(ctx, st, eff, cobj); err != nil {
			return nil, "", err
		}
		out, err := applyPath(st.outputPath, eff, cobj, "OutputPath")
		return out, next, err
	case "Succeed":
		out, err := applyPath(st.outputPath, eff, cobj, "OutputPath")
		return out, "", err
	case "Pass":
		result = eff
		if st.hasResult {
			result = st.result
		}
	case "Task":
		if result, err = r.invoke(ctx, st, eff); err != nil {
			return nil, "", err
		}
	case "Map":
		if result, err = r.runMap(ctx, st, eff, cobj, label); err != nil {
			return nil, "", err
		}
	case "Parallel":
		if result, err = r.runParallel(ctx, st, eff, label); err != nil {
			return nil, "", err
		}
	}
	if st.resultSelector != nil {
		if result, err = r.evalPayload(st.resultSelector, "ResultSelector", result, cobj); err != nil {
			return nil, "", err
		}
	}
	out, err := applyResultPath(raw, st.resultPath, result)
	if err != nil {
		return nil, "", fail(ErrResultPathMatchFailure, "%v", err)
	}
	if out, err = applyPath(st.outputPath, out, cobj, "OutputPath"); err != nil {
		return nil, "", err
	}
	if st.end {
		next = ""
	}
	return out, next, nil
}

func (r *run) failState(st *state, raw any, cobj *object) error {
	f := &failure{Name: st.errorName, Cause: st.cause}
	for _, e := range []struct {
		expr *valueExpr
		dst  *string
		what string
	}{{st.errorExpr, &f.Name, "ErrorPath"}, {st.causeExpr, &f.Cause, "CausePath"}} {
		if e.expr == nil {
			continue
		}
		var v any
		var err error
		if e.expr.path != nil {
			v, err = e.expr.path.eval(raw, cobj)
		} else {
			v, err = e.expr.call.eval(r.env, raw, cobj)
		}
		if err != nil {
			return fail(ErrRuntime, "%s: %v", e.what, err)
		}
		s, ok := v.(string)
		if !ok {
			return fail(ErrRuntime, "%s must give a string, got %s", e.what, typeName(v))
		}
		*e.dst = s
	}
	return f
}

func (r *run) wait(ctx context.Context, st *state, eff any, cobj *object) error {
	var d time.Duration
	switch {
	case st.seconds != nil:
		d = time.Duration(*st.seconds) * time.Second
	case st.timestamp != nil:
		d = st.timestamp.Sub(r.m.opts.now())
	case st.secondsPath != nil:
		v, err := st.secondsPath.eval(eff, cobj)
		if err != nil {
			return fail(ErrRuntime, "SecondsPath: %v", err)
		}
		n, ok := wholeNumber(v, 0)
		if !ok {
			return fail(ErrRuntime, "SecondsPath %q gave %s, not a non-negative integer", st.secondsPath.raw, short(v))
		}
		d = time.Duration(n) * time.Second
	case st.timestampPath != nil:
		v, err := st.timestampPath.eval(eff, cobj)
		if err != nil {
			return fail(ErrRuntime, "TimestampPath: %v", err)
		}
		s, _ := v.(string)
		t, ok := parseTimestamp(s)
		if !ok {
			return fail(ErrRuntime, "TimestampPath %q gave %s, not an RFC 3339 timestamp", st.timestampPath.raw, short(v))
		}
		d = t.Sub(r.m.opts.now())
	}
	if r.m.opts.skipWaits || d <= 0 {
		return r.aborted(ctx)
	}
	return r.sleep(ctx, d)
}

type handlerResult struct {
	out json.RawMessage
	err error
}

// invoke calls the Task's handler under its TimeoutSeconds. A handler that
// overruns is abandoned (its context is cancelled) and the state fails
// with States.Timeout, as a Lambda invocation would.
func (r *run) invoke(ctx context.Context, st *state, input any) (any, error) {
	payload, err := r.checkSize(input, fmt.Sprintf("the input of task %q", st.name))
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	ch := make(chan handlerResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- handlerResult{err: &panicError{value: p}}
			}
		}()
		out, err := st.handler(tctx, payload)
		ch <- handlerResult{out: out, err: err}
	}()
	var res handlerResult
	select {
	case res = <-ch:
	case <-tctx.Done():
	}
	if a := r.aborted(ctx); a != nil {
		return nil, a
	}
	if tctx.Err() == context.DeadlineExceeded && (res.out == nil && res.err == nil || errors.Is(res.err, context.DeadlineExceeded)) {
		return nil, fail(ErrTimeout, "task %q ran longer than its TimeoutSeconds (%s)", st.name, st.timeout)
	}
	if res.err != nil {
		return nil, &failure{Name: ErrorName(res.err), Cause: res.err.Error()}
	}
	if len(res.out) > MaxPayloadBytes {
		return nil, fail("States.DataLimitExceeded", "task %q returned %d bytes, more than the %d Step Functions allows", st.name, len(res.out), MaxPayloadBytes)
	}
	v, err := fromRaw(res.out)
	if err != nil {
		return nil, fail(ErrRuntime, "task %q returned a result that is not JSON: %v", st.name, err)
	}
	return v, nil
}

// panicError reports a handler panic the way the Lambda Go runtime names
// it: by the panic value's type.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }
func (e *panicError) ErrorName() string {
	if err, ok := e.value.(error); ok {
		return ErrorName(err)
	}
	return fmt.Sprintf("%T", e.value)
}

func joinScope(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "/" + child
}

func errorObject(f *failure) *object {
	o := newObject(2)
	o.set("Error", f.Name)
	o.set("Cause", f.Cause)
	return o
}

// runMap runs a Map state's iterations, at most MaxConcurrency at a time
// (0: all at once). Without a tolerance, the first failed iteration stops
// the others and fails the state with its error. With
// ToleratedFailurePercentage or ToleratedFailureCount, or in DISTRIBUTED
// mode, failed iterations are counted and leave their {"Error","Cause"}
// in the result array; once they exceed the tolerance (zero by default)
// the state fails with States.ExceedToleratedFailureThreshold.
func (r *run) runMap(ctx context.Context, st *state, eff any, cobj *object, label string) (any, error) {
	itemsV := eff
	if st.itemsPath != nil {
		v, err := st.itemsPath.eval(eff, cobj)
		if err != nil {
			return nil, fail(ErrRuntime, "ItemsPath: %v", err)
		}
		itemsV = v
	}
	items, ok := itemsV.([]any)
	if !ok {
		return nil, fail(ErrRuntime, "the items of Map state %q must be an array, got %s", st.name, typeName(itemsV))
	}
	inputs := make([]any, len(items))
	for i, it := range items {
		inputs[i] = it
		if st.itemSelector == nil {
			continue
		}
		item := newObject(2)
		item.set("Index", intNumber(int64(i)))
		item.set("Value", it)
		m := newObject(1)
		m.set("Item", item)
		c := cobj.clone()
		c.set("Map", m)
		v, err := r.evalPayload(st.itemSelector, "ItemSelector", eff, c)
		if err != nil {
			return nil, err
		}
		inputs[i] = v
	}
	results := make([]any, len(items))
	if len(items) == 0 {
		return results, nil
	}
	tolerant := st.distributed || st.toleratedPct != nil || st.toleratedCount != nil
	exceeded := func(failed int) bool {
		if st.toleratedPct == nil && st.toleratedCount == nil {
			return failed > 0
		}
		if st.toleratedCount != nil && int64(failed) > *st.toleratedCount {
			return true
		}
		return st.toleratedPct != nil && float64(failed)*100 > *st.toleratedPct*float64(len(items))
	}
	limit := st.maxConcurrency
	if limit == 0 || limit > len(items) {
		limit = len(items)
	}
	mctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	errStopped := errors.New("another iteration failed")
	sem := make(chan struct{}, limit)
	var (
		mu       sync.Mutex
		failed   int
		firstErr error
		wg       sync.WaitGroup
	)
launch:
	for i := range items {
		select {
		case sem <- struct{}{}:
		case <-mctx.Done():
			break launch
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			scopeLabel := joinScope(label, fmt.Sprintf("%s[%d]", st.name, i))
			r.emit(Event{Type: MapIterationStarted, State: st.name, StateType: st.typ, Scope: scopeLabel, Input: mustJSON(inputs[i])})
			out, err := r.runScope(mctx, st.iterator, inputs[i], scopeLabel)
			if err == nil {
				results[i] = out
				r.emit(Event{Type: MapIterationSucceeded, State: st.name, StateType: st.typ, Scope: scopeLabel, Output: mustJSON(out)})
				return
			}
			var f *failure
			if !errors.As(err, &f) {
				return // aborted, or stopped because a sibling failed
			}
			r.emit(Event{Type: MapIterationFailed, State: st.name, StateType: st.typ, Scope: scopeLabel, Error: f.Name, Cause: f.Cause})
			mu.Lock()
			defer mu.Unlock()
			failed++
			if firstErr != nil {
				return
			}
			if !tolerant {
				firstErr = f
				stop(errStopped)
				return
			}
			results[i] = errorObject(f)
			if exceeded(failed) {
				firstErr = fail(ErrExceedToleratedFailureLimit, "Map state %q: %d of %d items failed, more than tolerated (last: %s)", st.name, failed, len(items), f.Error())
				stop(errStopped)
			}
		}(i)
	}
	wg.Wait()
	if a := r.aborted(ctx); a != nil {
		return nil, a
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}

// runParallel runs every branch on the same input; the first failure stops
// the others and fails the state with the branch's error.
func (r *run) runParallel(ctx context.Context, st *state, eff any, label string) (any, error) {
	pctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	results := make([]any, len(st.branches))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for i, b := range st.branches {
		wg.Add(1)
		go func(i int, b *scope) {
			defer wg.Done()
			scopeLabel := joinScope(label, fmt.Sprintf("%s#%d", st.name, i))
			r.emit(Event{Type: BranchStarted, State: st.name, StateType: st.typ, Scope: scopeLabel, Input: mustJSON(eff)})
			out, err := r.runScope(pctx, b, eff, scopeLabel)
			if err == nil {
				results[i] = out
				r.emit(Event{Type: BranchSucceeded, State: st.name, StateType: st.typ, Scope: scopeLabel, Output: mustJSON(out)})
				return
			}
			var f *failure
			if !errors.As(err, &f) {
				return
			}
			r.emit(Event{Type: BranchFailed, State: st.name, StateType: st.typ, Scope: scopeLabel, Error: f.Name, Cause: f.Cause})
			mu.Lock()
			defer mu.Unlock()
			if firstErr == nil {
				firstErr = f
				stop(errors.New("another branch failed"))
			}
		}(i, b)
	}
	wg.Wait()
	if a := r.aborted(ctx); a != nil {
		return nil, a
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}
