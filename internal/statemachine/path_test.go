package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// mustDecode parses a JSON document for a test.
func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s), false)
	require.NoError(t, err, s)
	return v
}

// requireJSON asserts that v encodes to the JSON document want.
func requireJSON(t testing.TB, want string, v any) {
	t.Helper()
	got, err := encodeJSON(v)
	require.NoError(t, err)
	require.JSONEq(t, want, string(got))
}

const storeDoc = `{
  "store": {
    "book": [
      {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
      {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
      {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99}
    ],
    "bicycle": {"color": "red", "price": 19.95}
  },
  "odd key": 1,
  "a.b": 2
}`

func TestPathEval(t *testing.T) {
	t.Parallel()
	doc := mustDecode(t, storeDoc)
	tests := []struct {
		path string
		want string
	}{
		{"$", storeDoc},
		{"$.store.bicycle.color", `"red"`},
		{"$['store']['bicycle']['price']", `19.95`},
		{`$["odd key"]`, `1`},
		{"$['a.b']", `2`},
		{"$.store.book[0].title", `"Sayings of the Century"`},
		{"$.store.book[-1].author", `"Herman Melville"`},
		{"$.store.book[*].author", `["Nigel Rees","Evelyn Waugh","Herman Melville"]`},
		{"$.store.book[0:2].price", `[8.95,12.99]`},
		{"$.store.book[-2:].price", `[12.99,8.99]`},
		{"$.store.book[::2].price", `[8.95,8.99]`},
		{"$.store.book[0,2].price", `[8.95,8.99]`},
		{"$.store.bicycle['color','price']", `["red",19.95]`},
		{"$..price", `[8.95,12.99,8.99,19.95]`},
		{"$.store.*.color", `["red"]`},
		{"$.store.book[?(@.isbn)].title", `["Moby Dick"]`},
		{"$.store.book[?(@.price < 10)].title", `["Sayings of the Century","Moby Dick"]`},
		{"$.store.book[?(@.category == 'fiction' && @.price > 10)].title", `["Sword of Honour"]`},
		{"$.store.book[?(@.category != 'fiction' || @.price >= 12.99)].author", `["Nigel Rees","Evelyn Waugh"]`},
		{"$.store.book[?(!(@.price < 10))].title", `["Sword of Honour"]`},
		{"$.store.book[?(@.price > $.store.bicycle.price)]", `[]`},
		{"$.nothing[*]", `[]`},
	}
	for _, tc := range tests {
		p, err := ParsePath(tc.path)
		require.NoError(t, err, tc.path)
		got, err := p.eval(doc, nil)
		require.NoError(t, err, tc.path)
		requireJSON(t, tc.want, got)
	}
}

func TestPathDefiniteMissing(t *testing.T) {
	t.Parallel()
	doc := mustDecode(t, storeDoc)
	for _, path := range []string{"$.nothing", "$.store.book[3]", "$.store.bicycle.color.x", "$.store[0]"} {
		p, err := ParsePath(path)
		require.NoError(t, err)
		_, err = p.eval(doc, nil)
		var nf *pathNotFoundError
		require.ErrorAs(t, err, &nf, path)
	}
}

func TestPathContext(t *testing.T) {
	t.Parallel()
	p, err := ParsePath("$$.Execution.Name")
	require.NoError(t, err)
	got, err := p.eval(mustDecode(t, `{}`), mustDecode(t, `{"Execution":{"Name":"run-1"}}`))
	require.NoError(t, err)
	require.Equal(t, "run-1", got)
}

func TestPathParseErrors(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		"", "store", "$.", "$..", "$[", "$['a'", "$[a]", "$.a b", "$.length()", "$.a[1:2:0]",
		"$[?(@.a =~ /x/)]", "$[?(@.a ==)]", "$[?(@.a)", "$.a)", "$[?(1)]",
	} {
		_, err := ParsePath(path)
		require.Error(t, err, "%q should not parse", path)
	}
}

func TestReferencePath(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"$", "$.a", "$.a.b[0]", "$['a b'].c", "$$.Map.Item.Value"} {
		_, err := parseReferencePath(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"$.a[*]", "$..a", "$.a[0:1]", "$.a[?(@.b)]", "$['a','b']"} {
		_, err := parseReferencePath(bad)
		require.Error(t, err, bad)
	}
}

// The ResultPath examples of the spec's "Input and Output Processing"
// section, plus the failures it names.
func TestSetPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		input, path, result, want string
	}{
		{`{"master":{"detail":[1,2,3]}}`, "$.master.detail", `"Hello"`, `{"master":{"detail":"Hello"}}`},
		{`{"master":{"detail":[1,2,3]}}`, "$.master.result.sum", `6`, `{"master":{"detail":[1,2,3],"result":{"sum":6}}}`},
		{`{"master":{"detail":[1,2,3]}}`, "$.master.detail[0]", `"x"`, `{"master":{"detail":["x",2,3]}}`},
		{`{"a":1}`, "$.b", `{"c":true}`, `{"a":1,"b":{"c":true}}`},
	}
	for _, tc := range tests {
		in := mustDecode(t, tc.input)
		before, _ := encodeJSON(in)
		p, err := parseReferencePath(tc.path)
		require.NoError(t, err)
		got, err := setPath(in, p, mustDecode(t, tc.result))
		require.NoError(t, err, tc.path)
		requireJSON(t, tc.want, got)
		after, _ := encodeJSON(in)
		require.Equal(t, string(before), string(after), "setPath must not modify its input")
	}
	for _, tc := range []struct{ input, path string }{
		{`"a string"`, "$.x"},
		{`{"a":"s"}`, "$.a.b"},
		{`{"a":[1]}`, "$.a[3]"},
		{`{"a":1}`, "$.b[0]"},
	} {
		p, err := parseReferencePath(tc.path)
		require.NoError(t, err)
		_, err = setPath(mustDecode(t, tc.input), p, "x")
		var rp *resultPathError
		require.ErrorAs(t, err, &rp, "%s on %s", tc.path, tc.input)
	}
}

// The payload template example of the spec ("Parameters"), with its
// context object.
func TestPayloadTemplateSpecExample(t *testing.T) {
	t.Parallel()
	tmpl := mustDecode(t, `{
	  "flagged": true,
	  "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
	  "weekday.$": "$$.DayOfWeek",
	  "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)"
	}`)
	p, err := compilePayload(tmpl)
	require.NoError(t, err)
	got, err := p.eval(&evalEnv{}, mustDecode(t, `{"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}`), mustDecode(t, `{"DayOfWeek": "TUESDAY"}`))
	require.NoError(t, err)
	requireJSON(t, `{"flagged":true,"parts":{"first":0,"last3":[30,40,50]},"weekday":"TUESDAY","formattedOutput":"Today is TUESDAY"}`, got)
	// Members keep the template's order.
	b, _ := encodeJSON(got)
	require.Equal(t, `{"flagged":true,"parts":{"first":0,"last3":[30,40,50]},"weekday":"TUESDAY","formattedOutput":"Today is TUESDAY"}`, string(b))
}

func TestPayloadTemplateErrors(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{
		`{"a.$": 1}`, `{"a.$": "nope"}`, `{"a.$": "States.Nope()"}`, `{"a": 1, "a.$": "$.a"}`, `{"x": [{"b.$": "$["}]}`,
	} {
		_, err := compilePayload(mustDecode(t, tmpl))
		require.Error(t, err, tmpl)
	}
	p, err := compilePayload(mustDecode(t, `{"a.$": "$.missing"}`))
	require.NoError(t, err)
	_, err = p.eval(&evalEnv{}, mustDecode(t, `{}`), nil)
	var pe *payloadError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), `"a.$"`)
}

func TestJSONRoundTripKeepsOrderAndNumbers(t *testing.T) {
	t.Parallel()
	in := `{"z":1,"a":{"y":12345678901234567890,"b":1.50,"c":"<&>\u2028"},"m":[true,null,-0.5e3]}`
	v := mustDecode(t, in)
	b, err := encodeJSON(v)
	require.NoError(t, err)
	require.Equal(t, `{"z":1,"a":{"y":12345678901234567890,"b":1.50,"c":"<&>`+"\u2028"+`"},"m":[true,null,-0.5e3]}`, string(b))
	_, err = decodeJSON([]byte(`{"a":1,"a":2}`), true)
	require.ErrorIs(t, err, errDuplicateKey)
	_, err = decodeJSON([]byte(`{} {}`), false)
	require.Error(t, err)
}
