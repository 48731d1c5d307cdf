package importer_test

import (
	"context"
	"encoding/json"
	"errors"
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
