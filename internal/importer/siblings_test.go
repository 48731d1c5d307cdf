package importer_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/importer"
)

// TestSameSourceVersionsAreDecidedTogether: a source listing one name
// twice lists two products. When both would go to the one catalog
// fragrance of that name, the record whose launch year fits it merges and
// the other is inserted; with no evidence both are inserted, and the
// report line names the rule.
func TestSameSourceVersionsAreDecidedTogether(t *testing.T) {
	t.Parallel()
	b := setup(t)
	catalog := writeFile(t, "catalog.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Caron", "name": "Narcisse Noir", "year": 1911}`,
		`{"source_id": "2", "brand": "Caron", "name": "Acaciosa", "year": 1924}`,
		`{"source_id": "3", "brand": "Caron", "name": "Rose", "year": 1949}`,
	}, "\n"))
	_, lines, err := b.run(t, catalog, nil, importer.Options{Source: "cat"})
	require.NoError(t, err)
	narcisse, acaciosa, rose := *lines[0].FragranceID, *lines[1].FragranceID, *lines[2].FragranceID

	second := writeFile(t, "second.jsonl", strings.Join([]string{
		`{"brand": "Caron", "name": "Narcisse Noir", "gender": "women"}`,
		`{"brand": "Caron", "name": "Narcisse Noir (1911)", "gender": "women"}`,
		`{"brand": "Caron", "name": "Acaciosa", "gender": "women", "votes": 38}`,
		`{"brand": "Caron", "name": "Acaciosa", "gender": "women", "votes": 133}`,
		`{"brand": "Caron", "name": "Rose", "gender": "women", "votes": 12}`,
		`{"brand": "Caron", "name": "Rose", "gender": "women", "votes": 12}`,
	}, "\n"))
	sum, lines, err := b.run(t, second, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Equal(t, 3, sum.Counts["duplicate"], "%+v", lines)
	require.Equal(t, 3, sum.Counts["inserted"], "%+v", lines)

	// The launch year tells which Narcisse Noir is the catalog's.
	require.Equal(t, "inserted", lines[0].Outcome)
	require.Contains(t, strings.Join(lines[0].Reasons, "; "), "rule same-source-versions")
	require.Equal(t, "duplicate", lines[1].Outcome)
	require.Equal(t, narcisse, *lines[1].DuplicateOf)
	require.Contains(t, strings.Join(lines[1].Reasons, "; "), "launch year 1911")
	// Nothing tells the two Acaciosa apart: neither is folded into the catalog's.
	for _, l := range lines[2:4] {
		require.Equal(t, "inserted", l.Outcome, "%+v", l)
		require.NotEqual(t, acaciosa, *l.FragranceID)
		require.Contains(t, strings.Join(l.Reasons, "; "), "rule same-source-versions")
	}
	// The same record listed twice is one product: both copies are the
	// catalog's Rose.
	for _, l := range lines[4:] {
		require.Equal(t, "duplicate", l.Outcome, "%+v", l)
		require.Equal(t, rose, *l.FragranceID)
	}
}
