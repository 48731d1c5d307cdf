package statemachine

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DefaultTaskTimeout is a Task state's TimeoutSeconds when the definition
// gives none: 60 seconds, as the Amazon States Language specifies.
const DefaultTaskTimeout = 60 * time.Second

// scope is one state graph: the machine, a Map's ItemProcessor or a
// Parallel branch.
type scope struct {
	startAt string
	states  map[string]*state
}

// optPath is InputPath, OutputPath or ResultPath: absent means "$", null
// means discard.
type optPath struct {
	null bool
	path *Path // nil with null unset: "$"
}

type retrier struct {
	errorEquals []string
	interval    float64
	maxAttempts int
	backoff     float64
	maxDelay    float64 // 0: no cap
	fullJitter  bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
}

// valueExpr is a Fail state's ErrorPath or CausePath.
type valueExpr struct {
	path *Path
	call *intrinsicCall
}

type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        *payload
	result                            any
	hasResult                         bool

	resource string
	handler  Handler
	timeout  time.Duration
	retry    []retrier
	catch    []catcher

	choices     []*choiceRule
	defaultNext string

	seconds       *int64
	secondsPath   *Path
	timestamp     *time.Time
	timestampPath *Path

	errorName, cause     string
	errorExpr, causeExpr *valueExpr

	itemsPath      *Path
	itemSelector   *payload
	iterator       *scope
	maxConcurrency int
	toleratedPct   *float64
	toleratedCount *int64
	distributed    bool

	branches []*scope
}

// Fields per state type. Fields of the language this executor does not
// implement are listed apart so the refusal can say so.
var allowedFields = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds", "HeartbeatSeconds", "Retry", "Catch"},
	"Choice":   {"Choices", "Default", "InputPath", "OutputPath"},
	"Wait":     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "ErrorPath", "Cause", "CausePath"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Branches", "Retry", "Catch"},
	"Map":      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ItemSelector", "ResultSelector", "ItemsPath", "ItemProcessor", "Iterator", "MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount", "Label", "Retry", "Catch"},
}

var unsupportedFields = map[string]bool{
	"ItemReader": true, "ResultWriter": true, "ItemBatcher": true, "MaxConcurrencyPath": true,
	"ToleratedFailurePercentagePath": true, "ToleratedFailureCountPath": true,
	"TimeoutSecondsPath": true, "HeartbeatSecondsPath": true, "Credentials": true,
	"Arguments": true, "Output": true, "Assign": true, "Items": true,
}

// compiler turns a parsed definition into scopes, collecting state names
// across the whole machine (they must be unique, nested ones included).
type compiler struct {
	names    map[string]bool
	handlers Registry
	check    bool // require a handler for every Task resource
}

func stateErr(name, format string, a ...any) error {
	return fmt.Errorf("state %q: %s", name, fmt.Sprintf(format, a...))
}

func (c *compiler) scope(v any, where string) (*scope, error) {
	o, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("%s must be an object with StartAt and States", where)
	}
	sc := &scope{states: map[string]*state{}}
	root := where == "the state machine"
	processor := strings.HasPrefix(where, "the ItemProcessor")
	for _, k := range o.keys {
		switch {
		case k == "StartAt" || k == "States" || k == "Comment":
		case (k == "Version" || k == "TimeoutSeconds") && root:
		case k == "ProcessorConfig" && processor:
		case k == "QueryLanguage" && root:
			if s, _ := o.vals[k].(string); s != "JSONPath" {
				return nil, fmt.Errorf("%s: QueryLanguage %s is not supported by the local executor (JSONPath only)", where, short(o.vals[k]))
			}
		default:
			return nil, fmt.Errorf("%s: unknown field %q", where, k)
		}
	}
	start, ok := o.vals["StartAt"].(string)
	if !ok || start == "" {
		return nil, fmt.Errorf("%s: StartAt must name a state", where)
	}
	sc.startAt = start
	states, ok := o.vals["States"].(*object)
	if !ok || states.len() == 0 {
		return nil, fmt.Errorf("%s: States must be a non-empty object", where)
	}
	for _, name := range states.keys {
		if c.names[name] {
			return nil, stateErr(name, "the name is used twice in the machine (state names must be unique, nested ones included)")
		}
		if len([]rune(name)) > 80 {
			return nil, stateErr(name, "a state name may have at most 80 characters")
		}
		c.names[name] = true
	}
	for _, name := range states.keys {
		st, err := c.state(name, states.vals[name])
		if err != nil {
			return nil, err
		}
		sc.states[name] = st
	}
	if _, ok := sc.states[start]; !ok {
		return nil, fmt.Errorf("%s: StartAt %q is not a state of %s", where, start, where)
	}
	// Transitions stay inside the scope, and every state is reachable.
	for _, name := range states.keys {
		for _, t := range sc.states[name].targets() {
			if _, ok := sc.states[t]; !ok {
				return nil, stateErr(name, "transition to %q, which is not a state of %s", t, where)
			}
		}
	}
	reached := map[string]bool{start: true}
	queue := []string{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range sc.states[n].targets() {
			if !reached[t] {
				reached[t] = true
				queue = append(queue, t)
			}
		}
	}
	for _, name := range states.keys {
		if !reached[name] {
			return nil, stateErr(name, "no transition reaches this state from StartAt %q", start)
		}
	}
	return sc, nil
}

func (s *state) targets() []string {
	var t []string
	if s.next != "" {
		t = append(t, s.next)
	}
	for _, r := range s.choices {
		t = append(t, r.next)
	}
	if s.defaultNext != "" {
		t = append(t, s.defaultNext)
	}
	for _, c := range s.catch {
		t = append(t, c.next)
	}
	return t
}

func (c *compiler) state(name string, v any) (*state, error) {
	o, ok := v.(*object)
	if !ok {
		return nil, stateErr(name, "must be an object")
	}
	typ, _ := o.vals["Type"].(string)
	allowed, known := allowedFields[typ]
	if !known {
		if typ == "" {
			return nil, stateErr(name, "Type is missing")
		}
		return nil, stateErr(name, "unknown Type %q", typ)
	}
	for _, k := range o.keys {
		if k == "Type" || k == "Comment" {
			continue
		}
		if k == "QueryLanguage" {
			if s, _ := o.vals[k].(string); s != "JSONPath" {
				return nil, stateErr(name, "QueryLanguage %s is not supported by the local executor (JSONPath only)", short(o.vals[k]))
			}
			continue
		}
		if unsupportedFields[k] {
			return nil, stateErr(name, "%s is not supported by the local executor", k)
		}
		if !contains(allowed, k) {
			return nil, stateErr(name, "field %q is not allowed in a %s state", k, typ)
		}
	}
	st := &state{name: name, typ: typ}
	var err error
	get := func(k string) (any, bool) { v, ok := o.vals[k]; return v, ok }

	// Transitions.
	switch typ {
	case "Choice", "Succeed", "Fail":
	default:
		next, hasNext := get("Next")
		end, hasEnd := get("End")
		if hasEnd {
			b, ok := end.(bool)
			if !ok {
				return nil, stateErr(name, "End must be true or false")
			}
			st.end = b
		}
		if hasNext {
			s, ok := next.(string)
			if !ok || s == "" {
				return nil, stateErr(name, "Next must name a state")
			}
			st.next = s
		}
		switch {
		case st.end && st.next != "":
			return nil, stateErr(name, "has both Next and End")
		case !st.end && st.next == "":
			return nil, stateErr(name, "needs Next or \"End\": true")
		}
	}

	// Paths.
	if st.inputPath, err = optionalPath(o, "InputPath", false); err != nil {
		return nil, stateErr(name, "%v", err)
	}
	if st.outputPath, err = optionalPath(o, "OutputPath", false); err != nil {
		return nil, stateErr(name, "%v", err)
	}
	if st.resultPath, err = optionalPath(o, "ResultPath", true); err != nil {
		return nil, stateErr(name, "%v", err)
	}
	if v, ok := get("Parameters"); ok && typ != "Map" {
		if st.parameters, err = compilePayload(v); err != nil {
			return nil, stateErr(name, "Parameters: %v", err)
		}
	}
	if v, ok := get("ResultSelector"); ok {
		if st.resultSelector, err = compilePayload(v); err != nil {
			return nil, stateErr(name, "ResultSelector: %v", err)
		}
	}
	if v, ok := get("Result"); ok {
		st.result, st.hasResult = v, true
	}
	if v, ok := get("Retry"); ok {
		if st.retry, err = compileRetry(v); err != nil {
			return nil, stateErr(name, "Retry: %v", err)
		}
	}
	if v, ok := get("Catch"); ok {
		if st.catch, err = compileCatch(v); err != nil {
			return nil, stateErr(name, "Catch: %v", err)
		}
	}

	switch typ {
	case "Task":
		err = c.task(st, o)
	case "Choice":
		err = compileChoiceState(st, o)
	case "Wait":
		err = compileWait(st, o)
	case "Fail":
		err = compileFail(st, o)
	case "Map":
		err = c.mapState(st, o)
	case "Parallel":
		err = c.parallel(st, o)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func optionalPath(o *object, key string, reference bool) (optPath, error) {
	v, ok := o.get(key)
	if !ok {
		return optPath{}, nil
	}
	if v == nil {
		return optPath{null: true}, nil
	}
	s, ok := v.(string)
	if !ok {
		return optPath{}, fmt.Errorf("%s must be a path or null", key)
	}
	var p *Path
	var err error
	if reference {
		p, err = parseReferencePath(s)
		if err == nil && p.context {
			err = fmt.Errorf("%s cannot point into the context object ($$)", key)
		}
	} else {
		p, err = ParsePath(s)
	}
	if err != nil {
		return optPath{}, fmt.Errorf("%s: %w", key, err)
	}
	if len(p.segs) == 0 && !p.context {
		return optPath{}, nil // "$" is the default
	}
	return optPath{path: p}, nil
}

// wholeNumber reads a JSON number that must be an integer >= min.
func wholeNumber(v any, min int64) (int64, bool) {
	n, ok := toInt(v)
	return n, ok && n >= min
}

func (c *compiler) task(st *state, o *object) error {
	res, ok := o.vals["Resource"].(string)
	if !ok || res == "" {
		return stateErr(st.name, "Resource must be a string")
	}
	st.resource = res
	if c.check {
		h, ok := c.handlers[res]
		if !ok {
			return stateErr(st.name, "Resource %q has no handler registered with the local executor", res)
		}
		st.handler = h
	}
	st.timeout = DefaultTaskTimeout
	if v, ok := o.vals["TimeoutSeconds"]; ok {
		n, ok := wholeNumber(v, 1)
		if !ok {
			return stateErr(st.name, "TimeoutSeconds must be a positive integer")
		}
		st.timeout = time.Duration(n) * time.Second
	}
	if v, ok := o.vals["HeartbeatSeconds"]; ok {
		n, ok := wholeNumber(v, 1)
		if !ok || time.Duration(n)*time.Second >= st.timeout {
			return stateErr(st.name, "HeartbeatSeconds must be a positive integer smaller than TimeoutSeconds")
		}
	}
	return nil
}

func compileChoiceState(st *state, o *object) error {
	arr, ok := o.vals["Choices"].([]any)
	if !ok || len(arr) == 0 {
		return stateErr(st.name, "Choices must be a non-empty array")
	}
	for i, v := range arr {
		r, err := compileChoiceRule(v, true)
		if err != nil {
			return stateErr(st.name, "Choices[%d]: %v", i, err)
		}
		st.choices = append(st.choices, r)
	}
	if v, ok := o.vals["Default"]; ok {
		s, ok := v.(string)
		if !ok || s == "" {
			return stateErr(st.name, "Default must name a state")
		}
		st.defaultNext = s
	}
	return nil
}

func compileWait(st *state, o *object) error {
	count := 0
	if v, ok := o.vals["Seconds"]; ok {
		n, ok := wholeNumber(v, 0)
		if !ok {
			return stateErr(st.name, "Seconds must be a non-negative integer")
		}
		st.seconds = &n
		count++
	}
	if v, ok := o.vals["Timestamp"]; ok {
		s, _ := v.(string)
		t, ok := parseTimestamp(s)
		if !ok {
			return stateErr(st.name, "Timestamp must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z")
		}
		st.timestamp = &t
		count++
	}
	for _, k := range []string{"SecondsPath", "TimestampPath"} {
		v, ok := o.vals[k]
		if !ok {
			continue
		}
		s, _ := v.(string)
		p, err := parseReferencePath(s)
		if err != nil {
			return stateErr(st.name, "%s: %v", k, err)
		}
		if k == "SecondsPath" {
			st.secondsPath = p
		} else {
			st.timestampPath = p
		}
		count++
	}
	if count != 1 {
		return stateErr(st.name, "needs exactly one of Seconds, Timestamp, SecondsPath and TimestampPath")
	}
	return nil
}

func compileFail(st *state, o *object) error {
	for _, pair := range [][2]string{{"Error", "ErrorPath"}, {"Cause", "CausePath"}} {
		lit, hasLit := o.vals[pair[0]]
		expr, hasExpr := o.vals[pair[1]]
		if hasLit && hasExpr {
			return stateErr(st.name, "has both %s and %s", pair[0], pair[1])
		}
		if hasLit {
			s, ok := lit.(string)
			if !ok {
				return stateErr(st.name, "%s must be a string", pair[0])
			}
			if pair[0] == "Error" {
				st.errorName = s
			} else {
				st.cause = s
			}
		}
		if hasExpr {
			s, ok := expr.(string)
			if !ok {
				return stateErr(st.name, "%s must be a path or intrinsic function", pair[1])
			}
			ve := &valueExpr{}
			var err error
			if looksIntrinsic(s) {
				ve.call, err = parseIntrinsic(s)
			} else {
				ve.path, err = parseReferencePath(s)
			}
			if err != nil {
				return stateErr(st.name, "%s: %v", pair[1], err)
			}
			if pair[1] == "ErrorPath" {
				st.errorExpr = ve
			} else {
				st.causeExpr = ve
			}
		}
	}
	return nil
}

func (c *compiler) mapState(st *state, o *object) error {
	var err error
	proc, hasProc := o.vals["ItemProcessor"]
	iter, hasIter := o.vals["Iterator"]
	switch {
	case hasProc && hasIter:
		return stateErr(st.name, "has both ItemProcessor and Iterator")
	case hasIter:
		proc = iter
	case !hasProc:
		return stateErr(st.name, "needs ItemProcessor")
	}
	if po, ok := proc.(*object); ok {
		if cfg, ok := po.vals["ProcessorConfig"]; ok {
			cfgObj, ok := cfg.(*object)
			if !ok {
				return stateErr(st.name, "ProcessorConfig must be an object")
			}
			for _, k := range cfgObj.keys {
				val, _ := cfgObj.vals[k].(string)
				switch {
				case k == "Mode" && (val == "INLINE" || val == "DISTRIBUTED"):
					st.distributed = val == "DISTRIBUTED"
				case k == "ExecutionType" && (val == "STANDARD" || val == "EXPRESS"):
				default:
					return stateErr(st.name, "ProcessorConfig %s %s is not supported by the local executor", k, short(cfgObj.vals[k]))
				}
			}
		}
	}
	if st.iterator, err = c.scope(proc, fmt.Sprintf("the ItemProcessor of %q", st.name)); err != nil {
		return err
	}
	if v, ok := o.vals["ItemsPath"]; ok {
		s, ok := v.(string)
		if !ok {
			return stateErr(st.name, "ItemsPath must be a path")
		}
		if st.itemsPath, err = parseReferencePath(s); err != nil {
			return stateErr(st.name, "ItemsPath: %v", err)
		}
	}
	sel, hasSel := o.vals["ItemSelector"]
	params, hasParams := o.vals["Parameters"]
	if hasSel && hasParams {
		return stateErr(st.name, "has both ItemSelector and Parameters")
	}
	if hasParams {
		sel, hasSel = params, true
	}
	if hasSel {
		if st.itemSelector, err = compilePayload(sel); err != nil {
			return stateErr(st.name, "ItemSelector: %v", err)
		}
	}
	if v, ok := o.vals["MaxConcurrency"]; ok {
		n, ok := wholeNumber(v, 0)
		if !ok || n > math.MaxInt32 {
			return stateErr(st.name, "MaxConcurrency must be a non-negative integer")
		}
		st.maxConcurrency = int(n)
	}
	if v, ok := o.vals["ToleratedFailurePercentage"]; ok {
		f, ok := toFloat(v)
		if !ok || f < 0 || f > 100 {
			return stateErr(st.name, "ToleratedFailurePercentage must be a number from 0 to 100")
		}
		st.toleratedPct = &f
	}
	if v, ok := o.vals["ToleratedFailureCount"]; ok {
		n, ok := wholeNumber(v, 0)
		if !ok {
			return stateErr(st.name, "ToleratedFailureCount must be a non-negative integer")
		}
		st.toleratedCount = &n
	}
	return nil
}

func (c *compiler) parallel(st *state, o *object) error {
	arr, ok := o.vals["Branches"].([]any)
	if !ok || len(arr) == 0 {
		return stateErr(st.name, "Branches must be a non-empty array")
	}
	for i, b := range arr {
		sc, err := c.scope(b, fmt.Sprintf("branch %d of %q", i, st.name))
		if err != nil {
			return err
		}
		st.branches = append(st.branches, sc)
	}
	return nil
}

func errorEquals(o *object) ([]string, error) {
	arr, ok := o.vals["ErrorEquals"].([]any)
	if !ok || len(arr) == 0 {
		return nil, errors.New("ErrorEquals must be a non-empty array of error names")
	}
	var names []string
	for _, v := range arr {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, errors.New("ErrorEquals must hold error name strings")
		}
		if strings.HasPrefix(s, "States.") && !knownErrorNames[s] {
			return nil, fmt.Errorf("unknown error name %q", s)
		}
		names = append(names, s)
	}
	if contains(names, ErrAll) && len(names) > 1 {
		return nil, errors.New("States.ALL must appear alone in ErrorEquals")
	}
	return names, nil
}

func compileRetry(v any) ([]retrier, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array of retriers")
	}
	var out []retrier
	for i, e := range arr {
		o, ok := e.(*object)
		if !ok {
			return nil, fmt.Errorf("[%d] must be an object", i)
		}
		r := retrier{interval: 1, maxAttempts: 3, backoff: 2}
		var err error
		if r.errorEquals, err = errorEquals(o); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		if contains(r.errorEquals, ErrAll) && i != len(arr)-1 {
			return nil, fmt.Errorf("[%d]: a retrier with States.ALL must come last", i)
		}
		for _, k := range o.keys {
			val := o.vals[k]
			bad := false
			switch k {
			case "ErrorEquals", "Comment":
			case "IntervalSeconds":
				n, ok := wholeNumber(val, 1)
				bad = !ok
				r.interval = float64(n)
			case "MaxAttempts":
				n, ok := wholeNumber(val, 0)
				bad = !ok || n > math.MaxInt32
				r.maxAttempts = int(n)
			case "BackoffRate":
				f, ok := toFloat(val)
				bad = !ok || f < 1
				r.backoff = f
			case "MaxDelaySeconds":
				n, ok := wholeNumber(val, 1)
				bad = !ok
				r.maxDelay = float64(n)
			case "JitterStrategy":
				s, _ := val.(string)
				bad = s != "FULL" && s != "NONE"
				r.fullJitter = s == "FULL"
			default:
				return nil, fmt.Errorf("[%d]: unknown field %q", i, k)
			}
			if bad {
				return nil, fmt.Errorf("[%d]: bad %s %s", i, k, short(val))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func compileCatch(v any) ([]catcher, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array of catchers")
	}
	var out []catcher
	for i, e := range arr {
		o, ok := e.(*object)
		if !ok {
			return nil, fmt.Errorf("[%d] must be an object", i)
		}
		var c catcher
		var err error
		if c.errorEquals, err = errorEquals(o); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		if contains(c.errorEquals, ErrAll) && i != len(arr)-1 {
			return nil, fmt.Errorf("[%d]: a catcher with States.ALL must come last", i)
		}
		for _, k := range o.keys {
			switch k {
			case "ErrorEquals", "Comment", "ResultPath":
			case "Next":
				s, ok := o.vals[k].(string)
				if !ok || s == "" {
					return nil, fmt.Errorf("[%d]: Next must name a state", i)
				}
				c.next = s
			default:
				return nil, fmt.Errorf("[%d]: unknown field %q", i, k)
			}
		}
		if c.next == "" {
			return nil, fmt.Errorf("[%d]: needs Next", i)
		}
		if c.resultPath, err = optionalPath(o, "ResultPath", true); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

var substitutionRe = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute replaces ${Name} in every string of the definition, keys
// included, as DefinitionSubstitutions do; ${!Name} stands for a literal
// ${Name}. Every placeholder must have a value.
func substitute(v any, subs map[string]string, missing map[string]bool) any {
	switch t := v.(type) {
	case string:
		if !strings.Contains(t, "${") {
			return t
		}
		return substitutionRe.ReplaceAllStringFunc(t, func(m string) string {
			name := m[2 : len(m)-1]
			if strings.HasPrefix(name, "!") {
				return "${" + name[1:] + "}"
			}
			val, ok := subs[name]
			if !ok {
				missing[name] = true
				return m
			}
			return val
		})
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = substitute(e, subs, missing)
		}
		return out
	case *object:
		out := newObject(t.len())
		for _, k := range t.keys {
			out.set(substitute(k, subs, missing).(string), substitute(t.vals[k], subs, missing))
		}
		return out
	}
	return v
}

// compileDefinition parses, substitutes and validates a definition.
func compileDefinition(definition []byte, subs map[string]string, handlers Registry, check bool) (*scope, time.Duration, error) {
	raw, err := decodeJSON(definition, true)
	if err != nil {
		return nil, 0, fmt.Errorf("the definition is not valid JSON: %w", err)
	}
	missing := map[string]bool{}
	raw = substitute(raw, subs, missing)
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, "${"+n+"}")
		}
		sort.Strings(names)
		return nil, 0, fmt.Errorf("no substitution for %s", strings.Join(names, ", "))
	}
	c := &compiler{names: map[string]bool{}, handlers: handlers, check: check}
	sc, err := c.scope(raw, "the state machine")
	if err != nil {
		return nil, 0, err
	}
	var timeout time.Duration
	if v, ok := raw.(*object).get("TimeoutSeconds"); ok {
		n, ok := wholeNumber(v, 1)
		if !ok {
			return nil, 0, errors.New("the state machine's TimeoutSeconds must be a positive integer")
		}
		timeout = time.Duration(n) * time.Second
	}
	if v, ok := raw.(*object).get("Version"); ok {
		if s, _ := v.(string); s != "1.0" {
			return nil, 0, fmt.Errorf("Version %s is not supported (1.0 only)", short(v))
		}
	}
	return sc, timeout, nil
}

// Validate checks a definition the way Load does, without requiring
// handlers for its Task resources: JSON syntax, DefinitionSubstitutions,
// structure, transitions, paths, payload templates, intrinsic functions,
// Choice rules, Retry and Catch, and the features the local executor
// refuses.
func Validate(definition []byte, substitutions map[string]string) error {
	_, _, err := compileDefinition(definition, substitutions, nil, false)
	return err
}

// Resources lists the Task Resource strings of a definition after
// substitution, sorted and without repeats, so a caller can check that
// every one has a handler.
func Resources(definition []byte, substitutions map[string]string) ([]string, error) {
	sc, _, err := compileDefinition(definition, substitutions, nil, false)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	var walk func(*scope)
	walk = func(sc *scope) {
		for _, st := range sc.states {
			if st.resource != "" {
				set[st.resource] = true
			}
			if st.iterator != nil {
				walk(st.iterator)
			}
			for _, b := range st.branches {
				walk(b)
			}
		}
	}
	walk(sc)
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}
