// Package importer writes validated catalog records into PostgreSQL: in
// batches, each one transaction (CopyFrom into a staging table, then
// set-based INSERT and UPDATE), brands before fragrances, with identity and
// exact matching (a matching.Matcher seam for fuzzy matching), merges that fill
// missing fields and are logged so they can be undone, quarantine for the
// records that fail validation, and one report line per input record.
// Re-importing the same data changes nothing.
package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Outcomes of one input record.
const (
	OutcomeInserted  = "inserted"
	OutcomeUpdated   = "updated"
	OutcomeUnchanged = "unchanged"
	OutcomeDuplicate = "duplicate"
	OutcomeReview    = "review"
	OutcomeRejected  = "rejected"
)

// Outcomes lists every outcome, in report order.
var Outcomes = []string{OutcomeInserted, OutcomeUpdated, OutcomeUnchanged, OutcomeDuplicate, OutcomeReview, OutcomeRejected}

// ReportLine is one input record's line in the --report file.
type ReportLine struct {
	Index       int      `json:"index"`
	Line        int      `json:"line"`
	SourceID    string   `json:"source_id,omitempty"`
	Outcome     string   `json:"outcome"`
	FragranceID *int64   `json:"fragrance_id"`
	DuplicateOf *int64   `json:"duplicate_of"`
	Reasons     []string `json:"reasons"`
}

// Options describe one import run.
type Options struct {
	Kind      string // manual | cycle | upload | replay
	Source    string // source for records that name none
	CycleID   string
	InputRef  string
	InputETag string
	DryRun    bool
	BatchSize int
	// Report receives one JSON line per input record (may be nil).
	Report io.Writer
	// Progress is called after each batch (may be nil).
	Progress func(Progress)
	// Phases, when set, receives the wall time of each step of the run
	// (reading ahead, matching, each table's writes, commits).
	Phases *Phases
	// EmbeddingTimeout is the time allowed, after the writes, to embed new
	// and changed fragrances; what does not finish stays pending for the
	// maintenance backfill. Zero skips embedding.
	EmbeddingTimeout time.Duration
	// HeapProfile, when set, receives a Go heap profile taken after the
	// last batch, while the run's state (seen identities, caches) is
	// still live: what an import holds grows with (docs/BENCHMARKS.md).
	HeapProfile io.Writer
}

// Progress is reported after each committed batch.
type Progress struct {
	Records   int
	BytesRead int64
}

// Summary is what an import run did.
type Summary struct {
	RunID              int64             `json:"import_run_id,omitempty"`
	File               string            `json:"file"`
	Format             string            `json:"format"`
	Source             string            `json:"source,omitempty"`
	DryRun             bool              `json:"dry_run"`
	Records            int               `json:"records"`
	Counts             map[string]int    `json:"counts"`
	Warnings           int               `json:"warnings"`
	WarningsByRule     map[string]int    `json:"warnings_by_rule,omitempty"`
	RejectedByRule     map[string]int    `json:"rejected_by_rule,omitempty"`
	ValidationPassRate float64           `json:"validation_pass_rate"`
	ImportSuccessRate  float64           `json:"import_success_rate"`
	Batches            int               `json:"batches_committed"`
	DurationSeconds    float64           `json:"duration_seconds"`
	RecordsPerSecond   float64           `json:"records_per_second"`
	Unmapped           []string          `json:"unmapped_columns,omitempty"`
	Embedding          *embedding.Result `json:"embedding,omitempty"`
	Status             string            `json:"status"`
	Error              string            `json:"error,omitempty"`

	// QuarantineSuperseded counts the open quarantine rows of earlier runs
	// this run replaced with its own: the same records quarantined again.
	// A rerun of a file leaves the open quarantine count unchanged: this
	// then equals its rejected records.
	QuarantineSuperseded int `json:"quarantine_superseded"`
}

// Importer writes records into one database.
type Importer struct {
	Pool *pgxpool.Pool
	// Embedder embeds new and changed fragrances after an import (nil: none).
	Embedder embedding.Embedder
	Config   *settings.Config
	Matcher  matching.Matcher
	Logger   *slog.Logger
	Now      func() time.Time
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

// item is one input record on its way through a batch.
type item struct {
	raw    *dataset.Raw
	f      *catalog.Fragrance
	issues []catalog.Issue
	keys   []string  // candidate keys (valid records)
	block  blockMemo // its block keys (the head of keys, for a matcher that says so)
	tokens []string  // folded name words, for a screener
	rec    recordKey // source and content hash, for a record without a source identity
	// excluded are the candidates the screener ruled out for this record.
	excluded map[int64]bool
	outcome  string
	fid      int64
	dupOf    int64
	reasons  []string
}

// BatchError wraps a failure that rolled back the batch in progress.
type BatchError struct {
	Batch     int
	FirstLine int
	Committed int
	Err       error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch %d (from line %d) rolled back after %d committed batch(es): %v", e.Batch, e.FirstLine, e.Committed, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// Records is a stream of raw records: a dataset.Reader, or the
// quarantined records being replayed.
type Records interface {
	Next() (*dataset.Raw, error)
	Name() string
	Format() dataset.Format
	BytesRead() int64
	Unmapped() []string
}

var _ Records = (*dataset.Reader)(nil)

// Import reads every record of r and writes it.
func (im *Importer) Import(ctx context.Context, r Records, opts Options) (*Summary, error) {
	start := im.now()
	if opts.BatchSize <= 0 {
		opts.BatchSize = im.Config.Monitoring.Cycle.BatchSize
	}
	if opts.Kind == "" {
		opts.Kind = "manual"
	}
	if im.Matcher == nil {
		im.Matcher = matching.FuzzyMatcher{Bands: im.Config.Monitoring.MatchingOrDefault()}
	}
	sum := &Summary{File: r.Name(), Format: string(r.Format()), Source: opts.Source, DryRun: opts.DryRun,
		Counts: map[string]int{}, WarningsByRule: map[string]int{}, RejectedByRule: map[string]int{}, Status: "running"}
	for _, o := range Outcomes {
		sum.Counts[o] = 0
	}

	pc, err := im.Pool.Acquire(ctx)
	if err != nil {
		return sum, fmt.Errorf("acquiring a database connection: %w", err)
	}
	defer pc.Release()
	var db runDB = pc.Conn()
	var outer pgx.Tx
	if opts.DryRun {
		if outer, err = pc.Begin(ctx); err != nil {
			return sum, fmt.Errorf("starting dry-run transaction: %w", err)
		}
		defer outer.Rollback(context.Background()) //nolint:errcheck
		db = outer
	}
	runID, err := im.startRun(ctx, db, r, opts)
	if err != nil {
		return sum, err
	}
	sum.RunID = runID

	brands, brandIndex, err := im.brandResolver(ctx, db)
	if err != nil {
		return sum, err
	}
	v := &catalog.Validator{Quality: im.Config.Monitoring.Quality, Brands: brands, Source: opts.Source, Now: im.Now}
	b := &batcher{im: im, db: db, opts: opts, runID: runID, brands: brands, brandIndex: brandIndex, cache: newCandidateCache(), brandIDs: newBrandCache()}

	// Reading and validating run in their own goroutine, one batch ahead of
	// the database writes.
	batches := make(chan readBatch, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		produce(r, v, opts.BatchSize, batches, stop)
	}()
	shutdown := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer shutdown()

	// A second connection to prepare the next batch on while one writes
	// (pipeline.go): not in a dry run, whose batches never commit, and
	// only when the pool has one to spare.
	if !opts.DryRun && im.Pool.Config().MaxConns >= 2 {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if c, err := im.Pool.Acquire(actx); err == nil {
			b.ahead = c
		}
		cancel()
	}
	releaseAhead := func() {
		// Every read-ahead has finished: a batch waits for its own
		// before committing, or stops it when it fails.
		if b.ahead != nil {
			b.ahead.Release()
			b.ahead = nil
		}
	}
	defer releaseAhead()

	var runErr error
	pendingValid := 0
	ctx = withPhases(ctx, opts.Phases)
	lap(ctx, "start")
	rb, more := <-batches
	for ; more; rb, more = b.following(batches) {
		lap(ctx, "wait for read + validate")
		if rb.err != nil {
			runErr, pendingValid = rb.err, rb.valid
			break
		}
		for _, it := range rb.items {
			for _, is := range it.issues {
				if is.Severity == catalog.Warning {
					sum.Warnings++
					sum.WarningsByRule[is.Rule]++
				}
			}
			if it.f == nil {
				first, _ := catalog.FirstError(it.issues)
				sum.RejectedByRule[first.Rule]++
			}
		}
		if err := b.process(ctx, rb.items, b.peek(ctx, batches)); err != nil {
			runErr = &BatchError{Batch: sum.Batches + 1, FirstLine: rb.items[0].raw.Line, Committed: sum.Batches, Err: err}
			pendingValid = rb.valid
			break
		}
		sum.Batches++
		if err := b.analyzeIfGrown(ctx); err != nil {
			runErr = err
			break
		}
		lap(ctx, "analyze")
		for _, it := range rb.items {
			sum.Counts[it.outcome]++
			if err := writeReport(opts.Report, it); err != nil {
				runErr = fmt.Errorf("writing the report: %w", err)
				break
			}
		}
		if runErr != nil {
			break
		}
		sum.Records += len(rb.items)
		lap(ctx, "report")
		if opts.Progress != nil {
			opts.Progress(Progress{Records: sum.Records, BytesRead: rb.bytesRead})
		}
	}
	shutdown()
	releaseAhead()
	if opts.HeapProfile != nil {
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(opts.HeapProfile, 0); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing the heap profile: %w", err)
		}
		runtime.KeepAlive(b)
	}
	// The run's state (seen identities, caches, the last batches) is
	// garbage from here: the embedding below must not keep it alive
	// through the deferred release, which holds b (its connection is
	// released above).
	sum.QuarantineSuperseded = b.superseded
	*b = batcher{}
	sum.Unmapped = r.Unmapped()
	elapsed := im.now().Sub(start)
	sum.DurationSeconds = elapsed.Seconds()
	if elapsed > 0 {
		sum.RecordsPerSecond = float64(sum.Records) / elapsed.Seconds()
	}
	rejected := sum.Counts[OutcomeRejected]
	if sum.Records > 0 {
		sum.ValidationPassRate = 100 * float64(sum.Records-rejected) / float64(sum.Records)
		sum.ImportSuccessRate = 100
	}
	if runErr != nil {
		sum.Status, sum.Error = "failed", runErr.Error()
		// Records read but not committed count against the success rate.
		if attempted := sum.Records - rejected + pendingValid; attempted > 0 {
			sum.ImportSuccessRate = 100 * float64(sum.Records-rejected) / float64(attempted)
		}
	} else {
		sum.Status = "succeeded"
	}
	if runErr == nil && !opts.DryRun && im.Embedder != nil && opts.EmbeddingTimeout > 0 {
		ectx, cancel := context.WithTimeout(ctx, opts.EmbeddingTimeout)
		res, err := embedding.Backfill(ectx, im.Pool, im.Embedder, im.Config.Monitoring.Embedding.BatchSize)
		cancel()
		// The import never fails because of embeddings: what was not
		// embedded stays pending for the maintenance backfill.
		if err != nil && im.Logger != nil {
			im.Logger.WarnContext(ctx, "embedding stopped early; the rest stays pending", "error", err, "embedded", res.Embedded, "pending", res.Pending)
		}
		sum.Embedding = &res
	}
	if err := im.finishRun(context.WithoutCancel(ctx), db, sum); err != nil && runErr == nil {
		runErr = err
	}
	return sum, runErr
}

// runDB is the one connection an import runs on (it holds the run's
// temporary table), or in a dry run the transaction that is rolled back at
// the end: then each batch is a savepoint inside it.
type runDB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (im *Importer) startRun(ctx context.Context, db runDB, r Records, opts Options) (int64, error) {
	var id int64
	var cycle, ref, etag, source *string
	if opts.CycleID != "" {
		cycle = &opts.CycleID
	}
	if opts.InputRef != "" {
		ref = &opts.InputRef
	} else {
		n := r.Name()
		ref = &n
	}
	if opts.InputETag != "" {
		etag = &opts.InputETag
	}
	if opts.Source != "" {
		source = &opts.Source
	}
	now := im.now()
	// Runs whose process died mid-way (no batch for StaleRunAfter) are
	// marked failed here, so import_runs does not keep them 'running'. A
	// live run this catches (one batch slower than that) sets its own
	// status again when it finishes.
	if _, err := db.Exec(ctx, `UPDATE import_runs SET status = 'failed', finished_at = coalesce(heartbeat_at, started_at),
		error = 'interrupted: no batch committed since ' || to_char(coalesce(heartbeat_at, started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
			'; the process ended before the run finished (rerun the import: committed batches are kept, the rest is imported)'
		WHERE status = 'running' AND coalesce(heartbeat_at, started_at) < $1`, now.Add(-StaleRunAfter)); err != nil {
		return 0, fmt.Errorf("closing interrupted import runs: %w", err)
	}
	err := db.QueryRow(ctx, `INSERT INTO import_runs (cycle_id, kind, source, input_ref, input_etag, dry_run, started_at, heartbeat_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`, cycle, opts.Kind, source, ref, etag, opts.DryRun, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording the import run: %w", err)
	}
	return id, nil
}

// StaleRunAfter is how long an import run may go without committing a
// batch before the next import marks it failed (interrupted). A batch takes
// seconds; the longest quiet stretch of a live run is its embedding
// backfill, bounded by the embedding timeout.
const StaleRunAfter = 15 * time.Minute

func (im *Importer) finishRun(ctx context.Context, db runDB, sum *Summary) error {
	counts, _ := json.Marshal(sum.Counts)
	summary, _ := json.Marshal(sum)
	var errText *string
	if sum.Error != "" {
		errText = &sum.Error
	}
	if _, err := db.Exec(ctx, `UPDATE import_runs SET status = $2, finished_at = $3, counts = $4::jsonb, summary = $5::jsonb, error = $6 WHERE id = $1`,
		sum.RunID, sum.Status, im.now(), postgres.JSONArg(counts), postgres.JSONArg(summary), errText); err != nil {
		return fmt.Errorf("recording the import run's result: %w", err)
	}
	return nil
}

// brandResolver knows the configured priority brands and every brand and
// alias already stored: the validator's exact resolver, and the matching
// step's brand index (lost letters, renamings, house words; see
// matching.BrandIndex) for spellings the exact one does not know.
func (im *Importer) brandResolver(ctx context.Context, db runDB) (*catalog.BrandResolver, *matching.BrandIndex, error) {
	res := catalog.NewBrandResolver()
	idx := matching.NewBrandIndex()
	rows, err := db.Query(ctx, `SELECT b.name, coalesce(array_agg(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), '{}')
		FROM brands b LEFT JOIN brand_aliases a ON a.brand_id = b.id GROUP BY b.id ORDER BY b.id`)
	if err != nil {
		return nil, nil, fmt.Errorf("loading brands: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var aliases []string
		if err := rows.Scan(&name, &aliases); err != nil {
			return nil, nil, fmt.Errorf("loading brands: %w", err)
		}
		res.Add(name, aliases...)
		idx.Add(name, aliases...)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("loading brands: %w", err)
	}
	for _, b := range im.Config.Brands.Brands {
		res.Add(b.Name, b.Aliases...)
		idx.Add(b.Name, b.Aliases...)
	}
	return res, idx, nil
}

func writeReport(w io.Writer, it *item) error {
	if w == nil {
		return nil
	}
	line := ReportLine{Index: it.raw.Index, Line: it.raw.Line, Outcome: it.outcome, Reasons: it.reasons}
	if it.f != nil {
		line.SourceID = it.f.SourceID
	} else if s, ok := it.raw.Fields["source_id"].(string); ok {
		line.SourceID = s
	}
	if it.fid != 0 {
		id := it.fid
		line.FragranceID = &id
	}
	if it.dupOf != 0 {
		id := it.dupOf
		line.DuplicateOf = &id
	}
	if line.Reasons == nil {
		line.Reasons = []string{}
	}
	data, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// How a record's stored copy can differ from the record as read
// (quarantined_records.altered, migration 00019).
const (
	alteredExcerpt   = "too large: only an excerpt kept"
	alteredReplaced  = "invalid UTF-8 or NUL bytes replaced"
	alteredTruncated = "text over 64 KiB truncated"
)

// sanitizeRecord makes a raw record storable as jsonb: valid UTF-8, no NUL
// (PostgreSQL refuses both), long values cut. altered says which of these
// changed the copy (nil: it is the record as read), so that a replay does
// not import the changed copy. A record the reader found a problem with
// keeps its rule (ProblemKey), so a replay does not take its sanitized
// values for good ones, and its text as read (ProblemTextKey); so does one
// rejected (rule) for the very bytes sanitizing replaces.
func sanitizeRecord(raw *dataset.Raw, rule string) (data []byte, altered []string) {
	if raw.TooLarge {
		data, _ := json.Marshal(map[string]string{"_excerpt": raw.Excerpt})
		return data, []string{alteredExcerpt}
	}
	var replaced, truncated bool
	clean := make(map[string]any, len(raw.Fields)+2)
	if p := raw.Problem; p != nil {
		clean[ProblemKey] = p.Rule
		clean[ProblemTextKey] = sanitizeText(p.Text, 64<<10)
	} else if rule == "utf8" || rule == "nul-byte" {
		clean[ProblemKey] = rule
	}
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case string:
			s := strings.ReplaceAll(strings.ToValidUTF8(x, "\ufffd"), "\x00", "\ufffd")
			if s != x {
				replaced = true
			}
			if len(s) > 64<<10 {
				s = s[:64<<10]
				for !utf8.ValidString(s) {
					s = s[:len(s)-1]
				}
				s += "…[truncated]"
				truncated = true
			}
			return s
		case []any:
			out := make([]any, len(x))
			for i := range x {
				out[i] = fix(x[i])
			}
			return out
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, vv := range x {
				out[fix(k).(string)] = fix(vv)
			}
			return out
		}
		return v
	}
	for k, v := range raw.Fields {
		if k == dataset.ExtraCellsKey {
			continue
		}
		clean[fix(k).(string)] = fix(v)
	}
	data, _ = json.Marshal(clean)
	if replaced {
		altered = append(altered, alteredReplaced)
	}
	if truncated {
		altered = append(altered, alteredTruncated)
	}
	return data, altered
}

// The keys a quarantined record's problem is kept under.
const (
	ProblemKey     = "_problem"
	ProblemTextKey = "_text"
)

// sanitizeText makes s storable as text: valid UTF-8, no NUL, at most max bytes.
func sanitizeText(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", "\ufffd")
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
