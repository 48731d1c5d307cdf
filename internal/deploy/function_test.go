package deploy

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/memlimit"
)

func TestFunctionResolvesGlobalsAndItsOwnProperties(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	vals := Values{Region: "eu-west-1", AccountID: "111122223333",
		Parameters: map[string]string{"Stage": "prod", "DatabaseSecretArn": "arn:secret"},
		Resources: map[string]string{"PipelineBucket": "b",
			"CycleStateMachine": "arn:aws:states:eu-west-1:111122223333:stateMachine:scentmatch-prod-cycle"}}
	for _, id := range tpl.Functions() {
		f, err := tpl.Function(id, vals)
		require.NoError(t, err, id)
		require.NotEmpty(t, f.Name, id)
		require.Positive(t, f.MemoryMB, id)
		require.Positive(t, f.TimeoutS, id)
		// Globals reach every function.
		require.Equal(t, "arn:secret", f.Environment["DATABASE_SECRET_ARN"], id)
		require.Equal(t, "s3://b", f.Environment["SCENTMATCH_BUCKET"], id)
		require.Equal(t, "prod", f.Environment["SCENTMATCH_STAGE"], id)
		// Each function's GOMEMLIMIT is the one internal/memlimit derives
		// from its own MemorySize (Globals' or its own): raising a
		// function's memory without its limit, or the reverse, fails here.
		require.Equal(t, memlimit.Env(f.MemoryMB), f.Environment["GOMEMLIMIT"], "%s: MemorySize %d", id, f.MemoryMB)
	}
	// A function's own properties win over Globals.
	g := tpl.Globals("Function")
	st, err := tpl.Function("StatusFunction", vals)
	require.NoError(t, err)
	require.Equal(t, "scentmatch-prod-status", st.Name)
	require.Equal(t, vals.Resources["CycleStateMachine"], st.Environment["STATE_MACHINE_ARN"])
	require.NotEqual(t, g["Timeout"], st.TimeoutS)
	// A reference with no value in the deployment is an error naming it.
	_, err = tpl.Function("DetectFunction", Values{})
	require.ErrorContains(t, err, "PipelineBucket")
}

func TestResolveSub(t *testing.T) {
	t.Parallel()
	tpl := &Template{Parameters: map[string]any{"Stage": map[string]any{"Default": "dev"}}, Resources: map[string]Resource{}}
	vals := Values{Region: "us-east-1", AccountID: "1", Resources: map[string]string{"Fn.Arn": "arn:fn"}}
	s, err := tpl.Resolve(map[string]any{"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Stage}/${Fn.Arn}/${!Literal}"}, vals)
	require.NoError(t, err)
	require.Equal(t, "arn:aws:x:us-east-1:1:dev/arn:fn/${Literal}", s)
	s, err = tpl.Resolve(map[string]any{"Fn::Sub": []any{"${A}-${Stage}", map[string]any{"A": "a"}}}, vals)
	require.NoError(t, err)
	require.Equal(t, "a-dev", s)
	_, err = tpl.Resolve(map[string]any{"Ref": "Nope"}, vals)
	require.ErrorContains(t, err, "Nope")
}
