package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
)

// Quarantined is one quarantined record.
type Quarantined struct {
	ID          int64           `json:"id"`
	ImportRunID int64           `json:"import_run_id"`
	Index       int             `json:"index"`
	Line        *int            `json:"line"`
	Source      *string         `json:"source"`
	SourceID    *string         `json:"source_id"`
	Rule        string          `json:"rule"`
	Field       *string         `json:"field"`
	Reason      string          `json:"reason"`
	Excerpt     *string         `json:"excerpt"`
	Status      string          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	Altered     []string        `json:"altered,omitempty"` // how the stored copy differs from the record as read; replay refuses it
	Record      json.RawMessage `json:"-"`
}

// ListFilter selects quarantined records.
type ListFilter struct {
	RunID int64 // 0 for every run
	All   bool  // include replayed and discarded rows
	Limit int
}

// ListQuarantine returns quarantined records, newest run first.
func (im *Importer) ListQuarantine(ctx context.Context, f ListFilter) ([]Quarantined, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := im.Pool.Query(ctx, `SELECT id, import_run_id, record_index, line, source, source_id, rule, field, reason, excerpt,
			status, created_at, altered, coalesce(record, 'null'::jsonb)
		FROM quarantined_records
		WHERE ($1 = 0 OR import_run_id = $1) AND ($2 OR status = 'open')
		ORDER BY import_run_id DESC, record_index LIMIT $3`, f.RunID, f.All, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing quarantine: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Quarantined, error) {
		var q Quarantined
		err := r.Scan(&q.ID, &q.ImportRunID, &q.Index, &q.Line, &q.Source, &q.SourceID, &q.Rule, &q.Field, &q.Reason, &q.Excerpt,
			&q.Status, &q.CreatedAt, &q.Altered, &q.Record)
		return q, err
	})
}

// ReplaySummary is what a replay did.
type ReplaySummary struct {
	Checked       int            `json:"checked"`
	StillFailing  int            `json:"still_failing"`
	FailingByRule map[string]int `json:"still_failing_by_rule"`
	Import        *Summary       `json:"import,omitempty"`
	// Refused are the rows whose stored copy was altered when they were
	// quarantined: they stay open, and only a fixed source file brings
	// the records in.
	Refused []ReplayRefusal `json:"refused,omitempty"`
}

// ReplayRefusal is a quarantined row replay would not import, and why.
type ReplayRefusal struct {
	ID          int64   `json:"id"`
	ImportRunID int64   `json:"import_run_id"`
	Line        *int    `json:"line"`
	SourceID    *string `json:"source_id,omitempty"`
	Reason      string  `json:"reason"`
}

// alteredReason is the reason replay gives for a row whose stored copy
// was altered.
func alteredReason(altered []string) string {
	return "the stored copy was altered when quarantined (" + strings.Join(altered, ", ") +
		"): fix the source file and import it again"
}

// replayRecords streams the quarantined records that now pass validation.
type replayRecords struct {
	items []*dataset.Raw
	pos   int
}

func (r *replayRecords) Next() (*dataset.Raw, error) {
	if r.pos >= len(r.items) {
		return nil, io.EOF
	}
	r.pos++
	return r.items[r.pos-1], nil
}
func (r *replayRecords) Name() string           { return "quarantine" }
func (r *replayRecords) Format() dataset.Format { return dataset.FormatJSONL }
func (r *replayRecords) BytesRead() int64       { return 0 }
func (r *replayRecords) Unmapped() []string     { return nil }

// Replay re-validates open quarantined records (of one run, or all) with
// the current configuration and brands, imports those that now pass as a
// replay run, and marks them replayed. Records that still fail stay open,
// and so do those whose stored copy was altered when they were quarantined
// (invalid UTF-8 replaced, text truncated): replay refuses them, since
// importing the copy would import the alteration.
func (im *Importer) Replay(ctx context.Context, runID int64, opts Options) (*ReplaySummary, error) {
	sum := &ReplaySummary{FailingByRule: map[string]int{}}
	rows, err := im.Pool.Query(ctx, `SELECT q.id, q.import_run_id, q.line, q.source_id, q.altered, q.record, coalesce(q.source, r.source, '')
		FROM quarantined_records q
		JOIN import_runs r ON r.id = q.import_run_id
		WHERE q.status = 'open' AND ($1 = 0 OR q.import_run_id = $1) AND q.record IS NOT NULL
		ORDER BY q.import_run_id, q.record_index`, runID)
	if err != nil {
		return nil, fmt.Errorf("reading quarantine: %w", err)
	}
	type entry struct {
		id, runID int64
		line      *int
		sourceID  *string
		altered   []string
		record    []byte
		source    string
	}
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.runID, &e.line, &e.sourceID, &e.altered, &e.record, &e.source); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading quarantine: %w", err)
		}
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading quarantine: %w", err)
	}
	brands, _, err := im.brandResolver(ctx, im.Pool)
	if err != nil {
		return nil, err
	}
	v := &catalog.Validator{Quality: im.Config.Monitoring.Quality, Brands: brands, Now: im.Now}
	src := &replayRecords{}
	var passing []int64
	for _, e := range entries {
		sum.Checked++
		fields := map[string]any{}
		dec := json.NewDecoder(bytes.NewReader(e.record))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil || fields["_excerpt"] != nil {
			sum.StillFailing++
			sum.FailingByRule["too-large"]++
			continue
		}
		if len(e.altered) > 0 {
			sum.Refused = append(sum.Refused, ReplayRefusal{ID: e.id, ImportRunID: e.runID, Line: e.line, SourceID: e.sourceID,
				Reason: alteredReason(e.altered)})
			continue
		}
		if rule, ok := fields[ProblemKey].(string); ok {
			// The reader's finding is about the file, which a new
			// threshold or alias does not change.
			sum.StillFailing++
			sum.FailingByRule[rule]++
			continue
		}
		if _, ok := fields["source"]; !ok && e.source != "" {
			fields["source"] = e.source
		}
		// The record keeps the line it was read from (0 when the row has
		// none), so the replay's report and reviews point into the file.
		raw := &dataset.Raw{Index: len(src.items) + 1, Fields: fields}
		if e.line != nil {
			raw.Line = *e.line
		}
		if f, issues := v.Check(raw); f == nil {
			first, _ := catalog.FirstError(issues)
			sum.StillFailing++
			sum.FailingByRule[first.Rule]++
			continue
		}
		src.items = append(src.items, raw)
		passing = append(passing, e.id)
	}
	if len(src.items) == 0 {
		return sum, nil
	}
	opts.Kind = "replay"
	imp, err := im.Import(ctx, src, opts)
	sum.Import = imp
	if err != nil {
		return sum, err
	}
	if !opts.DryRun {
		if _, err := im.Pool.Exec(ctx, `UPDATE quarantined_records SET status = 'replayed', resolved_at = $2 WHERE id = ANY($1)`, passing, im.now()); err != nil {
			return sum, fmt.Errorf("marking replayed records: %w", err)
		}
	}
	return sum, nil
}
