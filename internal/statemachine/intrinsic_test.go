package statemachine

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func evalIntrinsic(t *testing.T, expr, input string) (any, error) {
	t.Helper()
	c, err := parseIntrinsic(expr)
	require.NoError(t, err, expr)
	seq := 0.0
	env := &evalEnv{rand: func() float64 { seq += 0.1; return seq - float64(int(seq)) }}
	return c.eval(env, mustDecode(t, input), mustDecode(t, `{"Execution":{"Name":"exec-7"}}`))
}

// The examples of the Step Functions documentation's intrinsic functions
// page, each with its documented input and result.
func TestIntrinsicDocExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, input, want string
	}{
		{"States.Format('Hello, my name is {}.', $.name)", `{"name":"Arnav","template":"Hello, my name is {}."}`, `"Hello, my name is Arnav."`},
		{"States.Format($.template, $.name)", `{"name":"Arnav","template":"Hello, my name is {}."}`, `"Hello, my name is Arnav."`},
		{"States.StringToJson($.escapedJsonString)", `{"escapedJsonString":"{\"foo\": \"bar\"}"}`, `{"foo":"bar"}`},
		{"States.JsonToString($.unescapedJson)", `{"unescapedJson":{"foo":"bar"}}`, `"{\"foo\":\"bar\"}"`},
		{"States.Array($.Id)", `{"Id":123456}`, `[123456]`},
		{"States.ArrayPartition($.inputArray,4)", `{"inputArray":[1,2,3,4,5,6,7,8,9]}`, `[[1,2,3,4],[5,6,7,8],[9]]`},
		{"States.ArrayContains($.inputArray, $.lookingFor)", `{"inputArray":[1,2,3,4,5,6,7,8,9],"lookingFor":5}`, `true`},
		{"States.ArrayRange(1, 9, 2)", `{}`, `[1,3,5,7,9]`},
		{"States.ArrayGetItem($.inputArray, $.index)", `{"inputArray":[1,2,3,4,5,6,7,8,9],"index":5}`, `6`},
		{"States.ArrayLength($.inputArray)", `{"inputArray":[1,2,3,4,5,6,7,8,9]}`, `9`},
		{"States.ArrayUnique($.inputArray)", `{"inputArray":[1,2,3,3,3,3,3,3,4]}`, `[1,2,3,4]`},
		{"States.Base64Encode($.input)", `{"input":"Data to encode"}`, `"RGF0YSB0byBlbmNvZGU="`},
		{"States.Base64Decode($.base64)", `{"base64":"RGF0YSB0byBlbmNvZGU="}`, `"Data to encode"`},
		{"States.Hash($.Data, $.Algorithm)", `{"Data":"input data","Algorithm":"SHA-1"}`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`},
		{"States.JsonMerge($.json1, $.json2, false)", `{"json1":{"a":{"a1":1,"a2":2},"b":2},"json2":{"a":{"a3":1,"a4":2},"c":3}}`, `{"a":{"a3":1,"a4":2},"b":2,"c":3}`},
		{"States.MathAdd($.value1, $.step)", `{"value1":111,"step":-1}`, `110`},
		{"States.StringSplit($.inputString, $.splitter)", `{"inputString":"1,2,3,4,5","splitter":","}`, `["1","2","3","4","5"]`},
		{"States.StringSplit($.inputString, $.splitter)", `{"inputString":"This.is+a,test=string","splitter":".+,="}`, `["This","is","a","test","string"]`},
		// Escapes, literals, the context object and nesting.
		{`States.Format('\{\} {} \'{}\' \\', 'x', 2)`, `{}`, `"{} x '2' \\"`},
		{"States.Format('{}-{}-{}', true, null, 1.5)", `{}`, `"true-null-1.5"`},
		{"States.Format('run {}', $$.Execution.Name)", `{}`, `"run exec-7"`},
		{"States.Array()", `{}`, `[]`},
		{"States.Array('a', 1, true, null, $.o, States.Array(2))", `{"o":{"k":"v"}}`, `["a",1,true,null,{"k":"v"},[2]]`},
		{"States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 2), '.'), 1))",
			`{"arn":"arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/test-recipe/1.0.1"}`, `"1.0"`},
		{"States.ArrayRange(5, 1, -2)", `{}`, `[5,3,1]`},
		{"States.ArrayRange(1, 0, 1)", `{}`, `[]`},
		{"States.ArrayContains($.a, $.o)", `{"a":[1,{"y":2,"x":1}],"o":{"x":1,"y":2.0}}`, `true`},
		{"States.JsonToString($.o)", `{"o":{"z":1,"a":[1,"<b>"]}}`, `"{\"z\":1,\"a\":[1,\"<b>\"]}"`},
		{"States.Hash('', 'SHA-256')", `{}`, `"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"`},
		{"States.MathAdd(1.5, 2)", `{}`, `3.5`},
		{"States.StringSplit('a,,b', ',')", `{}`, `["a","b"]`},
	}
	for _, tc := range tests {
		got, err := evalIntrinsic(t, tc.expr, tc.input)
		require.NoError(t, err, tc.expr)
		requireJSON(t, tc.want, got)
	}
}

func TestIntrinsicRandom(t *testing.T) {
	t.Parallel()
	got, err := evalIntrinsic(t, "States.UUID()", `{}`)
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), got)
	for i := 0; i < 20; i++ {
		got, err := evalIntrinsic(t, "States.MathRandom($.start, $.end)", `{"start":1,"end":999}`)
		require.NoError(t, err)
		n, ok := toInt(got)
		require.True(t, ok)
		require.True(t, n >= 1 && n < 999, "%d out of [1, 999)", n)
	}
	a, err := evalIntrinsic(t, "States.MathRandom(0, 1000000, 42)", `{}`)
	require.NoError(t, err)
	b, err := evalIntrinsic(t, "States.MathRandom(0, 1000000, 42)", `{}`)
	require.NoError(t, err)
	require.Equal(t, a, b, "a seed makes States.MathRandom repeatable")
}

func TestIntrinsicParseErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"States.Nope()", "States.Format", "States.Format('{}')", "States.Format('a', 1)", "States.Format(1)",
		"States.UUID(1)", "States.JsonMerge($.a, $.b)", "States.Array('a'", "States.Array('a)", `States.Array('\n')`,
		"States.Array(x)", "States.Array($.a b)", "States.Array(1) extra", "States.Array(,)",
		"States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array())))))))))))",
	} {
		_, err := parseIntrinsic(expr)
		require.Error(t, err, expr)
	}
}

func TestIntrinsicRuntimeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, input string }{
		{"States.Format($.t, 1)", `{"t":"no placeholder"}`},
		{"States.Format('{}', $.o)", `{"o":{}}`},
		{"States.StringToJson($.s)", `{"s":"{nope"}`},
		{"States.ArrayGetItem($.a, 3)", `{"a":[1]}`},
		{"States.ArrayLength($.a)", `{"a":"no"}`},
		{"States.ArrayPartition($.a, 0)", `{"a":[1]}`},
		{"States.ArrayRange(0, 5000, 1)", `{}`},
		{"States.ArrayRange(0, 5, 0)", `{}`},
		{"States.Base64Decode('***')", `{}`},
		{"States.Hash('x', 'SHA-3')", `{}`},
		{"States.JsonMerge($.a, $.a, true)", `{"a":{}}`},
		{"States.MathRandom(5, 5)", `{}`},
		{"States.MathAdd('1', 2)", `{}`},
	} {
		_, err := evalIntrinsic(t, tc.expr, tc.input)
		var ie *intrinsicError
		require.ErrorAs(t, err, &ie, tc.expr)
	}
	_, err := evalIntrinsic(t, "States.Array($.missing)", `{}`)
	var nf *pathNotFoundError
	require.ErrorAs(t, err, &nf)
}
