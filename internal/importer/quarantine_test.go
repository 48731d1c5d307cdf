package importer_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/importer"
)

const openQuarantine = `SELECT count(*) FROM quarantined_records WHERE status = 'open'`

// badRecords is a file with one good record and four bad ones: with a
// source_id, without one (twice), and one too large to read one from.
func badRecords(t *testing.T) string {
	t.Helper()
	return writeFile(t, "bad.jsonl", strings.Join([]string{
		`{"source_id": "ok", "brand": "Acme", "name": "Fine"}`,
		`{"source_id": "y1", "brand": "Acme", "name": "Old", "year": 1492}`,
		`{"brand": "Acme", "name": "Older", "year": 1400}`,
		`{"brand": "Acme", "name": "Nul\u0000Byte"}`,
		`{"brand": "Acme", "name": "` + strings.Repeat("y", dataset.MaxRecordBytes) + `"}`,
	}, "\n"))
}

// TestRerunDoesNotPileUpQuarantineRows: importing the same file again
// supersedes the open quarantine rows of the first run one for one, for
// records with a source_id, without one, and too large to read; the
// second run's summary says how many it superseded.
func TestRerunDoesNotPileUpQuarantineRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := badRecords(t)

	first, _, err := b.run(t, path, nil, importer.Options{Source: "rerun"})
	require.NoError(t, err)
	require.Equal(t, 4, first.Counts["rejected"])
	require.Zero(t, first.QuarantineSuperseded, "nothing was open before")
	require.Equal(t, 4, count(t, b.pool, openQuarantine))

	second, _, err := b.run(t, path, nil, importer.Options{Source: "rerun"})
	require.NoError(t, err)
	require.Equal(t, 4, second.Counts["rejected"])
	require.Equal(t, 4, second.QuarantineSuperseded, "each rejected record replaced its open row of the first run")
	require.Equal(t, 4, count(t, b.pool, openQuarantine), "the rerun adds no open row")
	require.Equal(t, 4, count(t, b.pool, `SELECT count(*) FROM quarantined_records WHERE status = 'open' AND import_run_id = $1`, second.RunID),
		"the open rows are the latest run's")
	require.Equal(t, 4, count(t, b.pool, `SELECT count(*) FROM quarantined_records WHERE status = 'discarded' AND import_run_id = $1`, first.RunID))

	// A record without a source_id that changed is another record: its
	// row does not replace the old one, and the other records' rows stay.
	changed := writeFile(t, "changed.jsonl", `{"brand": "Acme", "name": "Older", "year": 1401}`+"\n")
	third, _, err := b.run(t, changed, nil, importer.Options{Source: "rerun"})
	require.NoError(t, err)
	require.Zero(t, third.QuarantineSuperseded)
	require.Equal(t, 5, count(t, b.pool, openQuarantine))
	// The same content under another source is another record too.
	other, _, err := b.run(t, path, nil, importer.Options{Source: "elsewhere"})
	require.NoError(t, err)
	require.Zero(t, other.QuarantineSuperseded)
	require.Equal(t, 9, count(t, b.pool, openQuarantine))
}

// TestRerunAfterAnInterruptedImportKeepsOneQuarantineRowPerRecord: a run
// that stops mid-file (here: a syntax error after two committed batches)
// leaves the open rows of what it committed; the rerun of the whole file
// supersedes them, and the open quarantine is what one clean import
// leaves.
func TestRerunAfterAnInterruptedImportKeepsOneQuarantineRowPerRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Batches close after two valid records.
	lines := []string{
		`{"brand": "Acme", "name": "A", "year": 1400}`,
		`{"source_id": "b1", "brand": "Acme", "name": "B1"}`,
		`{"brand": "Acme", "name": "B2"}`,
		`{"source_id": "c", "brand": "Acme", "name": "C", "year": 1401}`,
		`{"source_id": "d1", "brand": "Acme", "name": "D1"}`,
		`{"brand": "Acme", "name": "D2"}`,
		`{"brand": "Acme", "name": "E", "year": 1402}`,
		`{"brand": "Acme", "name": "F"}`,
		`{"brand": "Acme", "name": "G", "year": 1403}`,
	}
	broken := writeFile(t, "broken.jsonl", strings.Join(lines[:7], "\n")+"\n{\"brand\": Acme}\n")
	sum, _, err := b.run(t, broken, nil, importer.Options{Source: "s", BatchSize: 2})
	var se *dataset.SyntaxError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 2, sum.Batches)
	require.Equal(t, 2, count(t, b.pool, openQuarantine), "A and C were committed, E was in the batch rolled back")

	whole := writeFile(t, "whole.jsonl", strings.Join(lines, "\n")+"\n")
	sum, _, err = b.run(t, whole, nil, importer.Options{Source: "s", BatchSize: 2})
	require.NoError(t, err)
	require.Equal(t, 4, sum.Counts["rejected"])
	require.Equal(t, 2, sum.QuarantineSuperseded, "the interrupted run's two rows")
	require.Equal(t, 4, count(t, b.pool, openQuarantine), "one open row per bad record")
}
