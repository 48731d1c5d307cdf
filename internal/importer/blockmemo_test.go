package importer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
)

// TestBlockMemoFollowsTheKeyFields: the memo hands back the keys it holds
// while the fields they come from are the same, and computes them again
// when a merge or an update changes one (a filled-in gender, a new name).
func TestBlockMemoFollowsTheKeyFields(t *testing.T) {
	t.Parallel()
	f := &catalog.Fragrance{Brand: "Dior", BrandKey: "dior", Name: "Fahrenheit Le Parfum", Concentration: catalog.ConcParfum}
	f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
	var m blockMemo
	first := m.get(f)
	require.Equal(t, matching.BlockKeys(f), first)
	year := 2014
	f.Year, f.Description = &year, "not a key field"
	require.Same(t, &first[0], &m.get(f)[0], "the same fields: the same keys, not computed again")
	f.Gender = "men"
	f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
	require.Equal(t, matching.BlockKeys(f), m.get(f))
	require.NotEqual(t, first, m.get(f))
	f.Name = "Fahrenheit Absolute"
	require.Equal(t, matching.BlockKeys(f), m.get(f))
}
