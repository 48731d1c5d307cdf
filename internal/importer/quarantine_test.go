package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	// A syntax error inside a JSON array stops the import (a JSON Lines
	// line that does not parse is one rejected record instead).
	broken := writeFile(t, "broken.json", "[\n"+strings.Join(lines[:7], ",\n")+",\n{\"brand\": Acme}\n]\n")
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

// TestReplayRefusesAlteredCopiesAndKeepsLines: a record quarantined for
// invalid UTF-8 or a NUL, or with a value cut to 64 KiB, is stored altered;
// replay refuses those rows with a reason and leaves them open, imports
// the record that now passes, and keeps the line it was read from.
func TestReplayRefusesAlteredCopiesAndKeepsLines(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	long := strings.Repeat("x", 70<<10)
	path := writeFile(t, "altered.csv", "source_id,brand,name,description,year\n"+
		"ok,Acme,Fine,,\n"+
		"u1,Acme,Sauv\xffage,,\n"+
		"n1,Acme,Nul\x00Byte,,\n"+
		"t1,Acme,Long,"+long+",\n"+
		"y1,Acme,Old,,1492\n")
	sum, _, err := b.run(t, path, nil, importer.Options{Source: "alt"})
	require.NoError(t, err)
	require.Equal(t, 4, sum.Counts["rejected"], "%v", sum.RejectedByRule)
	require.Equal(t, map[string]int{"utf8": 1, "nul-byte": 1, "length": 1, "year-range": 1}, sum.RejectedByRule)

	listed, err := b.im.ListQuarantine(ctx, importer.ListFilter{})
	require.NoError(t, err)
	altered := map[string][]string{}
	for _, q := range listed {
		altered[*q.SourceID] = q.Altered
	}
	require.Equal(t, map[string][]string{
		"u1": {"invalid UTF-8 or NUL bytes replaced"},
		"n1": {"invalid UTF-8 or NUL bytes replaced"},
		"t1": {"text over 64 KiB truncated"},
		"y1": {},
	}, altered)

	// Every record would pass now: only the stored copies stand in the way.
	b.im.Config.Monitoring.Quality.MinYear = 1400
	b.im.Config.Monitoring.Quality.MaxTextLength = 1 << 20
	rep, err := b.im.Replay(ctx, 0, importer.Options{})
	require.NoError(t, err)
	require.Equal(t, 4, rep.Checked)
	require.Zero(t, rep.StillFailing)
	require.NotNil(t, rep.Import)
	require.Equal(t, 1, rep.Import.Records)
	require.Equal(t, 1, rep.Import.Counts["inserted"])
	refused := map[string]importer.ReplayRefusal{}
	for _, r := range rep.Refused {
		refused[*r.SourceID] = r
	}
	require.Len(t, refused, 3)
	require.Equal(t, "the stored copy was altered when quarantined (invalid UTF-8 or NUL bytes replaced): fix the source file and import it again",
		refused["u1"].Reason)
	require.Equal(t, 3, *refused["u1"].Line)
	require.Equal(t, "the stored copy was altered when quarantined (text over 64 KiB truncated): fix the source file and import it again",
		refused["t1"].Reason)

	require.Equal(t, 0, count(t, b.pool, `SELECT count(*) FROM fragrances WHERE name LIKE '%' || chr(65533) || '%' OR description LIKE '%[truncated]'`),
		"no altered copy reached the catalog")
	require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM fragrances WHERE name = 'Old' AND year = 1492`))
	require.Equal(t, 3, count(t, b.pool, `SELECT count(*) FROM quarantined_records WHERE status = 'open' AND source_id IN ('u1', 'n1', 't1')`),
		"refused rows stay open")
	require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM quarantined_records WHERE status = 'replayed' AND source_id = 'y1'`))

	// The replayed record keeps the line it was read from (the sixth of
	// the file), in the replay run's report as in the catalog.
	var report bytes.Buffer
	require.NoError(t, b.pool.QueryRow(ctx, `UPDATE quarantined_records SET status = 'open' WHERE source_id = 'y1' RETURNING 1`).Scan(new(int)))
	rep, err = b.im.Replay(ctx, 0, importer.Options{Report: &report, DryRun: true})
	require.NoError(t, err)
	var line importer.ReportLine
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(report.Bytes()), &line))
	require.Equal(t, 6, line.Line, "%s", report.String())
	require.Equal(t, "y1", line.SourceID)
}
