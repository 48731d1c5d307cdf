package statemachine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/stretchr/testify/require"
)

// testBundle records the pauses a machine takes instead of taking them.
type testBundle struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (b *testBundle) sleep(ctx context.Context, d time.Duration) error {
	b.mu.Lock()
	b.sleeps = append(b.sleeps, d)
	b.mu.Unlock()
	return ctx.Err()
}

func (b *testBundle) pauses() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.sleeps...)
}

func load(t *testing.T, def string, handlers Registry, opts ...Option) (*Machine, *testBundle) {
	t.Helper()
	b := &testBundle{}
	opts = append([]Option{WithHandlers(handlers), WithSleeper(b.sleep), WithRand(func() float64 { return 0.5 })}, opts...)
	m, err := Load([]byte(def), nil, opts...)
	require.NoError(t, err)
	return m, b
}

func start(t *testing.T, m *Machine, input string) *Execution {
	t.Helper()
	ex, err := m.Start(context.Background(), ExecutionOptions{Name: "test", Input: json.RawMessage(input)})
	require.NoError(t, err)
	return ex
}

// fixed returns a handler with a fixed JSON result.
func fixed(result string) Handler {
	return func(context.Context, json.RawMessage) (json.RawMessage, error) { return json.RawMessage(result), nil }
}

// namedErr is a handler error with an explicit error name.
type namedErr struct{ name, msg string }

func (e *namedErr) Error() string     { return e.msg }
func (e *namedErr) ErrorName() string { return e.name }

// script returns a handler that fails with the given errors in turn, then
// succeeds with result; it counts its calls.
func script(calls *atomic.Int32, result string, errs ...error) Handler {
	return func(context.Context, json.RawMessage) (json.RawMessage, error) {
		n := int(calls.Add(1)) - 1
		if n < len(errs) {
			return nil, errs[n]
		}
		return json.RawMessage(result), nil
	}
}

// The spec's "Input and Output Processing" example: InputPath selects the
// numbers, the task adds them, ResultPath puts the sum beside the input.
func TestDataFlowSpecExample(t *testing.T) {
	t.Parallel()
	add := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var n struct{ Val1, Val2 int }
		if err := json.Unmarshal(in, &n); err != nil {
			return nil, err
		}
		return json.RawMessage(fmt.Sprint(n.Val1 + n.Val2)), nil
	}
	m, _ := load(t, `{"StartAt":"Add","States":{"Add":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:Add",
	  "InputPath":"$.numbers","ResultPath":"$.sum","OutputPath":"$","End":true}}}`,
		Registry{"arn:aws:lambda:us-east-1:123456789012:function:Add": add})
	ex := start(t, m, `{"title":"Numbers to add","numbers":{"val1":3,"val2":4}}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"title":"Numbers to add","numbers":{"val1":3,"val2":4},"sum":7}`, string(ex.Output))
}

// The Step Functions documentation's examples for InputPath, Parameters,
// ResultSelector, ResultPath and OutputPath, each as a one-task machine.
func TestDataFlowDocExamples(t *testing.T) {
	t.Parallel()
	lambdaResult := `{"ExecutedVersion":"$LATEST","Payload":{"foo":"bar","colors":["red","blue","green"],"car":{"year":2008,"make":"Toyota","model":"Matrix"}},
	  "SdkHttpMetadata":{"HttpStatusCode":200},"SdkResponseMetadata":{"RequestId":"1234-5678-9011"},"StatusCode":200}`
	emrResult := `{"resourceType":"elasticmapreduce","resource":"createCluster.sync","output":{"SdkHttpMetadata":{"HttpHeaders":{"Content-Length":"1112",
	  "Content-Type":"application/x-amz-JSON-1.1","Date":"Mon, 25 Nov 2019 19:41:29 GMT","x-amzn-RequestId":"1234-5678-9011"},"HttpStatusCode":200},
	  "SdkResponseMetadata":{"RequestId":"1234-5678-9011"},"ClusterId":"AKIAIOSFODNN7EXAMPLE"}}`
	hello := `"Hello, AWS Step Functions!"`
	helloInput := `{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions"}`
	tests := []struct {
		name, fields, result, input, want string
		wantTaskInput                     string
	}{
		{"InputPath", `"InputPath":"$.dataset2"`, `{}`,
			`{"comment":"Example for InputPath.","dataset1":{"val1":1,"val2":2,"val3":3},"dataset2":{"val1":"a","val2":"b","val3":"c"}}`,
			`{}`, `{"val1":"a","val2":"b","val3":"c"}`},
		{"Parameters", `"Parameters":{"comment":"Selecting what I care about.","MyDetails":{"size.$":"$.product.details.size","exists.$":"$.product.availability","StaticValue":"foo"}}`, `{}`,
			`{"comment":"Example for Parameters.","product":{"details":{"color":"blue","size":"small","material":"cotton"},"availability":"in stock","sku":"2317","cost":"$23"}}`,
			`{}`, `{"comment":"Selecting what I care about.","MyDetails":{"size":"small","exists":"in stock","StaticValue":"foo"}}`},
		{"ResultSelector Lambda", `"ResultSelector":{"modelName.$":"$.Payload.car.model","colorsUsed.$":"$.Payload.colors"},"ResultPath":"$.result"`, lambdaResult,
			`{"in":1}`, `{"in":1,"result":{"modelName":"Matrix","colorsUsed":["red","blue","green"]}}`, `{"in":1}`},
		{"ResultSelector spec", `"ResultSelector":{"ClusterId.$":"$.output.ClusterId","ResourceType.$":"$.resourceType"},"ResultPath":"$.EMROutput"`, emrResult,
			`{"cluster":"x"}`, `{"cluster":"x","EMROutput":{"ClusterId":"AKIAIOSFODNN7EXAMPLE","ResourceType":"elasticmapreduce"}}`, `{"cluster":"x"}`},
		{"ResultPath replaces", ``, hello, helloInput, hello, helloInput},
		{"ResultPath adds", `"ResultPath":"$.taskresult"`, hello, helloInput,
			`{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions","taskresult":"Hello, AWS Step Functions!"}`, helloInput},
		{"ResultPath null", `"ResultPath":null`, hello, helloInput, helloInput, helloInput},
		{"OutputPath", `"ResultPath":"$.r","OutputPath":"$.r.b"`, `{"a":1,"b":{"c":2}}`, `{"x":0}`, `{"c":2}`, `{"x":0}`},
		{"OutputPath null", `"OutputPath":null`, `{"a":1}`, `{"x":0}`, `{}`, `{"x":0}`},
		{"InputPath null", `"InputPath":null,"ResultPath":"$.r"`, `1`, `{"x":0}`, `{"x":0,"r":1}`, `{}`},
		{"Context object", `"Parameters":{"exec.$":"$$.Execution.Name","state.$":"$$.State.Name","input.$":"$$.Execution.Input.x","sm.$":"$$.StateMachine.Id","retries.$":"$$.State.RetryCount"},"ResultPath":null`, `{}`,
			`{"x":7}`, `{"x":7}`, `{"exec":"test","state":"T","input":7,"sm":"arn:aws:states:local:000000000000:stateMachine:local","retries":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got json.RawMessage
			h := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
				got = in
				return json.RawMessage(tc.result), nil
			}
			fields := tc.fields
			if fields != "" {
				fields += ","
			}
			m, _ := load(t, fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn",%s"End":true}}}`, fields), Registry{"fn": h})
			ex := start(t, m, tc.input)
			require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
			require.JSONEq(t, tc.want, string(ex.Output))
			require.JSONEq(t, tc.wantTaskInput, string(got))
		})
	}
}

func TestPassState(t *testing.T) {
	t.Parallel()
	m, _ := load(t, `{"StartAt":"P1","States":{
	  "P1":{"Type":"Pass","Result":{"x-datum":0.381018,"y-datum":622.2269926397355},"ResultPath":"$.coords","Next":"P2"},
	  "P2":{"Type":"Pass","Parameters":{"sum.$":"States.MathAdd($.n, 1)","c.$":"$.coords"},"ResultPath":"$.p","Next":"P3"},
	  "P3":{"Type":"Pass","InputPath":"$.p","End":true}}}`, nil)
	ex := start(t, m, `{"n":41}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"sum":42,"c":{"x-datum":0.381018,"y-datum":622.2269926397355}}`, string(ex.Output))
}

func TestDataFlowFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, state, input, wantErr string
	}{
		{"InputPath missing", `"Type":"Pass","InputPath":"$.nope","End":true`, `{}`, ErrRuntime},
		{"OutputPath missing", `"Type":"Pass","OutputPath":"$.nope","End":true`, `{}`, ErrRuntime},
		{"Parameters path missing", `"Type":"Pass","Parameters":{"a.$":"$.nope"},"End":true`, `{}`, ErrParameterPathFailure},
		{"intrinsic fails", `"Type":"Pass","Parameters":{"a.$":"States.StringToJson($.s)"},"End":true`, `{"s":"{"}`, ErrIntrinsicFailure},
		{"ResultPath into a string", `"Type":"Pass","ResultPath":"$.a.b","End":true`, `{"a":"s"}`, ErrResultPathMatchFailure},
		{"ResultSelector path missing", `"Type":"Task","Resource":"fn","ResultSelector":{"a.$":"$.nope"},"End":true`, `{}`, ErrParameterPathFailure},
		{"Map items not an array", `"Type":"Map","ItemsPath":"$.a","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true`, `{"a":{}}`, ErrRuntime},
		{"Fail ErrorPath not a string", `"Type":"Fail","ErrorPath":"$.e"`, `{"e":1}`, ErrRuntime},
	}
	for _, tc := range tests {
		m, _ := load(t, fmt.Sprintf(`{"StartAt":"S","States":{"S":{%s}}}`, tc.state), Registry{"fn": fixed(`{}`)})
		ex := start(t, m, tc.input)
		require.Equal(t, StatusFailed, ex.Status, tc.name)
		require.Equal(t, tc.wantErr, ex.Error, "%s: %s", tc.name, ex.Cause)
		require.NotEmpty(t, ex.Cause, tc.name)
	}
}

func TestFailState(t *testing.T) {
	t.Parallel()
	m, _ := load(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"ErrorA","Cause":"Kaiju attack"}}}`, nil)
	ex := start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, "ErrorA", ex.Error)
	require.Equal(t, "Kaiju attack", ex.Cause)

	m, _ = load(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.err.name","CausePath":"States.Format('step {} failed: {}', $.step, $.err.msg)"}}}`, nil)
	ex = start(t, m, `{"step":"import","err":{"name":"ImportFailed","msg":"disk full"}}`)
	require.Equal(t, "ImportFailed", ex.Error)
	require.Equal(t, "step import failed: disk full", ex.Cause)
}

// Handler errors get the Lambda errorType: the Go type name, or an
// explicit ErrorName.
func TestErrorNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, "TransientError", ErrorName(&cycle.TransientError{Err: errors.New("db restart")}))
	require.Equal(t, "BadInputError", ErrorName(&cycle.BadInputError{Err: errors.New("x")}))
	require.Equal(t, "errorString", ErrorName(errors.New("plain")))
	require.Equal(t, "wrapError", ErrorName(fmt.Errorf("wrapped: %w", &cycle.TransientError{Err: errors.New("x")})))
	require.Equal(t, "Custom.Name", ErrorName(&namedErr{name: "Custom.Name"}))

	m, _ := load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}}`, Registry{
		"fn": func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return nil, &cycle.TransientError{Err: errors.New("connection reset")}
		},
	})
	ex := start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, "TransientError", ex.Error)
	require.Equal(t, "connection reset", ex.Cause)

	m, _ = load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}}`, Registry{
		"fn": func(context.Context, json.RawMessage) (json.RawMessage, error) { panic("boom") },
	})
	ex = start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, "string", ex.Error)
	require.Contains(t, ex.Cause, "boom")
}

// The spec's Retry example: States.Timeout retried twice, after 3 and 4.5
// seconds.
func TestRetrySpecExample(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	timeout := &namedErr{name: ErrTimeout, msg: "timed out"}
	m, b := load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,
	  "Retry":[{"ErrorEquals":["States.Timeout"],"IntervalSeconds":3,"MaxAttempts":2,"BackoffRate":1.5}]}}}`,
		Registry{"fn": script(&calls, `"ok"`, timeout, timeout, timeout)})
	ex := start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, ErrTimeout, ex.Error)
	require.EqualValues(t, 3, calls.Load(), "one try and two retries")
	require.Equal(t, []time.Duration{3 * time.Second, 4500 * time.Millisecond}, b.pauses())
}

// Retriers keep separate counts and only the first matching retrier
// applies; Catch takes over when it is exhausted.
func TestRetryPerRetrierAndCatch(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	errA := &namedErr{name: "ErrorA", msg: "a"}
	errB := &namedErr{name: "ErrorB", msg: "b"}
	errC := &namedErr{name: "ErrorC", msg: "c"}
	m, b := load(t, `{"StartAt":"T","States":{
	  "T":{"Type":"Task","Resource":"fn","Next":"Done",
	    "Retry":[{"ErrorEquals":["ErrorA","ErrorB"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":2},
	             {"ErrorEquals":["ErrorC"],"IntervalSeconds":5}],
	    "Catch":[{"ErrorEquals":["java.lang.Exception"],"ResultPath":"$.error-info","Next":"Recovery"},
	             {"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Recovery"}]},
	  "Recovery":{"Type":"Pass","End":true},
	  "Done":{"Type":"Succeed"}}}`,
		Registry{"fn": script(&calls, `"ok"`, errA, errB, errC, errB)})
	ex := start(t, m, `{"job":1}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.EqualValues(t, 4, calls.Load())
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 5 * time.Second}, b.pauses())
	require.JSONEq(t, `{"job":1,"error":{"Error":"ErrorB","Cause":"b"}}`, string(ex.Output))
	var retried, caught int
	for _, e := range ex.History {
		switch e.Type {
		case StateRetried:
			retried++
			require.Equal(t, retried, e.Attempt)
		case StateCaught:
			caught++
			require.Equal(t, "Recovery", e.Next)
		}
	}
	require.Equal(t, 3, retried)
	require.Equal(t, 1, caught)
}

func TestRetryBackoffCapAndJitter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	e := &namedErr{name: "Flaky", msg: "flaky"}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,
	  "Retry":[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":3,"BackoffRate":2,"MaxAttempts":4,"MaxDelaySeconds":8%s}]}}}`
	m, b := load(t, fmt.Sprintf(def, ""), Registry{"fn": script(&calls, `{"done":true}`, e, e, e, e)})
	ex := start(t, m, `{}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"done":true}`, string(ex.Output))
	require.Equal(t, []time.Duration{3 * time.Second, 6 * time.Second, 8 * time.Second, 8 * time.Second}, b.pauses())

	calls.Store(0)
	m, b = load(t, fmt.Sprintf(def, `,"JitterStrategy":"FULL"`), Registry{"fn": script(&calls, `{}`, e, e, e)})
	ex = start(t, m, `{}`)
	require.Equal(t, StatusSucceeded, ex.Status)
	// The test's random source always draws 0.5: half of each delay.
	require.Equal(t, []time.Duration{1500 * time.Millisecond, 3 * time.Second, 4 * time.Second}, b.pauses())

	calls.Store(0)
	m, b = load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,
	  "Retry":[{"ErrorEquals":["Flaky"],"MaxAttempts":0}]}}}`, Registry{"fn": script(&calls, `{}`, e)})
	ex = start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status, "MaxAttempts 0 never retries")
	require.Empty(t, b.pauses())

	// The defaults: 1 second, backoff 2, three attempts.
	calls.Store(0)
	m, b = load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Retry":[{"ErrorEquals":["States.ALL"]}]}}}`,
		Registry{"fn": script(&calls, `{}`, e, e, e, e)})
	ex = start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, b.pauses())
}

// States.Runtime is neither retried nor caught, even by States.ALL;
// States.TaskFailed matches everything but States.Timeout.
func TestErrorMatchingRules(t *testing.T) {
	t.Parallel()
	m, b := load(t, `{"StartAt":"T","States":{
	  "T":{"Type":"Task","Resource":"fn","InputPath":"$.missing","End":true,
	    "Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}]},
	  "C":{"Type":"Succeed"}}}`, Registry{"fn": fixed(`{}`)})
	ex := start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, ErrRuntime, ex.Error)
	require.Empty(t, b.pauses())

	f := &failure{Name: ErrTimeout}
	require.False(t, f.matches([]string{ErrTaskFailed}))
	require.True(t, f.matches([]string{ErrAll}))
	require.True(t, (&failure{Name: "TransientError"}).matches([]string{ErrTaskFailed}))
}

func TestTaskTimeout(t *testing.T) {
	t.Parallel()
	block := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ignore := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		time.Sleep(3 * time.Second)
		return json.RawMessage(`{}`), nil
	}
	for name, h := range map[string]Handler{"honours ctx": block, "ignores ctx": ignore} {
		m, _ := load(t, `{"StartAt":"T","States":{
		  "T":{"Type":"Task","Resource":"fn","TimeoutSeconds":1,"End":true,
		    "Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"Wrong"},{"ErrorEquals":["States.Timeout"],"ResultPath":"$.err","Next":"Timed"}]},
		  "Wrong":{"Type":"Fail","Error":"Wrong"},
		  "Timed":{"Type":"Pass","End":true}}}`, Registry{"fn": h})
		ex := start(t, m, `{}`)
		require.Equal(t, StatusSucceeded, ex.Status, name)
		var out struct{ Err struct{ Error, Cause string } }
		require.NoError(t, json.Unmarshal(ex.Output, &out))
		require.Equal(t, ErrTimeout, out.Err.Error, name)
	}
}

// The spec's Map example: InputPath, ItemsPath, an ItemSelector reading
// $$.Map.Item.Value and the effective input, and ResultPath over the
// original array.
func TestMapSpecExample(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	validate := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		seen = append(seen, string(in))
		mu.Unlock()
		var p struct {
			Parcel struct {
				Prod     string
				Quantity int
			}
			Courier string
		}
		if err := json.Unmarshal(in, &p); err != nil {
			return nil, err
		}
		return json.RawMessage(fmt.Sprintf(`{"prod":%q,"ok":%t,"courier":%q}`, p.Parcel.Prod, p.Parcel.Quantity < 1000, p.Courier)), nil
	}
	m, _ := load(t, `{"StartAt":"Validate-All","States":{"Validate-All":{
	  "Type":"Map","InputPath":"$.detail","ItemsPath":"$.shipped","MaxConcurrency":0,
	  "ItemSelector":{"parcel.$":"$$.Map.Item.Value","courier.$":"$.delivery-partner"},
	  "ItemProcessor":{"StartAt":"Validate","States":{"Validate":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:ship-val","End":true}}},
	  "ResultPath":"$.detail.shipped","End":true}}}`,
		Registry{"arn:aws:lambda:us-east-1:123456789012:function:ship-val": validate})
	ex := start(t, m, `{"ship-date":"2016-03-14T01:59:00Z","detail":{"delivery-partner":"UQS","shipped":[
	  {"prod":"R31","dest-code":9511,"quantity":1344},{"prod":"S39","dest-code":9511,"quantity":40},
	  {"prod":"R31","dest-code":9833,"quantity":12},{"prod":"R40","dest-code":9860,"quantity":887},
	  {"prod":"R40","dest-code":9511,"quantity":1220}]}}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"ship-date":"2016-03-14T01:59:00Z","detail":{"delivery-partner":"UQS","shipped":[
	  {"prod":"R31","ok":false,"courier":"UQS"},{"prod":"S39","ok":true,"courier":"UQS"},{"prod":"R31","ok":true,"courier":"UQS"},
	  {"prod":"R40","ok":true,"courier":"UQS"},{"prod":"R40","ok":false,"courier":"UQS"}]}}`, string(ex.Output))
	require.Len(t, seen, 5)
	require.Contains(t, seen, `{"parcel":{"prod":"S39","dest-code":9511,"quantity":40},"courier":"UQS"}`)
}

// The ItemSelector example of the Step Functions documentation, with the
// legacy Parameters and Iterator spelling.
func TestMapItemSelectorDocExample(t *testing.T) {
	t.Parallel()
	m, _ := load(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.shipped",
	  "Parameters":{"ContextIndex.$":"$$.Map.Item.Index","ContextValue.$":"$$.Map.Item.Value","delivery-partner.$":"$.delivery-partner"},
	  "Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, nil)
	ex := start(t, m, `{"delivery-partner":"UQS","shipped":[{"prod":"R31","dest-code":9511,"quantity":1344},{"prod":"S39","dest-code":9511,"quantity":40}]}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `[{"ContextIndex":0,"ContextValue":{"prod":"R31","dest-code":9511,"quantity":1344},"delivery-partner":"UQS"},
	  {"ContextIndex":1,"ContextValue":{"prod":"S39","dest-code":9511,"quantity":40},"delivery-partner":"UQS"}]`, string(ex.Output))
}

func TestMapConcurrencyBound(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	slow := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		return in, nil
	}
	m, _ := load(t, `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":3,
	  "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}},"ResultSelector":{"n.$":"States.ArrayLength($)"},"End":true}}}`,
		Registry{"fn": slow})
	items := make([]string, 40)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	ex := start(t, m, "["+strings.Join(items, ",")+"]")
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"n":40}`, string(ex.Output))
	require.LessOrEqual(t, peak.Load(), int32(3))
	require.GreaterOrEqual(t, peak.Load(), int32(1))
}

func TestMapFailures(t *testing.T) {
	t.Parallel()
	failOdd := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var n int
		if err := json.Unmarshal(in, &n); err != nil {
			return nil, err
		}
		if n%2 == 1 {
			return nil, &namedErr{name: "OddItem", msg: fmt.Sprintf("item %d is odd", n)}
		}
		return in, nil
	}
	const proc = `"ItemProcessor":{%s"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}}`
	tests := []struct {
		name, fields, input string
		wantStatus          Status
		wantErr, wantOutput string
	}{
		{"inline: the iteration's error", fmt.Sprintf(proc, ""), `[0,1,2]`, StatusFailed, "OddItem", ""},
		{"count tolerated", fmt.Sprintf(proc, "") + `,"ToleratedFailureCount":1`, `[0,1,2]`, StatusSucceeded, "",
			`[0,{"Error":"OddItem","Cause":"item 1 is odd"},2]`},
		{"count exceeded", fmt.Sprintf(proc, "") + `,"ToleratedFailureCount":1`, `[0,1,3]`, StatusFailed, ErrExceedToleratedFailureLimit, ""},
		{"percentage tolerated", fmt.Sprintf(proc, "") + `,"ToleratedFailurePercentage":50`, `[0,1,2,3]`, StatusSucceeded, "",
			`[0,{"Error":"OddItem","Cause":"item 1 is odd"},2,{"Error":"OddItem","Cause":"item 3 is odd"}]`},
		{"percentage exceeded", fmt.Sprintf(proc, "") + `,"ToleratedFailurePercentage":50`, `[0,1,3,5]`, StatusFailed, ErrExceedToleratedFailureLimit, ""},
		{"distributed: no tolerance by default", fmt.Sprintf(proc, `"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},`), `[0,1]`, StatusFailed, ErrExceedToleratedFailureLimit, ""},
		{"distributed: tolerated", fmt.Sprintf(proc, `"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},`) + `,"MaxConcurrency":2,"ToleratedFailurePercentage":100`, `[1,2]`,
			StatusSucceeded, "", `[{"Error":"OddItem","Cause":"item 1 is odd"},2]`},
		{"empty", fmt.Sprintf(proc, ""), `[]`, StatusSucceeded, "", `[]`},
	}
	for _, tc := range tests {
		m, _ := load(t, fmt.Sprintf(`{"StartAt":"M","States":{"M":{"Type":"Map",%s,"End":true}}}`, tc.fields), Registry{"fn": failOdd})
		ex := start(t, m, tc.input)
		require.Equal(t, tc.wantStatus, ex.Status, "%s: %s %s", tc.name, ex.Error, ex.Cause)
		require.Equal(t, tc.wantErr, ex.Error, tc.name)
		if tc.wantOutput != "" {
			require.JSONEq(t, tc.wantOutput, string(ex.Output), tc.name)
		}
	}
}

// A Map whose iteration fails is retried and caught like a task.
func TestMapRetryAndCatch(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	m, b := load(t, `{"StartAt":"M","States":{
	  "M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}},
	    "ResultPath":"$.results","Next":"Done",
	    "Retry":[{"ErrorEquals":["TransientError"],"IntervalSeconds":2,"MaxAttempts":1}],
	    "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Failed"}]},
	  "Done":{"Type":"Succeed"},"Failed":{"Type":"Pass","End":true}}}`,
		Registry{"fn": script(&calls, `"ok"`, &cycle.TransientError{Err: errors.New("blip")}, &cycle.TransientError{Err: errors.New("blip again")})})
	ex := start(t, m, `{"items":[1]}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"items":[1],"error":{"Error":"TransientError","Cause":"blip again"}}`, string(ex.Output))
	require.Equal(t, []time.Duration{2 * time.Second}, b.pauses())
}

func TestParallel(t *testing.T) {
	t.Parallel()
	m, _ := load(t, `{"StartAt":"Fan","States":{"Fan":{"Type":"Parallel","Parameters":{"v.$":"$.v"},"ResultPath":"$.branches","End":true,
	  "ResultSelector":{"first.$":"$[0]","second.$":"$[1].w"},
	  "Branches":[
	    {"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},
	    {"StartAt":"B","States":{"B":{"Type":"Task","Resource":"fn","ResultPath":"$.w","End":true}}}]}}}`,
		Registry{"fn": fixed(`"from task"`)})
	ex := start(t, m, `{"v":1}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"v":1,"branches":{"first":{"v":1},"second":"from task"}}`, string(ex.Output))

	m, _ = load(t, `{"StartAt":"Fan","States":{"Fan":{"Type":"Parallel","End":true,
	  "Catch":[{"ErrorEquals":["BranchBroke"],"Next":"Caught"}],
	  "Branches":[
	    {"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},
	    {"StartAt":"B","States":{"B":{"Type":"Fail","Error":"BranchBroke","Cause":"b"}}}]},
	  "Caught":{"Type":"Succeed"}}}`, nil)
	ex = start(t, m, `{}`)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"Error":"BranchBroke","Cause":"b"}`, string(ex.Output))
}

func TestWait(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	def := `{"StartAt":"W1","States":{
	  "W1":{"Type":"Wait","Seconds":10,"Next":"W2"},
	  "W2":{"Type":"Wait","SecondsPath":"$.delay","Next":"W3"},
	  "W3":{"Type":"Wait","Timestamp":"2024-05-01T12:01:00Z","Next":"W4"},
	  "W4":{"Type":"Wait","TimestampPath":"$.until","Next":"W5"},
	  "W5":{"Type":"Wait","Timestamp":"2020-01-01T00:00:00Z","End":true}}}`
	input := `{"delay":3,"until":"2024-05-01T13:00:00+01:00"}`
	m, b := load(t, def, nil, WithClock(func() time.Time { return now }))
	ex := start(t, m, input)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, input, string(ex.Output))
	require.Equal(t, []time.Duration{10 * time.Second, 3 * time.Second, time.Minute}, b.pauses(), "12:00 +01:00 is now; a past timestamp does not wait")

	m, b = load(t, def, nil, SkipWaits())
	ex = start(t, m, input)
	require.Equal(t, StatusSucceeded, ex.Status)
	require.Empty(t, b.pauses())

	m, _ = load(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.delay","End":true}}}`, nil)
	ex = start(t, m, `{"delay":-1}`)
	require.Equal(t, ErrRuntime, ex.Error)
}

func TestAbort(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	block := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	m, _ := load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}]},"C":{"Type":"Succeed"}}}`,
		Registry{"fn": block})
	ex, err := m.Start(ctx, ExecutionOptions{})
	require.NoError(t, err)
	require.Equal(t, StatusAborted, ex.Status)
	require.Equal(t, ExecutionAborted, ex.History[len(ex.History)-1].Type)

	// The stop flag is read before each state.
	var stop atomic.Bool
	m, _ = load(t, `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"fn","Next":"B"},"B":{"Type":"Pass","End":true}}}`,
		Registry{"fn": func(context.Context, json.RawMessage) (json.RawMessage, error) {
			stop.Store(true)
			return json.RawMessage(`{}`), nil
		}})
	ex, err = m.Start(context.Background(), ExecutionOptions{StopRequested: stop.Load, StopReason: "schedule paused by the operator"})
	require.NoError(t, err)
	require.Equal(t, StatusAborted, ex.Status)
	require.Equal(t, "schedule paused by the operator", ex.Cause)
	for _, e := range ex.History {
		require.NotEqual(t, "B", e.State, "no state runs after the stop flag")
	}
}

func TestExecutionTimeout(t *testing.T) {
	t.Parallel()
	m, _ := load(t, `{"TimeoutSeconds":1,"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","TimeoutSeconds":30,"End":true}}}`,
		Registry{"fn": func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}})
	ex := start(t, m, `{}`)
	require.Equal(t, StatusTimedOut, ex.Status)
	require.Equal(t, ErrTimeout, ex.Error)
}

func TestDataLimit(t *testing.T) {
	t.Parallel()
	big := `"` + strings.Repeat("x", MaxPayloadBytes) + `"`
	m, _ := load(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}]},"C":{"Type":"Succeed"}}}`,
		Registry{"fn": fixed(big)})
	ex := start(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, "States.DataLimitExceeded", ex.Error)
}

func TestEventsAndHistory(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	m, _ := load(t, `{"StartAt":"A","States":{
	  "A":{"Type":"Pass","Result":[1,2],"Next":"M"},
	  "M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"MaxConcurrency":1,"End":true}}}`, nil,
		OnEvent(func(e Event) {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %s %s", e.Type, e.Scope, e.State))
			mu.Unlock()
		}))
	ex := start(t, m, `{}`)
	require.Equal(t, StatusSucceeded, ex.Status)
	require.Equal(t, []string{
		"ExecutionStarted  ", "StateEntered  A", "StateExited  A", "StateEntered  M",
		"MapIterationStarted M[0] M", "StateEntered M[0] I", "StateExited M[0] I", "MapIterationSucceeded M[0] M",
		"MapIterationStarted M[1] M", "StateEntered M[1] I", "StateExited M[1] I", "MapIterationSucceeded M[1] M",
		"StateExited  M", "ExecutionSucceeded  ",
	}, seen)
	require.Len(t, ex.History, len(seen))
	require.JSONEq(t, `{}`, string(ex.History[1].Input))
	require.JSONEq(t, `[1,2]`, string(ex.History[2].Output))
	require.Equal(t, "M", ex.History[2].Next)
	require.Equal(t, "arn:aws:states:local:000000000000:execution:local:test", ex.ID)
}

func TestStartInputErrors(t *testing.T) {
	t.Parallel()
	m, _ := load(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, nil)
	_, err := m.Start(context.Background(), ExecutionOptions{Input: json.RawMessage(`{`)})
	require.Error(t, err)
	_, err = m.Start(context.Background(), ExecutionOptions{Name: "has space"})
	require.Error(t, err)
	ex, err := m.Start(context.Background(), ExecutionOptions{})
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(ex.Output))
	require.Len(t, ex.Name, 36, "a generated name is a UUID")
}
