package emf_test

import (
	"bufio"
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/emf"
)

func TestEmitWritesValidLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	at := time.Date(2026, 11, 29, 2, 30, 0, 0, time.UTC)
	w := &emf.Writer{W: &buf, Stage: "staging", Now: func() time.Time { return at }}
	require.NoError(t, w.Emit([]emf.Metric{
		{Name: "SystemHealthScore", Unit: emf.None, Value: 92.5},
		{Name: "CycleDurationSeconds", Unit: emf.Seconds, Value: 600},
		{Name: "ErrorRate", Unit: emf.Percent, Value: math.NaN()}, // unknown: left out
	}, map[string]any{"cycle_id": "schedule-20261129T0200"}))
	require.NoError(t, w.Emit(nil, nil))

	sc := bufio.NewScanner(&buf)
	var lines []*emf.Decoded
	for sc.Scan() {
		d, err := emf.Validate(sc.Bytes())
		require.NoError(t, err, sc.Text())
		lines = append(lines, d)
	}
	require.Len(t, lines, 2)
	d := lines[0]
	require.Equal(t, at.UnixMilli(), d.Timestamp)
	require.Equal(t, "ScentMatch/Pipeline", d.Namespace)
	require.Equal(t, map[string]string{"Environment": "staging"}, d.Dimensions)
	require.Equal(t, map[string]float64{"SystemHealthScore": 92.5, "CycleDurationSeconds": 600}, d.Values)
	require.Equal(t, "Seconds", d.Units["CycleDurationSeconds"])
	require.JSONEq(t, `"schedule-20261129T0200"`, string(d.Members["cycle_id"]))
	require.Empty(t, lines[1].Values)
}

func TestEmitRefusesClashes(t *testing.T) {
	t.Parallel()
	w := &emf.Writer{W: &bytes.Buffer{}}
	require.Error(t, w.Emit([]emf.Metric{{Name: "A", Value: 1}, {Name: "A", Value: 2}}, nil))
	require.Error(t, w.Emit(nil, map[string]any{"Environment": "x"}))
	require.Error(t, w.Emit([]emf.Metric{{Name: "cycle_id", Value: 1}}, map[string]any{"cycle_id": "c"}))
}

func TestValidateRejectsBrokenLines(t *testing.T) {
	t.Parallel()
	for name, line := range map[string]string{
		"not json":        `nope`,
		"no _aws":         `{"A": 1}`,
		"seconds stamp":   `{"_aws": {"Timestamp": 1764383400, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": []}]}}`,
		"no directives":   `{"_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": []}}`,
		"no namespace":    `{"_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": [{"Dimensions": [], "Metrics": []}]}}`,
		"missing dim":     `{"_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Env"]], "Metrics": []}]}}`,
		"missing metric":  `{"_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "A"}]}]}}`,
		"string metric":   `{"A": "1", "_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "A"}]}]}}`,
		"bad unit":        `{"A": 1, "_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "A", "Unit": "Parsecs"}]}]}}`,
		"numeric dim val": `{"Env": 3, "_aws": {"Timestamp": 1764383400000, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Env"]], "Metrics": []}]}}`,
	} {
		_, err := emf.Validate([]byte(line))
		require.Error(t, err, name)
	}
}

func TestStage(t *testing.T) {
	t.Parallel()
	require.Equal(t, "local", emf.Stage(func(string) string { return "" }))
	require.Equal(t, "prod", emf.Stage(func(k string) string { return map[string]string{"SCENTMATCH_STAGE": "prod"}[k] }))
}
