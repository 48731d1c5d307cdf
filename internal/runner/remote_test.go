package runner

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/stretchr/testify/require"
)

// fakeSFN answers the Step Functions JSON protocol for one execution that
// runs Detect and then succeeds on the second DescribeExecution.
type fakeSFN struct {
	mu       sync.Mutex
	starts   []map[string]any
	describe int
	exists   bool
}

func (f *fakeSFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch op {
	case "StartExecution":
		f.starts = append(f.starts, in)
		if f.exists {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type": "ExecutionAlreadyExists", "message": "Execution Already Exists"}`)
			return
		}
		f.exists = true
		io.WriteString(w, `{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:scentmatch-prod-cycle:`+in["name"].(string)+`", "startDate": 1764388800}`)
	case "GetExecutionHistory":
		io.WriteString(w, `{"events": [
			{"id": 1, "type": "ExecutionStarted", "timestamp": 1764388800},
			{"id": 2, "type": "TaskStateEntered", "timestamp": 1764388801, "stateEnteredEventDetails": {"name": "Detect"}},
			{"id": 3, "type": "TaskStateExited", "timestamp": 1764388802, "stateExitedEventDetails": {"name": "Detect"}}]}`)
	case "DescribeExecution":
		f.describe++
		status := "RUNNING"
		out := ""
		if f.describe > 1 {
			status = "SUCCEEDED"
			out = `, "output": "{\"dry_run\": false, \"results\": {\"import\": {\"new_fragrances\": 3}, \"metrics\": {\"health_score\": 92.5}, \"notify\": {\"sent\": [{\"kind\": \"weekly_report\", \"subject\": \"s\", \"message_id\": \"0100-abc\"}]}}}"`
		}
		io.WriteString(w, `{"executionArn": "`+in["executionArn"].(string)+`", "name": "manual-20261129T0900", "status": "`+status+`", "startDate": 1764388800, "stopDate": 1764389100`+out+`}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type": "UnknownOperationException"}`)
	}
}

func TestRemoteStartsOnceAndFollowsToTheEnd(t *testing.T) {
	t.Parallel()
	fake := &fakeSFN{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client := sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	var seen []string
	r := &Remote{Client: client, StateMachine: "arn:aws:states:us-east-1:123456789012:stateMachine:scentmatch-prod-cycle", Poll: time.Millisecond,
		OnState: func(kind, state, _ string) { seen = append(seen, kind+" "+state) }}
	ctx := context.Background()
	arn, err := r.Start(ctx, "manual-20261129T0900", []byte(`{"trigger": "manual", "max_fragrances": 5}`))
	require.NoError(t, err)
	require.Equal(t, "arn:aws:states:us-east-1:123456789012:execution:scentmatch-prod-cycle:manual-20261129T0900", arn)
	// A double click: the same name is the same execution.
	again, err := r.Start(ctx, "manual-20261129T0900", []byte(`{}`))
	require.NoError(t, err)
	require.Equal(t, arn, again)
	require.Len(t, fake.starts, 2)
	require.Equal(t, "manual-20261129T0900", fake.starts[0]["name"])
	require.JSONEq(t, `{"trigger": "manual", "max_fragrances": 5}`, fake.starts[0]["input"].(string))

	ex, err := r.Follow(ctx, arn)
	require.NoError(t, err)
	require.Equal(t, "SUCCEEDED", ex.Status)
	require.Equal(t, []string{"entered Detect", "exited Detect"}, seen, "each event reported once")
	require.Contains(t, string(ex.Output), `"health_score": 92.5`)
	require.Equal(t, 5*time.Minute, ex.Stop.Sub(ex.Start))
}
