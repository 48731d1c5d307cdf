package importer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/rusage"
)

// Candidate is one entry of the detect step's candidate list: what the
// import step needs of it.
type Candidate struct {
	Source   string  `json:"source"`
	SourceID string  `json:"source_id"`
	Brand    string  `json:"brand"`
	Name     string  `json:"name"`
	Reason   string  `json:"reason"`
	Score    float64 `json:"score"`
}

// RecordFetcher fetches one record, in the import record format, from a
// source (GET /api/v1/fragrances/{source_id} for the HTTP source).
type RecordFetcher interface {
	FetchRecord(ctx context.Context, sourceID string) (json.RawMessage, error)
}

// CycleStep is the cycle's Import step: it fetches each candidate's record
// from its source, keeps the fetched records in the bucket (so a retry
// imports exactly the same records), and imports them.
type CycleStep struct {
	Importer *Importer
	// Fetcher opens a configured source; release frees it (a local
	// sandbox server, for one).
	Fetcher func(ctx context.Context, source string) (f RecordFetcher, release func(), err error)
	S3      interface {
		bucket.Getter
		bucket.Putter
	}
	// BucketRoot is s3://bucket in AWS, file://$SCENTMATCH_HOME/bucket locally.
	BucketRoot       string
	EmbeddingTimeout time.Duration
}

// FetchError is a candidate whose record could not be fetched.
type FetchError struct {
	Source   string `json:"source"`
	SourceID string `json:"source_id"`
	Error    string `json:"error"`
}

// CycleResult is the Import step's result (docs/state-contract.md).
type CycleResult struct {
	ImportRunID        int64            `json:"import_run_id,omitempty"`
	DryRun             bool             `json:"dry_run"`
	Candidates         int              `json:"candidates"`
	Fetched            int              `json:"fetched"`
	FetchErrors        []FetchError     `json:"fetch_errors,omitempty"` // the first MaxInlineFetchErrors
	FetchErrorsCount   int              `json:"fetch_errors_count,omitempty"`
	FetchErrorsRef     string           `json:"fetch_errors_ref,omitempty"` // all of them
	RecordsRef         string           `json:"records_ref,omitempty"`
	Records            int              `json:"records"`
	Counts             map[string]int   `json:"counts"`
	NewFragrances      int              `json:"new_fragrances"`
	ValidationPassRate float64          `json:"validation_pass_rate"`
	ImportSuccessRate  float64          `json:"import_success_rate"`
	Embedding          *embeddingResult `json:"embedding,omitempty"`
	// FetchSeconds is the time spent fetching the candidates' records
	// from their source (politeness delays included; 0 on a retry that
	// reuses the stored records).
	FetchSeconds float64 `json:"fetch_seconds"`
	Seconds      float64 `json:"seconds"`
	// MaxRSSMB is the process's peak memory (every step result carries
	// one; the metrics step takes the maximum for peak_memory_mb).
	MaxRSSMB float64 `json:"max_rss_mb"`
}

// MaxInlineFetchErrors is how many fetch errors the Import step's result
// carries inline, each error cut to maxInlineFetchErrorBytes: the result
// travels in the Step Functions state, whose 256 KiB limit an upstream
// outage would otherwise break (max_fragrances allows 10000 candidates,
// and States.DataLimitExceeded cannot be caught). fetch_errors_count
// counts them all and fetch_errors_ref names the bucket object that
// holds them all (docs/state-contract.md).
const (
	MaxInlineFetchErrors     = 20
	maxInlineFetchErrorBytes = 300
)

// setFetchErrors records the fetch errors in the result: their count, the
// object that holds them (ref), and the first few inline.
func (res *CycleResult) setFetchErrors(errs []FetchError, ref string) {
	res.FetchErrors, res.FetchErrorsCount, res.FetchErrorsRef = nil, len(errs), ""
	if len(errs) == 0 {
		return
	}
	res.FetchErrorsRef = ref
	for _, e := range errs[:min(len(errs), MaxInlineFetchErrors)] {
		e.SourceID = sanitizeText(e.SourceID, maxInlineFetchErrorBytes)
		e.Error = sanitizeText(e.Error, maxInlineFetchErrorBytes)
		res.FetchErrors = append(res.FetchErrors, e)
	}
}

type embeddingResult struct {
	Embedded int   `json:"embedded"`
	Failed   int   `json:"failed"`
	Pending  int64 `json:"pending"`
}

// Handle runs the step for one cycle. RunStep (internal/cycle) makes it
// idempotent by cycle id; within it, the fetched records are stored
// under cycles/<id>/import/ and a rerun reuses them.
func (s *CycleStep) Handle(ctx context.Context, st cycle.State) (*CycleResult, error) {
	res, err := s.handle(ctx, st)
	if res != nil {
		res.MaxRSSMB = rusage.MaxRSSMB()
	}
	return res, err
}

func (s *CycleStep) handle(ctx context.Context, st cycle.State) (*CycleResult, error) {
	start := time.Now()
	cands, err := s.candidates(ctx, st)
	if err != nil {
		return nil, err
	}
	res := &CycleResult{DryRun: st.DryRun, Candidates: len(cands), Counts: map[string]int{}}
	if len(cands) == 0 {
		return res, nil
	}
	ref := bucket.Join(s.BucketRoot, "cycles/"+st.CycleID+"/import/records.jsonl")
	var getter bucket.Getter
	var putter bucket.Putter
	if s.S3 != nil {
		getter, putter = s.S3, s.S3
	}
	data, fetchErrs, err := s.storedRecords(ctx, ref, getter)
	if err != nil {
		return nil, err
	}
	if data == nil {
		fetchStart := time.Now()
		data, fetchErrs, err = s.fetch(ctx, cands)
		if err != nil {
			return nil, err
		}
		res.FetchSeconds = math.Round(time.Since(fetchStart).Seconds()*1000) / 1000
		// The errors first: a records file without its errors file would
		// make a retry believe every candidate was fetched.
		errJSON, _ := json.Marshal(fetchErrs)
		if _, err := bucket.Put(ctx, fetchErrorsRef(ref), bytes.NewReader(errJSON), putter); err != nil {
			return nil, &cycle.TransientError{Err: fmt.Errorf("keeping the fetch errors: %w", err)}
		}
		if _, err := bucket.Put(ctx, ref, bytes.NewReader(data), putter); err != nil {
			return nil, &cycle.TransientError{Err: fmt.Errorf("keeping the fetched records: %w", err)}
		}
	}
	res.RecordsRef = ref
	res.setFetchErrors(fetchErrs, fetchErrorsRef(ref))
	res.Fetched = len(cands) - len(fetchErrs)
	if res.Fetched == 0 {
		return res, nil
	}
	r, err := dataset.NewReader(ref, bytes.NewReader(data), catalog.Fields, dataset.Options{})
	if err != nil {
		return nil, &cycle.BadInputError{Err: err}
	}
	sum, err := s.Importer.Import(ctx, r, Options{Kind: "cycle", CycleID: st.CycleID, InputRef: ref, DryRun: st.DryRun,
		EmbeddingTimeout: s.EmbeddingTimeout})
	if err != nil {
		return nil, cycle.Classify(fmt.Errorf("importing the cycle's candidates: %w", err))
	}
	res.ImportRunID, res.Records, res.Counts = sum.RunID, sum.Records, sum.Counts
	res.ValidationPassRate, res.ImportSuccessRate = sum.ValidationPassRate, sum.ImportSuccessRate
	// A candidate that could not be fetched was not imported: it counts
	// against the success rate as the metrics step's KPI counts it.
	if valid := sum.Records - sum.Counts[OutcomeRejected]; len(fetchErrs) > 0 {
		res.ImportSuccessRate = sum.ImportSuccessRate * float64(valid) / float64(valid+len(fetchErrs))
	}
	if sum.Embedding != nil {
		res.Embedding = &embeddingResult{Embedded: sum.Embedding.Embedded, Failed: sum.Embedding.Failed, Pending: sum.Embedding.Pending}
	}
	// The fetched records are fresh data for the identities they carry,
	// whatever their outcome (an unchanged refresh too): detection judges
	// staleness by last_seen_at, so a refreshed fragrance stops coming
	// back as stale.
	if !st.DryRun {
		if err := s.touchIdentities(ctx, cands, fetchErrs); err != nil {
			return nil, err
		}
	}
	// New fragrances are those this cycle created, counted in the catalog
	// so a rerun after a crash still reports them.
	if st.DryRun {
		res.NewFragrances = sum.Counts[OutcomeInserted]
	} else if err := s.Importer.Pool.QueryRow(ctx, `SELECT count(*) FROM fragrances WHERE created_cycle_id = $1`, st.CycleID).Scan(&res.NewFragrances); err != nil {
		return nil, cycle.Classify(fmt.Errorf("counting the cycle's new fragrances: %w", err))
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// candidates reads the detect result: inline, or by reference.
func (s *CycleStep) candidates(ctx context.Context, st cycle.State) ([]Candidate, error) {
	var det struct {
		Candidates    []Candidate `json:"candidates"`
		CandidatesRef string      `json:"candidates_ref"`
	}
	ok, err := st.Result(cycle.StepDetect, &det)
	if err != nil {
		return nil, &cycle.BadInputError{Err: err}
	}
	if !ok {
		return nil, &cycle.BadInputError{Err: errors.New("the cycle state has no detect result: the import step runs after detect")}
	}
	if det.CandidatesRef == "" {
		return det.Candidates, nil
	}
	var getter bucket.Getter
	if s.S3 != nil {
		getter = s.S3
	}
	obj, err := bucket.Open(ctx, det.CandidatesRef, getter)
	if err != nil {
		return nil, &cycle.TransientError{Err: err}
	}
	defer obj.Body.Close()
	var out []Candidate
	sc := bufio.NewScanner(obj.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c Candidate
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, &cycle.BadInputError{Err: fmt.Errorf("%s:%d: %w", det.CandidatesRef, line, err)}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, &cycle.TransientError{Err: fmt.Errorf("reading %s: %w", det.CandidatesRef, err)}
	}
	return out, nil
}

// storedRecords returns the records an earlier attempt of this step
// fetched, or nil when there are none.
func (s *CycleStep) storedRecords(ctx context.Context, ref string, getter bucket.Getter) ([]byte, []FetchError, error) {
	obj, err := bucket.Open(ctx, ref, getter)
	if err != nil {
		return nil, nil, nil // not fetched yet (or unreadable: fetch again)
	}
	defer obj.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(obj.Body); err != nil {
		return nil, nil, nil
	}
	var fetchErrs []FetchError
	if eo, err := bucket.Open(ctx, fetchErrorsRef(ref), getter); err == nil {
		_ = json.NewDecoder(eo.Body).Decode(&fetchErrs)
		eo.Body.Close()
	}
	return buf.Bytes(), fetchErrs, nil
}

// fetch gets each candidate's record. A candidate that cannot be fetched
// is reported, not fatal: the cycle imports what it has.
func (s *CycleStep) fetch(ctx context.Context, cands []Candidate) ([]byte, []FetchError, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	var fetchErrs []FetchError
	fetchers := map[string]RecordFetcher{}
	for _, c := range cands {
		f, ok := fetchers[c.Source]
		if !ok {
			var release func()
			var err error
			if f, release, err = s.Fetcher(ctx, c.Source); err != nil {
				return nil, nil, &cycle.BadInputError{Err: fmt.Errorf("source %q of candidate %s: %w", c.Source, c.SourceID, err)}
			}
			if release != nil {
				defer release()
			}
			fetchers[c.Source] = f
		}
		raw, err := f.FetchRecord(ctx, c.SourceID)
		var rec map[string]any
		if err == nil {
			if derr := json.Unmarshal(raw, &rec); derr != nil || rec == nil {
				err = fmt.Errorf("the source answered something other than a record object")
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, &cycle.TransientError{Err: ctx.Err()}
			}
			fetchErrs = append(fetchErrs, FetchError{Source: c.Source, SourceID: c.SourceID, Error: err.Error()})
			continue
		}
		if rec["source"] == nil {
			rec["source"] = c.Source
		}
		if rec["source_id"] == nil {
			rec["source_id"] = c.SourceID
		}
		if err := enc.Encode(rec); err != nil {
			return nil, nil, fmt.Errorf("encoding the record of %s/%s: %w", c.Source, c.SourceID, err)
		}
	}
	return buf.Bytes(), fetchErrs, nil
}

func fetchErrorsRef(recordsRef string) string {
	return strings.TrimSuffix(recordsRef, ".jsonl") + "-errors.json"
}

// touchIdentities marks the fetched candidates' identities as seen now.
func (s *CycleStep) touchIdentities(ctx context.Context, cands []Candidate, fetchErrs []FetchError) error {
	failed := map[string]bool{}
	for _, e := range fetchErrs {
		failed[e.Source+"\x1f"+e.SourceID] = true
	}
	var sources, ids []string
	for _, c := range cands {
		if !failed[c.Source+"\x1f"+c.SourceID] {
			sources, ids = append(sources, c.Source), append(ids, c.SourceID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.Importer.Pool.Exec(ctx, `UPDATE source_identities si SET last_seen_at = greatest(si.last_seen_at, now())
		FROM unnest($1::text[], $2::text[]) AS q(source, source_id)
		WHERE si.source = q.source AND si.source_id = q.source_id`, sources, ids)
	if err != nil {
		return cycle.Classify(fmt.Errorf("marking the refreshed identities as seen: %w", err))
	}
	return nil
}
