package statemachine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// choiceMachine wraps Choices and Default in a machine whose targets are
// Pass states that output their own name.
func choiceMachine(t *testing.T, choices string, targets ...string) *Machine {
	t.Helper()
	states := ""
	for _, n := range targets {
		states += fmt.Sprintf(`,%q:{"Type":"Pass","Result":%q,"End":true}`, n, n)
	}
	def := fmt.Sprintf(`{"StartAt":"Choose","States":{"Choose":{"Type":"Choice",%s}%s}}`, choices, states)
	m, err := Load([]byte(def), nil)
	require.NoError(t, err, def)
	return m
}

func choose(t *testing.T, m *Machine, input string) *Execution {
	t.Helper()
	ex, err := m.Start(context.Background(), ExecutionOptions{Input: json.RawMessage(input)})
	require.NoError(t, err)
	return ex
}

// The Choice state example of the spec (ChoiceStateX), with inputs that
// take each of its branches.
func TestChoiceSpecExample(t *testing.T) {
	t.Parallel()
	m := choiceMachine(t, `
	  "Choices": [
	    {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
	    {"And": [
	      {"Variable": "$.value", "IsPresent": true},
	      {"Variable": "$.value", "IsNumeric": true},
	      {"Variable": "$.value", "NumericGreaterThanEquals": 20},
	      {"Variable": "$.value", "NumericLessThan": 30}
	    ], "Next": "ValueInTwenties"},
	    {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold", "Next": "StartAudit"}
	  ],
	  "Default": "RecordEvent"`, "Public", "ValueInTwenties", "StartAudit", "RecordEvent")
	tests := []struct{ input, want string }{
		{`{"type":"Public","value":22}`, "Public"},
		{`{"type":"Private","value":22}`, "ValueInTwenties"},
		{`{"type":"Private","value":"22","rating":53,"auditThreshold":50}`, "StartAudit"},
		{`{"type":"Private","value":30,"rating":40,"auditThreshold":50}`, "RecordEvent"},
		{`{"type":"Private","rating":1,"auditThreshold":0}`, "StartAudit"},
	}
	for _, tc := range tests {
		ex := choose(t, m, tc.input)
		require.Equal(t, StatusSucceeded, ex.Status, "%s: %s %s", tc.input, ex.Error, ex.Cause)
		require.JSONEq(t, fmt.Sprintf("%q", tc.want), string(ex.Output), tc.input)
	}
}

// Every comparator, its Path form, and the type rules: a value of the
// wrong type makes the comparison false.
func TestChoiceComparators(t *testing.T) {
	t.Parallel()
	input := `{"s":"beta","n":10,"b":true,"ts":"2016-03-14T01:59:00Z","null":null,
	  "s2":"beta","n2":10.0,"b2":false,"ts2":"2016-03-14T02:00:00+00:00","file":"log-2024.txt","star":"a*b"}`
	tests := []struct {
		rule string
		want bool
	}{
		{`"Variable":"$.s","StringEquals":"beta"`, true},
		{`"Variable":"$.s","StringLessThan":"gamma"`, true},
		{`"Variable":"$.s","StringGreaterThan":"alpha"`, true},
		{`"Variable":"$.s","StringLessThanEquals":"beta"`, true},
		{`"Variable":"$.s","StringGreaterThanEquals":"betb"`, false},
		{`"Variable":"$.s","StringEqualsPath":"$.s2"`, true},
		{`"Variable":"$.n","StringEquals":"10"`, false},
		{`"Variable":"$.n","NumericEquals":10`, true},
		{`"Variable":"$.n","NumericEqualsPath":"$.n2"`, true},
		{`"Variable":"$.n","NumericLessThan":10.5`, true},
		{`"Variable":"$.n","NumericGreaterThan":10`, false},
		{`"Variable":"$.n","NumericLessThanEquals":10`, true},
		{`"Variable":"$.n","NumericGreaterThanEquals":11`, false},
		{`"Variable":"$.n","NumericLessThanPath":"$.s"`, false},
		{`"Variable":"$.s","NumericEquals":10`, false},
		{`"Variable":"$.b","BooleanEquals":true`, true},
		{`"Variable":"$.b","BooleanEqualsPath":"$.b2"`, false},
		{`"Variable":"$.ts","TimestampEquals":"2016-03-14T01:59:00Z"`, true},
		{`"Variable":"$.ts","TimestampLessThan":"2016-03-14T02:00:00Z"`, true},
		{`"Variable":"$.ts","TimestampGreaterThanPath":"$.ts2"`, false},
		{`"Variable":"$.ts","TimestampLessThanEqualsPath":"$.ts2"`, true},
		{`"Variable":"$.ts","TimestampGreaterThanEquals":"2016-03-14T01:59:00Z"`, true},
		{`"Variable":"$.s","TimestampEquals":"2016-03-14T01:59:00Z"`, false},
		{`"Variable":"$.file","StringMatches":"log-*.txt"`, true},
		{`"Variable":"$.file","StringMatches":"*.csv"`, false},
		{`"Variable":"$.star","StringMatches":"a\\*b"`, true},
		{`"Variable":"$.file","StringMatches":"a\\*b"`, false},
		{`"Variable":"$.file","StringMatches":"*"`, true},
		{`"Variable":"$.null","IsNull":true`, true},
		{`"Variable":"$.s","IsNull":false`, true},
		{`"Variable":"$.missing","IsPresent":false`, true},
		{`"Variable":"$.null","IsPresent":true`, true},
		{`"Variable":"$.n","IsNumeric":true`, true},
		{`"Variable":"$.s","IsString":true`, true},
		{`"Variable":"$.b","IsBoolean":true`, true},
		{`"Variable":"$.ts","IsTimestamp":true`, true},
		{`"Variable":"$.s","IsTimestamp":true`, false},
		{`"Or":[{"Variable":"$.n","NumericEquals":1},{"Variable":"$.n","NumericEquals":10}]`, true},
		{`"And":[{"Variable":"$.n","NumericEquals":10},{"Not":{"Variable":"$.b","BooleanEquals":true}}]`, false},
	}
	for _, tc := range tests {
		m := choiceMachine(t, fmt.Sprintf(`"Choices":[{%s,"Next":"Yes"}],"Default":"No"`, tc.rule), "Yes", "No")
		ex := choose(t, m, input)
		require.Equal(t, StatusSucceeded, ex.Status, "%s: %s", tc.rule, ex.Cause)
		want := `"No"`
		if tc.want {
			want = `"Yes"`
		}
		require.JSONEq(t, want, string(ex.Output), tc.rule)
	}
}

func TestChoiceFailures(t *testing.T) {
	t.Parallel()
	// No rule and no Default: States.NoChoiceMatched.
	m := choiceMachine(t, `"Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"Yes"}]`, "Yes")
	ex := choose(t, m, `{"n":2}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, ErrNoChoiceMatched, ex.Error)
	// A Variable that finds nothing: States.Runtime.
	ex = choose(t, m, `{}`)
	require.Equal(t, StatusFailed, ex.Status)
	require.Equal(t, ErrRuntime, ex.Error)
	require.Contains(t, ex.Cause, "$.n")
	// Choice output: InputPath then OutputPath of the effective input.
	m2, err := Load([]byte(`{"StartAt":"C","States":{
	  "C":{"Type":"Choice","InputPath":"$.a","OutputPath":"$.b","Choices":[{"Variable":"$.b.c","IsPresent":true,"Next":"D"}]},
	  "D":{"Type":"Succeed"}}}`), nil)
	require.NoError(t, err)
	ex = choose(t, m2, `{"a":{"b":{"c":1}}}`)
	require.Equal(t, StatusSucceeded, ex.Status)
	require.JSONEq(t, `{"c":1}`, string(ex.Output))
}

func TestChoiceRuleRefusals(t *testing.T) {
	t.Parallel()
	for _, rule := range []string{
		`{"Variable":"$.a","StringEquals":1,"Next":"N"}`,
		`{"Variable":"$.a","NumericEquals":"1","Next":"N"}`,
		`{"Variable":"$.a","BooleanEquals":"true","Next":"N"}`,
		`{"Variable":"$.a","TimestampEquals":"2016-03-14 01:59:00","Next":"N"}`,
		`{"Variable":"$.a","NumericEqualsPath":"$.b[*]","Next":"N"}`,
		`{"Variable":"$.a","StringMatchesPath":"$.b","Next":"N"}`,
		`{"Variable":"$.a","StringMatches":"a\\b","Next":"N"}`,
		`{"Variable":"$.a","StringEquals":"x","NumericEquals":1,"Next":"N"}`,
		`{"Variable":"$.a","Next":"N"}`,
		`{"Variable":"$.a","StringEquals":"x"}`,
		`{"And":[{"Variable":"$.a","StringEquals":"x","Next":"N"}],"Next":"N"}`,
		`{"And":[],"Next":"N"}`,
		`{"Variable":"$.a","Unknown":1,"Next":"N"}`,
		`{"Variable":"a","StringEquals":"x","Next":"N"}`,
	} {
		_, err := compileChoiceRule(mustDecode(t, rule), true)
		require.Error(t, err, rule)
	}
}
