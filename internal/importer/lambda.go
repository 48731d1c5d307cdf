package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
)

// ObjectEvent asks the import function to import one dataset object: an
// upload to the bucket's imports/ prefix, or a chunk the dataset state
// machine split it into.
type ObjectEvent struct {
	// Object is s3://bucket/key (or file:///path locally).
	Object string `json:"object"`
	// ETag, when given, must match the object's; it is read from the
	// object otherwise. The import is idempotent by object + ETag.
	ETag    string            `json:"etag,omitempty"`
	Source  string            `json:"source,omitempty"`
	Map     map[string]string `json:"map,omitempty"`
	CycleID string            `json:"cycle_id,omitempty"`
	DryRun  bool              `json:"dry_run,omitempty"`
}

// ObjectResult is the import function's answer.
type ObjectResult struct {
	Object string `json:"object"`
	ETag   string `json:"etag"`
	// Skipped is true when this object version was imported before; Summary
	// is then that run's.
	Skipped bool     `json:"skipped"`
	Summary *Summary `json:"summary"`
}

// BadInputError is a dataset the import cannot read: retrying will not help.
type BadInputError struct {
	Err error
}

func (e *BadInputError) Error() string { return e.Err.Error() }
func (e *BadInputError) Unwrap() error { return e.Err }

// ImportObject imports one object, once per object version.
func (im *Importer) ImportObject(ctx context.Context, ev ObjectEvent, client bucket.Getter) (*ObjectResult, error) {
	if ev.Object == "" {
		return nil, &BadInputError{Err: errors.New(`the event needs "object": "s3://bucket/key"`)}
	}
	obj, err := bucket.Open(ctx, ev.Object, client)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	if ev.ETag != "" && ev.ETag != obj.ETag {
		return nil, &BadInputError{Err: fmt.Errorf("%s changed: ETag %s, the event expected %s", ev.Object, obj.ETag, ev.ETag)}
	}
	res := &ObjectResult{Object: ev.Object, ETag: obj.ETag}
	if !ev.DryRun {
		prior, err := im.priorRun(ctx, ev.Object, obj.ETag)
		if err != nil {
			return nil, err
		}
		if prior != nil {
			res.Skipped, res.Summary = true, prior
			return res, nil
		}
	}
	r, err := dataset.NewReader(ev.Object, obj.Body, catalog.Fields, dataset.Options{Map: ev.Map, Required: catalog.RequiredFields})
	if err != nil {
		return nil, &BadInputError{Err: err}
	}
	kind := "upload"
	if ev.CycleID != "" {
		kind = "cycle"
	}
	sum, err := im.Import(ctx, r, Options{Kind: kind, Source: ev.Source, CycleID: ev.CycleID, InputRef: ev.Object, InputETag: obj.ETag, DryRun: ev.DryRun})
	res.Summary = sum
	var se *dataset.SyntaxError
	if errors.As(err, &se) {
		return res, &BadInputError{Err: err}
	}
	return res, err
}

// priorRun returns the summary of a succeeded import of this object
// version, and frees the key of a failed or abandoned one so it can run again.
func (im *Importer) priorRun(ctx context.Context, ref, etag string) (*Summary, error) {
	var status string
	var summary []byte
	err := im.Pool.QueryRow(ctx, `SELECT status, summary FROM import_runs WHERE input_ref = $1 AND input_etag = $2`, ref, etag).Scan(&status, &summary)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up earlier imports of %s: %w", ref, err)
	}
	if status == "succeeded" {
		var s Summary
		if err := json.Unmarshal(summary, &s); err != nil {
			return nil, fmt.Errorf("reading the earlier import of %s: %w", ref, err)
		}
		return &s, nil
	}
	if _, err := im.Pool.Exec(ctx, `UPDATE import_runs SET input_etag = NULL, status = CASE WHEN status = 'running' THEN 'failed' ELSE status END,
		error = coalesce(error, 'abandoned: superseded by a new attempt') WHERE input_ref = $1 AND input_etag = $2`, ref, etag); err != nil {
		return nil, fmt.Errorf("releasing the earlier attempt at %s: %w", ref, err)
	}
	return nil, nil
}

// ObjectHandler is the import function's handler.
type ObjectHandler struct {
	// Importer returns the importer, opened once per warm container.
	Importer func(ctx context.Context) (*Importer, error)
	S3       bucket.Getter
}

// Handle imports the object the event names.
func (h *ObjectHandler) Handle(ctx context.Context, ev ObjectEvent) (*ObjectResult, error) {
	im, err := h.Importer(ctx)
	if err != nil {
		return nil, err
	}
	return im.ImportObject(ctx, ev, h.S3)
}
