package statemachine

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// BenchmarkCycleShape runs the cycle-shaped fixture (Task, Choice, Task,
// Succeed) with instant handlers: the executor's own cost per execution.
func BenchmarkCycleShape(b *testing.B) {
	def, err := os.ReadFile("testdata/cycle-shape.asl.json")
	if err != nil {
		b.Fatal(err)
	}
	subs := map[string]string{"DetectFunctionArn": "detect", "ImportFunctionArn": "import", "RecordFailureFunctionArn": "record"}
	m, err := Load(def, subs, WithHandlers(Registry{
		"detect": fixed(`{"candidate_count":2}`), "import": fixed(`{"new_fragrances_imported":2}`), "record": fixed(`{}`),
	}))
	if err != nil {
		b.Fatal(err)
	}
	input := json.RawMessage(`{"cycle_id":"c1","trigger":"manual","max_fragrances":10,"debug":false,"dry_run":false}`)
	b.ReportAllocs()
	for b.Loop() {
		ex, err := m.Start(context.Background(), ExecutionOptions{Name: "bench", Input: input})
		if err != nil || ex.Status != StatusSucceeded {
			b.Fatal(err, ex.Status)
		}
	}
}

// BenchmarkMap1000 runs a Map of 1000 items, 40 at a time, each through
// an ItemSelector and a Task.
func BenchmarkMap1000(b *testing.B) {
	m, err := Load([]byte(`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":40,
	  "ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value"},
	  "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn","End":true}}},
	  "ResultSelector":{"n.$":"States.ArrayLength($)"},"End":true}}}`), nil,
		WithHandlers(Registry{"fn": func(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil }}))
	if err != nil {
		b.Fatal(err)
	}
	items := make([]string, 1000)
	for i := range items {
		items[i] = `{"key":"imports/x/chunk.jsonl","records":500}`
	}
	input := json.RawMessage("[" + strings.Join(items, ",") + "]")
	b.ReportAllocs()
	for b.Loop() {
		ex, err := m.Start(context.Background(), ExecutionOptions{Name: "bench", Input: input})
		if err != nil || ex.Status != StatusSucceeded {
			b.Fatal(err, ex.Status)
		}
	}
}
