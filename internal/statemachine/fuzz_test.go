package statemachine

import (
	"errors"
	"testing"
)

// FuzzPath parses arbitrary paths and evaluates the ones that parse
// against a fixed document: nothing may panic, a definite path yields one
// node or a not-found error, an indefinite one an array, and setting a
// reference path leaves the input untouched.
func FuzzPath(f *testing.F) {
	for _, s := range []string{
		"$", "$$", "$.store.book[0].title", "$['odd key']", "$..price", "$.store.book[*].author", "$.store.book[-2:]",
		"$.store.book[?(@.price < 10 && @.isbn)].title", "$$.Execution.Input.a", "$.a[0,1]", "$['a','b']", "$.x.y.z",
	} {
		f.Add(s)
	}
	doc, err := decodeJSON([]byte(storeDoc), false)
	if err != nil {
		f.Fatal(err)
	}
	ctx, err := decodeJSON([]byte(`{"Execution":{"Input":{"a":[1,2]},"Name":"n"},"Map":{"Item":{"Index":0}}}`), false)
	if err != nil {
		f.Fatal(err)
	}
	before, _ := encodeJSON(doc)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		v, err := p.eval(doc, ctx)
		if p.definite {
			var nf *pathNotFoundError
			if err != nil && !errors.As(err, &nf) {
				t.Fatalf("%q: unexpected error %v", s, err)
			}
		} else {
			if err != nil {
				t.Fatalf("%q: an indefinite path failed: %v", s, err)
			}
			if _, ok := v.([]any); !ok {
				t.Fatalf("%q: an indefinite path gave %T", s, v)
			}
		}
		if err == nil {
			if _, err := encodeJSON(v); err != nil {
				t.Fatalf("%q: result does not encode: %v", s, err)
			}
		}
		if p.isReference() && !p.context {
			out, err := setPath(doc, p, "x")
			if err == nil && len(p.segs) > 0 {
				got, gerr := p.eval(out, nil)
				if gerr != nil || got != "x" {
					t.Fatalf("%q: set then get gave %v, %v", s, got, gerr)
				}
			}
		}
		if after, _ := encodeJSON(doc); string(after) != string(before) {
			t.Fatalf("%q modified the document", s)
		}
	})
}

// FuzzIntrinsic parses arbitrary intrinsic invocations and evaluates the
// ones that parse: nothing may panic, failures are path-not-found or
// intrinsic errors, and results encode as JSON.
func FuzzIntrinsic(f *testing.F) {
	for _, s := range []string{
		"States.Format('Hello, {}', $.name)", `States.Format('\{\}{}', 1)`, "States.StringToJson($.json)",
		"States.JsonToString($.o)", "States.Array(1, 'a', true, null, $.o)", "States.ArrayPartition($.a, 2)",
		"States.ArrayContains($.a, 3)", "States.ArrayRange(1, 9, 2)", "States.ArrayGetItem($.a, 1)",
		"States.ArrayLength($.a)", "States.ArrayUnique($.a)", "States.Base64Encode($.name)", "States.Base64Decode('YQ==')",
		"States.Hash($.name, 'SHA-256')", "States.JsonMerge($.o, $.o, false)", "States.MathRandom(1, 10, 3)",
		"States.MathAdd($.a[0], -1)", "States.StringSplit('a,b', ',')", "States.UUID()",
		"States.Format('{}', States.ArrayGetItem(States.StringSplit($.name, 'r'), 0))",
	} {
		f.Add(s)
	}
	doc, err := decodeJSON([]byte(`{"name":"Arnav","json":"{\"a\":1}","o":{"k":[1,{"x":null}]},"a":[1,2,3,3]}`), false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseIntrinsic(s)
		if err != nil {
			return
		}
		env := &evalEnv{rand: func() float64 { return 0.25 }}
		v, err := c.eval(env, doc, newObject(0))
		if err != nil {
			var nf *pathNotFoundError
			var ie *intrinsicError
			if !errors.As(err, &nf) && !errors.As(err, &ie) {
				t.Fatalf("%q: unexpected error %T %v", s, err, err)
			}
			return
		}
		if _, err := encodeJSON(v); err != nil {
			t.Fatalf("%q: result does not encode: %v", s, err)
		}
	})
}
