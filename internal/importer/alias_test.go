package importer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/matching"
)

// aliasFixture imports a catalog brand with a few distinctive names, then
// a source that spells the house another way no rule resolves. It returns
// the second source's file and report lines.
func aliasFixture(t *testing.T, b *bundle) (string, []importer.ReportLine) {
	t.Helper()
	catalogFile := writeFile(t, "catalog.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Maison Verlaine", "name": "Velvet Orchid Dream", "year": 2015}`,
		`{"source_id": "2", "brand": "Maison Verlaine", "name": "Amber Lantern", "year": 2016}`,
		`{"source_id": "3", "brand": "Maison Verlaine", "name": "Cedar Whisper", "year": 2017}`,
		`{"source_id": "4", "brand": "Maison Verlaine", "name": "Oud", "year": 2018}`,
		`{"source_id": "5", "brand": "Other House", "name": "Amber Lantern", "year": 2019}`,
		`{"source_id": "6", "brand": "Third House", "name": "Oud", "year": 2019}`,
	}, "\n"))
	_, _, err := b.run(t, catalogFile, nil, importer.Options{Source: "cat"})
	require.NoError(t, err)
	source := writeFile(t, "source.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Verlaine Atelier", "name": "Velvet Orchid Dream", "year": 2015}`,
		`{"source_id": "b", "brand": "Verlaine Atelier", "name": "Cedar Whisper", "year": 2017}`,
		`{"source_id": "c", "brand": "Verlaine Atelier", "name": "Amber Lantern"}`,
		`{"source_id": "d", "brand": "Verlaine Atelier", "name": "Brand New Thing", "year": 2026}`,
		`{"brand": "Verlaine Atelier", "name": "No Identity"}`,
		`{"source_id": "e", "brand": "Unrelated House", "name": "Velvet Orchid Dream"}`,
	}, "\n"))
	_, lines, err := b.run(t, source, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	return source, lines
}

func proposals(t *testing.T, b *bundle) []importer.ReviewItem {
	t.Helper()
	items, err := b.im.ListReviews(context.Background(), false, 100)
	require.NoError(t, err)
	var out []importer.ReviewItem
	for _, it := range items {
		if it.Kind == importer.KindBrandAlias {
			out = append(out, it)
		}
	}
	return out
}

func TestBrandAliasProposalHoldsRecordsAndAcceptApplies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	source, lines := aliasFixture(t, b)

	// One proposal: "Verlaine Atelier" may be "Maison Verlaine" (three
	// distinctive names shared; "Amber Lantern" is listed by two brands,
	// still distinctive). Its five records wait in review; the one-record
	// brand is too little evidence and becomes a brand of its own.
	ps := proposals(t, b)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, "Verlaine Atelier", p.Alias)
	require.Equal(t, "Maison Verlaine", p.Brand)
	require.Equal(t, 5, p.HeldRecords)
	require.Contains(t, p.Reasons[0], `"Verlaine Atelier" shares 3 distinctive name(s) of its 5 with "Maison Verlaine"`)
	var cands []matching.BrandEvidence
	require.NoError(t, json.Unmarshal(p.Candidates, &cands))
	require.Equal(t, "Maison Verlaine", cands[0].Brand)
	for _, l := range lines[:5] {
		require.Equal(t, importer.OutcomeReview, l.Outcome)
		require.Nil(t, l.FragranceID)
		require.Contains(t, l.Reasons[len(l.Reasons)-1], "brand-alias proposal")
	}
	require.Equal(t, importer.OutcomeInserted, lines[5].Outcome)
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM brands WHERE match_key = 'verlaine atelier'"), "no brand while the proposal is open")

	// A held record is decided through its proposal only.
	all, err := b.im.ListReviews(ctx, false, 100)
	require.NoError(t, err)
	var heldID int64
	for _, it := range all {
		if it.Held {
			heldID = it.ID
			require.Equal(t, p.ID, it.ProposalID)
		}
	}
	require.NotZero(t, heldID)
	_, err = b.im.Resolve(ctx, heldID, true, "test")
	require.ErrorIs(t, err, importer.ErrInvalid)

	// Rerunning the import changes nothing: no second proposal, no second
	// held row.
	before := count(t, b.pool, "SELECT count(*) FROM review_queue")
	_, again, err := b.run(t, source, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Equal(t, before, count(t, b.pool, "SELECT count(*) FROM review_queue"))
	require.Equal(t, importer.OutcomeReview, again[0].Outcome)

	// Accept: the alias is stored, the held records are decided again in
	// the same transaction: three merge into Maison Verlaine's fragrances,
	// two are inserted under it.
	res, err := b.im.Resolve(ctx, p.ID, true, "test")
	require.NoError(t, err)
	require.Equal(t, importer.KindBrandAlias, res.Kind)
	require.Equal(t, 5, res.Alias.Held)
	require.Equal(t, map[string]int{importer.OutcomeDuplicate: 3, importer.OutcomeInserted: 2}, res.Alias.Counts)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM brand_aliases a JOIN brands b ON b.id = a.brand_id WHERE a.alias_key = 'verlaine atelier' AND b.name = 'Maison Verlaine'"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM review_queue WHERE status = 'open'"))
	require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM source_identities s JOIN fragrances f ON f.id = s.fragrance_id
		WHERE s.source = 'shop' AND s.source_id = 'a' AND f.name = 'Velvet Orchid Dream' AND f.brand_id = (SELECT id FROM brands WHERE name = 'Maison Verlaine')`))
	require.Equal(t, 6, count(t, b.pool, "SELECT count(*) FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE b.name = 'Maison Verlaine'"))
	_, err = b.im.Resolve(ctx, p.ID, false, "test")
	require.ErrorIs(t, err, importer.ErrInvalid, "decided once")

	// From then on the alias applies at validation: a rerun is unchanged.
	sum, third, err := b.run(t, source, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Zero(t, sum.Counts[importer.OutcomeReview])
	require.Zero(t, sum.Counts[importer.OutcomeInserted])
	require.Equal(t, importer.OutcomeUnchanged, third[4].Outcome, "the record without a source_id is found again")
	require.Len(t, proposals(t, b), 0)
}

func TestBrandAliasProposalRejectCreatesTheBrand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	source, _ := aliasFixture(t, b)
	ps := proposals(t, b)
	require.Len(t, ps, 1)

	res, err := b.im.Resolve(ctx, ps[0].ID, false, "test")
	require.NoError(t, err)
	require.Equal(t, map[string]int{importer.OutcomeInserted: 5}, res.Alias.Counts)
	require.Equal(t, "Verlaine Atelier", res.Alias.Brand)
	require.Equal(t, 5, count(t, b.pool, "SELECT count(*) FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE b.match_key = 'verlaine atelier'"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM brand_aliases"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM review_queue WHERE status = 'open'"))

	// The spelling is a brand now: a rerun proposes nothing and changes nothing.
	sum, _, err := b.run(t, source, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Zero(t, sum.Counts[importer.OutcomeReview])
	require.Zero(t, sum.Counts[importer.OutcomeInserted])
	require.Len(t, proposals(t, b), 0)
}

// A source's spellings are compared only with brands other sources list:
// what it imported itself before (an earlier run, an interrupted run of the
// same file) proposes nothing, so a rerun after a crash ends where a clean
// import does.
func TestBrandAliasNotProposedAgainstTheSameSource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := writeFile(t, "first.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Maison Verlaine", "name": "Velvet Orchid Dream"}`,
		`{"source_id": "2", "brand": "Maison Verlaine", "name": "Amber Lantern"}`,
		`{"source_id": "3", "brand": "Maison Verlaine", "name": "Cedar Whisper"}`,
	}, "\n"))
	_, _, err := b.run(t, first, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	second := writeFile(t, "second.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Verlaine Atelier", "name": "Velvet Orchid Dream"}`,
		`{"source_id": "b", "brand": "Verlaine Atelier", "name": "Cedar Whisper"}`,
	}, "\n"))
	sum, _, err := b.run(t, second, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Counts[importer.OutcomeInserted])
	require.Empty(t, proposals(t, b))
}
