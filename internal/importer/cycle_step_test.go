package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/importer"
)

// recordsByID serves records the way a source's detail endpoint would.
type recordsByID map[string]map[string]any

func (r recordsByID) FetchRecord(_ context.Context, id string) (json.RawMessage, error) {
	rec, ok := r[id]
	if !ok {
		return nil, errors.New("404 Not Found")
	}
	return json.Marshal(rec)
}

func TestCycleImportStepFetchesCandidatesOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	store := &cycle.Store{DB: b.pool}
	fetches := 0
	src := recordsByID{
		"101": {"brand": "Acme", "name": "Oud Night", "concentration": "EDP", "notes": []any{"Oud"}},
		"102": {"brand": "Acme", "name": "Oud Night Intense", "concentration": "EDP", "accords": []any{"oud"}},
	}
	step := &importer.CycleStep{
		Importer:   b.im,
		BucketRoot: "file://" + t.TempDir(),
		Fetcher: func(_ context.Context, source string) (importer.RecordFetcher, func(), error) {
			require.Equal(t, "sandbox", source)
			fetches++
			return src, nil, nil
		},
	}
	detect, _ := json.Marshal(map[string]any{"candidate_count": 3, "candidates": []importer.Candidate{
		{Source: "sandbox", SourceID: "101", Brand: "Acme", Name: "Oud Night", Reason: "trending"},
		{Source: "sandbox", SourceID: "102", Brand: "Acme", Name: "Oud Night Intense", Reason: "coverage_gap"},
		{Source: "sandbox", SourceID: "999", Brand: "Gone", Name: "Vanished", Reason: "trending"},
	}})
	st := cycle.State{CycleID: "manual-20261129T1000", Trigger: "manual", Results: map[string]json.RawMessage{"detect": detect}}
	_, err := store.Begin(ctx, st)
	require.NoError(t, err)

	res, err := step.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, 3, res.Candidates)
	require.Equal(t, 2, res.Fetched)
	require.Len(t, res.FetchErrors, 1)
	require.Equal(t, "999", res.FetchErrors[0].SourceID)
	require.Equal(t, 2, res.Counts[importer.OutcomeInserted], "a flanker is its own product")
	require.Equal(t, 2, res.NewFragrances)
	require.InDelta(t, 200.0/3, res.ImportSuccessRate, 0.001, "the candidate never fetched was not imported")
	require.Equal(t, 100.0, res.ValidationPassRate, "a fetch error is no record")

	// A retry of the step (after a crash before its result was stored)
	// reuses the fetched records and adds nothing.
	again, err := step.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, 1, fetches, "the records are fetched once per cycle")
	require.Equal(t, 2, again.Counts[importer.OutcomeUnchanged])
	require.Equal(t, 2, again.NewFragrances, "new fragrances are counted by cycle, not by attempt")
	require.Len(t, again.FetchErrors, 1)

	// A refresh marks the identities seen, even when nothing changed.
	_, err = b.pool.Exec(ctx, `UPDATE source_identities SET last_seen_at = now() - interval '30 days'`)
	require.NoError(t, err)
	_, err = step.Handle(ctx, st)
	require.NoError(t, err)
	var stale int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM source_identities WHERE last_seen_at < now() - interval '1 day'`).Scan(&stale))
	require.Zero(t, stale, "refreshed identities are no longer stale")

	// Without a detect result the step refuses.
	_, err = step.Handle(ctx, cycle.State{CycleID: "x"})
	var bad *cycle.BadInputError
	require.ErrorAs(t, err, &bad)
}

// failAll is a source that is down: every record fetch fails, with a
// long error as an upstream's error page gives.
type failAll struct{ except string }

func (f failAll) FetchRecord(_ context.Context, id string) (json.RawMessage, error) {
	if id == f.except {
		return json.Marshal(map[string]any{"brand": "Acme", "name": "Scent " + id})
	}
	return nil, fmt.Errorf("503 Service Unavailable: %s", strings.Repeat("upstream maintenance ", 40))
}

// TestCycleImportResultStaysSmallWhenEveryFetchFails: an upstream outage
// at max_fragrances (10000 candidates) leaves an Import result far under
// the Step Functions state limit: the first errors inline, the count, and
// the bucket object that holds them all.
func TestCycleImportResultStaysSmallWhenEveryFetchFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	const n = 10000
	cands := make([]importer.Candidate, n)
	for i := range cands {
		cands[i] = importer.Candidate{Source: "sandbox", SourceID: strconv.Itoa(i), Brand: "Acme", Name: "Scent", Reason: "trending"}
	}
	root := t.TempDir()
	step := &importer.CycleStep{Importer: b.im, BucketRoot: "file://" + root,
		Fetcher: func(context.Context, string) (importer.RecordFetcher, func(), error) { return failAll{}, nil, nil }}
	detect, _ := json.Marshal(map[string]any{"candidate_count": n, "candidates": cands})
	st := cycle.State{CycleID: "manual-20261129T1100", Trigger: "manual", Results: map[string]json.RawMessage{"detect": detect}}

	res, err := step.Handle(ctx, st)
	require.NoError(t, err)
	require.Zero(t, res.Fetched)
	require.Equal(t, n, res.FetchErrorsCount)
	require.Zero(t, res.ImportSuccessRate, "no candidate was imported")
	require.Len(t, res.FetchErrors, importer.MaxInlineFetchErrors)
	require.Equal(t, "0", res.FetchErrors[0].SourceID)
	encoded, err := json.Marshal(res)
	require.NoError(t, err)
	require.Less(t, len(encoded), 32<<10, "the result travels in the Step Functions state (256 KiB at most)")

	// The reference holds every error.
	require.Equal(t, "file://"+root+"/cycles/manual-20261129T1100/import/records-errors.json", res.FetchErrorsRef)
	data, err := os.ReadFile(strings.TrimPrefix(res.FetchErrorsRef, "file://"))
	require.NoError(t, err)
	var all []importer.FetchError
	require.NoError(t, json.Unmarshal(data, &all))
	require.Len(t, all, n)
	require.Equal(t, strconv.Itoa(n-1), all[n-1].SourceID)
}

// TestCycleImportRefreshesOnlyTheFetchedPastTheInlineErrors: the
// identities of candidates that failed are not marked seen, the ones
// past the inline list too.
func TestCycleImportRefreshesOnlyTheFetchedPastTheInlineErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	const n = importer.MaxInlineFetchErrors + 5
	src := recordsByID{}
	cands := make([]importer.Candidate, n)
	for i := range cands {
		id := strconv.Itoa(i)
		src[id] = map[string]any{"brand": "Acme", "name": "Scent " + id}
		cands[i] = importer.Candidate{Source: "sandbox", SourceID: id, Brand: "Acme", Name: "Scent " + id, Reason: "trending"}
	}
	detect, _ := json.Marshal(map[string]any{"candidate_count": n, "candidates": cands})
	var fetcher importer.RecordFetcher = src
	step := &importer.CycleStep{Importer: b.im, BucketRoot: "file://" + t.TempDir(),
		Fetcher: func(context.Context, string) (importer.RecordFetcher, func(), error) { return fetcher, nil, nil }}
	store := &cycle.Store{DB: b.pool}
	handle := func(id string) (*importer.CycleResult, error) {
		st := cycle.State{CycleID: id, Trigger: "manual", Results: map[string]json.RawMessage{"detect": detect}}
		if _, err := store.Begin(ctx, st); err != nil {
			return nil, err
		}
		res, err := step.Handle(ctx, st)
		if err == nil {
			err = store.Finish(ctx, id, "succeeded", nil)
		}
		return res, err
	}
	res, err := handle("manual-20261129T1200")
	require.NoError(t, err)
	require.Equal(t, n, res.Counts[importer.OutcomeInserted])
	require.Zero(t, res.FetchErrorsCount)
	require.Empty(t, res.FetchErrorsRef)

	_, err = b.pool.Exec(ctx, `UPDATE source_identities SET last_seen_at = now() - interval '30 days'`)
	require.NoError(t, err)
	last := strconv.Itoa(n - 1)
	fetcher = failAll{except: last}
	res, err = handle("manual-20261129T1300")
	require.NoError(t, err)
	require.Equal(t, n-1, res.FetchErrorsCount)
	require.Len(t, res.FetchErrors, importer.MaxInlineFetchErrors)
	var fresh []string
	rows, err := b.pool.Query(ctx, `SELECT source_id FROM source_identities WHERE last_seen_at > now() - interval '1 day'`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		fresh = append(fresh, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{last}, fresh, "only the fetched candidate was refreshed")
}

// TestCycleImportResultCarriesPeakMemory: the Import step's result has
// max_rss_mb, as every step's does (docs/state-contract.md), whether it
// imported or had no candidates; the metrics step's peak_memory_mb takes
// the maximum over the steps.
func TestCycleImportResultCarriesPeakMemory(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("getrusage's peak is checked on Linux (Lambda's) only")
	}
	ctx := context.Background()
	b := setup(t)
	src := recordsByID{"7": {"brand": "Acme", "name": "Oud Night", "notes": []any{"Oud"}}}
	step := &importer.CycleStep{Importer: b.im, BucketRoot: "file://" + t.TempDir(),
		Fetcher: func(context.Context, string) (importer.RecordFetcher, func(), error) { return src, nil, nil }}
	for _, cands := range [][]importer.Candidate{
		{{Source: "sandbox", SourceID: "7", Brand: "Acme", Name: "Oud Night", Reason: "trending"}},
		{},
	} {
		detect, _ := json.Marshal(map[string]any{"candidate_count": len(cands), "candidates": cands})
		st := cycle.State{CycleID: fmt.Sprintf("manual-20261129T14%02d", len(cands)), Trigger: "manual",
			Results: map[string]json.RawMessage{"detect": detect}}
		store := &cycle.Store{DB: b.pool}
		_, err := store.Begin(ctx, st)
		require.NoError(t, err)
		res, err := step.Handle(ctx, st)
		require.NoError(t, err)
		require.NoError(t, store.Finish(ctx, st.CycleID, "succeeded", nil))
		require.Equal(t, len(cands), res.Counts[importer.OutcomeInserted])
		encoded, err := json.Marshal(res)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(encoded, &m))
		rss, ok := m["max_rss_mb"].(float64)
		require.True(t, ok, "max_rss_mb in %s", encoded)
		require.Positive(t, rss)
		require.Equal(t, rss, math.Round(rss*10)/10, "rounded to 0.1 MB")
	}
}
