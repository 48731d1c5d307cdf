package statemachine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Definitions the local executor refuses, each with the words the error
// must contain: the state and the feature.
func TestLoadRefusals(t *testing.T) {
	t.Parallel()
	proc := `"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}`
	tests := []struct {
		name, def string
		want      []string
	}{
		{"ItemReader", `{"StartAt":"Split","States":{"Split":{"Type":"Map",` + proc + `,"ItemReader":{"Resource":"arn:aws:states:::s3:getObject"},"End":true}}}`,
			[]string{`state "Split": ItemReader is not supported by the local executor`}},
		{"ResultWriter", `{"StartAt":"M","States":{"M":{"Type":"Map",` + proc + `,"ResultWriter":{},"End":true}}}`, []string{`"M"`, "ResultWriter"}},
		{"ItemBatcher", `{"StartAt":"M","States":{"M":{"Type":"Map",` + proc + `,"ItemBatcher":{},"End":true}}}`, []string{`"M"`, "ItemBatcher"}},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, []string{"JSONata"}},
		{"JSONata state", `{"StartAt":"P","States":{"P":{"Type":"Pass","QueryLanguage":"JSONata","End":true}}}`, []string{`"P"`, "JSONata"}},
		{"Assign", `{"StartAt":"P","States":{"P":{"Type":"Pass","Assign":{"x":1},"End":true}}}`, []string{`"P"`, "Assign"}},
		{"TimeoutSecondsPath", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","TimeoutSecondsPath":"$.t","End":true}}}`, []string{`"T"`, "TimeoutSecondsPath"}},
		{"Credentials", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","Credentials":{},"End":true}}}`, []string{`"T"`, "Credentials"}},
		{"no handler", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:x","End":true}}}`, []string{`"T"`, `"arn:aws:lambda:x"`, "no handler"}},
		{"ResultSelector on Pass", `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultSelector":{},"End":true}}}`, []string{`"P"`, "ResultSelector", "Pass"}},
		{"processor mode", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"FAST"},"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`, []string{`"M"`, "Mode"}},
		// Structure.
		{"not JSON", `{"StartAt":`, []string{"not valid JSON"}},
		{"StartAt missing", `{"StartAt":"Nope","States":{"P":{"Type":"Pass","End":true}}}`, []string{`StartAt "Nope"`}},
		{"Next missing", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Q"}}}`, []string{`state "P"`, `"Q"`}},
		{"no Next or End", `{"StartAt":"P","States":{"P":{"Type":"Pass"}}}`, []string{`state "P"`, "Next"}},
		{"Next and End", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Q","End":true},"Q":{"Type":"Succeed"}}}`, []string{`state "P"`, "both"}},
		{"End on Succeed", `{"StartAt":"S","States":{"S":{"Type":"Succeed","End":true}}}`, []string{`state "S"`, `"End"`}},
		{"unreachable", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true},"Q":{"Type":"Pass","End":true}}}`, []string{`state "Q"`, "reaches"}},
		{"duplicate state", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true},"P":{"Type":"Pass","End":true}}}`, []string{"duplicate", `"P"`}},
		{"nested duplicate", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"M","States":{"M":{"Type":"Pass","End":true}}},"End":true}}}`, []string{`"M"`, "twice"}},
		{"Next out of the scope", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Next":"After"}}},"Next":"After"},"After":{"Type":"Succeed"}}}`, []string{`state "I"`, `"After"`}},
		{"unknown type", `{"StartAt":"P","States":{"P":{"Type":"Sleep","End":true}}}`, []string{`state "P"`, "Sleep"}},
		{"bad InputPath", `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"dataset","End":true}}}`, []string{`state "P"`, "InputPath"}},
		{"ResultPath not a reference", `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, []string{`state "P"`, "ResultPath"}},
		{"ResultPath into context", `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$$.a","End":true}}}`, []string{`state "P"`, "context"}},
		{"bad intrinsic", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a.$":"States.Format('{}')"},"End":true}}}`, []string{`state "P"`, "Parameters", "placeholders"}},
		{"retry ALL not last", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}}}`, []string{`"T"`, "last"}},
		{"retry ALL not alone", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Retry":[{"ErrorEquals":["States.ALL","X"]}]}}}`, []string{`"T"`, "alone"}},
		{"retry bad backoff", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]}}}`, []string{`"T"`, "BackoffRate"}},
		{"retry bad jitter", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]}}}`, []string{`"T"`, "JitterStrategy"}},
		{"unknown States error", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Retry":[{"ErrorEquals":["States.Oops"]}]}}}`, []string{`"T"`, "States.Oops"}},
		{"catch without Next", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Catch":[{"ErrorEquals":["X"]}]}}}`, []string{`"T"`, "Next"}},
		{"catch to nowhere", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true,"Catch":[{"ErrorEquals":["X"],"Next":"Gone"}]}}}`, []string{`"T"`, `"Gone"`}},
		{"timeout zero", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","TimeoutSeconds":0,"End":true}}}`, []string{`"T"`, "TimeoutSeconds"}},
		{"heartbeat too long", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}}}`, []string{`"T"`, "HeartbeatSeconds"}},
		{"wait two fields", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"Timestamp":"2016-03-14T01:59:00Z","End":true}}}`, []string{`"W"`, "exactly one"}},
		{"fail both", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","ErrorPath":"$.e"}}}`, []string{`"F"`, "ErrorPath"}},
		{"tolerance range", `{"StartAt":"M","States":{"M":{"Type":"Map",` + proc + `,"ToleratedFailurePercentage":101,"End":true}}}`, []string{`"M"`, "ToleratedFailurePercentage"}},
		{"choice without choices", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[]}}}`, []string{`"C"`, "Choices"}},
		{"TimeoutSeconds inside a Map", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"TimeoutSeconds":5,"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`, []string{"ItemProcessor", "TimeoutSeconds"}},
		{"ProcessorConfig at the top", `{"ProcessorConfig":{},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, []string{"ProcessorConfig"}},
		{"version", `{"Version":"2.0","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, []string{"Version"}},
		{"substitution missing", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"${DetectFunctionArn}","End":true}}}`, []string{"${DetectFunctionArn}"}},
	}
	for _, tc := range tests {
		_, err := Load([]byte(tc.def), nil, WithHandlers(Registry{"fn": fixed(`{}`)}))
		require.Error(t, err, tc.name)
		for _, w := range tc.want {
			require.Contains(t, err.Error(), w, tc.name)
		}
	}
}

func TestSubstitutions(t *testing.T) {
	t.Parallel()
	def := []byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"${DetectFunctionArn}",
	  "Parameters":{"bucket":"${Bucket}","literal":"${!NotASubstitution}"},"End":true}}}`)
	subs := map[string]string{"DetectFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:detect", "Bucket": "imports"}
	var got json.RawMessage
	m, err := Load(def, subs, WithHandlers(Registry{"arn:aws:lambda:us-east-1:123456789012:function:detect": func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		got = in
		return in, nil
	}}))
	require.NoError(t, err)
	ex, err := m.Start(context.Background(), ExecutionOptions{})
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, ex.Status, ex.Cause)
	require.JSONEq(t, `{"bucket":"imports","literal":"${NotASubstitution}"}`, string(got))

	res, err := Resources(def, subs)
	require.NoError(t, err)
	require.Equal(t, []string{"arn:aws:lambda:us-east-1:123456789012:function:detect"}, res)
	require.NoError(t, Validate(def, subs), "Validate needs no handlers")
	require.ErrorContains(t, Validate(def, map[string]string{"Bucket": "b"}), "${DetectFunctionArn}")
}
