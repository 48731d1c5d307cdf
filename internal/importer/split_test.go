package importer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/importer"
)

func TestSplitWritesDeterministicJSONLinesChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "imports", "drop.csv")
	require.NoError(t, os.MkdirAll(filepath.Dir(src), 0o755))
	require.NoError(t, os.WriteFile(src, []byte("perfume,brand,notes\nOne,Acme,Rose|Oud\nTwo,Acme,\nThree,Beta,Musk\n"), 0o644))

	s := &importer.Splitter{ChunkRecords: 2}
	ev := importer.SplitEvent{Object: "file://" + src, Execution: "exec-1", Source: "drop", Map: map[string]string{"perfume": "name"}}
	res, err := s.Split(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, 3, res.Records)
	require.Len(t, res.Chunks, 2)
	require.Equal(t, "file://"+filepath.Join(root, "chunks", "exec-1", "drop-00001.jsonl"), res.Chunks[0].Object)
	require.Equal(t, []int{2, 1}, []int{res.Chunks[0].Records, res.Chunks[1].Records})
	require.Equal(t, 4, res.Chunks[1].FirstLine)

	f, err := os.Open(strings.TrimPrefix(res.Chunks[0].Object, "file://"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	require.True(t, sc.Scan())
	var first map[string]any
	require.NoError(t, json.Unmarshal(sc.Bytes(), &first))
	require.Equal(t, "One", first["name"], "--map renames are applied in the chunk")

	// A retried split writes the same chunk names.
	again, err := s.Split(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, res.Chunks[1].Object, again.Chunks[1].Object)

	// The summary adds chunk results and counts the failed ones.
	state, _ := json.Marshal(map[string]any{
		"split": res,
		"chunks": []any{
			importer.ObjectResult{Object: res.Chunks[0].Object, Summary: &importer.Summary{Counts: map[string]int{"inserted": 2}}},
			map[string]string{"Error": "States.TaskFailed", "Cause": "boom"},
		},
	})
	sum, err := importer.Summarise(state)
	require.NoError(t, err)
	require.Equal(t, "partial", sum.Outcome)
	require.Equal(t, 1, sum.ChunksFailed)
	require.Equal(t, 2, sum.Counts["inserted"])

	_, err = s.Split(ctx, importer.SplitEvent{Object: "file://" + src})
	var bad *importer.BadInputError
	require.ErrorAs(t, err, &bad)
}

// TestSplitListsUnreadableRecords: a record the reader found a problem
// with (a line that is no JSON object, invalid UTF-8) does not stop the
// split; it stays out of the chunks, where JSON encoding would hide what
// is wrong with it, and its line is listed, as a too-large record's is.
func TestSplitListsUnreadableRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "imports", "drop.jsonl")
	require.NoError(t, os.MkdirAll(filepath.Dir(src), 0o755))
	require.NoError(t, os.WriteFile(src, []byte("{\"brand\": \"Acme\", \"name\": \"One\"}\n{\"brand\": Acme}\n"+
		"{\"brand\": \"Acme\", \"name\": \"Sauv\xe9ge\"}\n{\"brand\": \"Beta\", \"name\": \"Two\"}\n"), 0o644))
	s := &importer.Splitter{ChunkRecords: 10}
	res, err := s.Split(ctx, importer.SplitEvent{Object: "file://" + src, Execution: "exec-u", Source: "drop"})
	require.NoError(t, err)
	require.Equal(t, 4, res.Records)
	require.Equal(t, []int{2, 3}, res.Unreadable)
	require.Len(t, res.Chunks, 1)
	require.Equal(t, 2, res.Chunks[0].Records)
	data, err := os.ReadFile(strings.TrimPrefix(res.Chunks[0].Object, "file://"))
	require.NoError(t, err)
	require.NotContains(t, string(data), "\ufffd", "no record with replaced bytes is passed on")

	state, _ := json.Marshal(map[string]any{"split": res, "chunks": []any{
		importer.ObjectResult{Object: res.Chunks[0].Object, Summary: &importer.Summary{Counts: map[string]int{"inserted": 2}}},
	}})
	sum, err := importer.Summarise(state)
	require.NoError(t, err)
	require.Equal(t, []int{2, 3}, sum.Unreadable)
	require.Equal(t, "succeeded", sum.Outcome)
}
