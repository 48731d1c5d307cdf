package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
)

// DefaultChunkRecords is how many records one chunk of a split dataset
// holds: small enough that the import function finishes a chunk well
// inside its 15 minutes, large enough to keep batches full.
const DefaultChunkRecords = 50000

// SplitEvent asks the dataset function to split an uploaded dataset into
// JSON Lines chunks in the bucket.
type SplitEvent struct {
	// Object is the dataset's reference; or Bucket and Key name it (as the
	// S3 "Object Created" event does) and the handler builds it.
	Object    string            `json:"object,omitempty"`
	Bucket    string            `json:"bucket,omitempty"`
	Key       string            `json:"key,omitempty"`
	ETag      string            `json:"etag,omitempty"`
	Execution string            `json:"execution"`
	Source    string            `json:"source,omitempty"`
	Map       map[string]string `json:"map,omitempty"`
}

// Chunk is one JSON Lines piece of a split dataset.
type Chunk struct {
	Object    string `json:"object"`
	ETag      string `json:"etag"`
	Records   int    `json:"records"`
	FirstLine int    `json:"first_line"`
}

// SplitResult lists the chunks, in order.
type SplitResult struct {
	Object   string `json:"object"`
	ETag     string `json:"etag"`
	Source   string `json:"source"`
	Format   string `json:"format"`
	Records  int    `json:"records"`
	TooLarge []int  `json:"too_large_lines,omitempty"`
	// Unreadable are the lines of records the reader found a problem
	// with (a JSON Lines line that is no object, invalid UTF-8, a field
	// twice).
	Unreadable []int   `json:"unreadable_lines,omitempty"`
	Chunks     []Chunk `json:"chunks"`
}

// Splitter writes chunks next to the dataset, under
// <root>/chunks/<execution>/.
type Splitter struct {
	S3 interface {
		bucket.Getter
		bucket.Putter
	}
	ChunkRecords int
}

// Split reads the dataset once, streaming, and writes each chunk as soon
// as it is full, so memory holds one chunk at most. Chunk names are
// deterministic (execution + number), so a retried split overwrites its
// own chunks instead of adding new ones.
func (s *Splitter) Split(ctx context.Context, ev SplitEvent) (*SplitResult, error) {
	if ev.Object == "" || ev.Execution == "" {
		return nil, &BadInputError{Err: errors.New(`the split event needs "object" and "execution"`)}
	}
	var getter bucket.Getter
	var putter bucket.Putter
	if s.S3 != nil {
		getter, putter = s.S3, s.S3
	}
	obj, err := bucket.Open(ctx, ev.Object, getter)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	if ev.ETag != "" && strings.Trim(ev.ETag, `"`) != obj.ETag {
		return nil, &BadInputError{Err: fmt.Errorf("%s changed: ETag %s, the event expected %s", ev.Object, obj.ETag, ev.ETag)}
	}
	r, err := dataset.NewReader(ev.Object, obj.Body, catalog.Fields, dataset.Options{Map: ev.Map, Required: catalog.RequiredFields})
	if err != nil {
		return nil, &BadInputError{Err: err}
	}
	size := s.ChunkRecords
	if size <= 0 {
		size = DefaultChunkRecords
	}
	dir, base := chunkDir(ev.Object, ev.Execution)
	res := &SplitResult{Object: ev.Object, ETag: obj.ETag, Source: ev.Source, Format: string(r.Format()), Chunks: []Chunk{}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	cur := Chunk{}
	flush := func() error {
		if cur.Records == 0 {
			return nil
		}
		cur.Object = bucket.Join(dir, fmt.Sprintf("%s-%05d.jsonl", base, len(res.Chunks)+1))
		etag, err := bucket.Put(ctx, cur.Object, bytes.NewReader(buf.Bytes()), putter)
		if err != nil {
			return err
		}
		cur.ETag = etag
		res.Chunks = append(res.Chunks, cur)
		buf.Reset()
		cur = Chunk{}
		return nil
	}
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var se *dataset.SyntaxError
		if errors.As(err, &se) {
			return nil, &BadInputError{Err: err}
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", ev.Object, err)
		}
		res.Records++
		if raw.TooLarge {
			res.TooLarge = append(res.TooLarge, raw.Line)
			continue
		}
		if raw.Problem != nil {
			// Written to a chunk its fields would lose what is wrong
			// with them (JSON encoding replaces invalid UTF-8): listed
			// like a record too large, to find in the object.
			res.Unreadable = append(res.Unreadable, raw.Line)
			continue
		}
		if cur.Records == 0 {
			cur.FirstLine = raw.Line
		}
		if err := enc.Encode(raw.Fields); err != nil {
			return nil, fmt.Errorf("%s:%d: encoding the record: %w", ev.Object, raw.Line, err)
		}
		cur.Records++
		if cur.Records >= size {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return res, nil
}

// chunkDir puts chunks beside the imports/ prefix: s3://b/imports/x.csv ->
// s3://b/chunks/<execution>/x-00001.jsonl.
func chunkDir(object, execution string) (dir, base string) {
	i := strings.Index(object, "/imports/")
	root := object[:strings.LastIndex(object, "/")]
	if i >= 0 {
		root = object[:i]
	}
	base = path.Base(object)
	for _, ext := range []string{".gz", ".jsonl", ".json", ".csv", ".ndjson"} {
		base = strings.TrimSuffix(base, ext)
	}
	return bucket.Join(root, "chunks/"+execution), base
}
