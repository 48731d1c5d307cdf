package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/require"
)

func TestRecordsCarryCycleStepAndRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := New(&buf, Options{Format: JSON})
	ctx := WithCycle(context.Background(), "schedule-20261129T0200", "import")
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	logger.With("component", "test").InfoContext(ctx, "imported", "count", 3)

	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	require.Equal(t, "imported", rec["msg"])
	require.Equal(t, "INFO", rec["level"])
	require.Equal(t, "schedule-20261129T0200", rec["cycle_id"])
	require.Equal(t, "import", rec["step"])
	require.Equal(t, "req-123", rec["request_id"])
	require.Equal(t, "test", rec["component"])
	require.EqualValues(t, 3, rec["count"])
}

func TestPasswordsNeverReachTheLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := New(&buf, Options{Format: Text})
	logger.Error("connect failed",
		"url", "postgres://app:hunter2@db.example.com:5432/catalog",
		"dsn", "host=db user=app password=hunter2 dbname=catalog",
		"err", errors.New("dial postgresql://app:hunter2@db/x: refused"))
	out := buf.String()
	require.NotContains(t, out, "hunter2")
	require.Equal(t, 3, strings.Count(out, "xxxxx"), out)
}
