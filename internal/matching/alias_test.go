package matching_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/matching"
)

// lineups files each brand's names under ids 1, 2, ... in order.
func lineups(brands ...[]string) *matching.BrandLineups {
	x := matching.NewBrandLineups()
	for i, b := range brands {
		for _, n := range b[1:] {
			x.Add(int64(i+1), b[0], n)
		}
	}
	return x
}

func TestAliasNameProposesTheBrandSharingDistinctiveNames(t *testing.T) {
	t.Parallel()
	x := lineups(
		[]string{"Une Nuit A Bali", "Fleur Des Fleurs", "Mr Vetiver", "Murmure des Dieux", "Suma Oriental", "Une Nuit A Bali"},
		[]string{"Other House", "Fleur Des Fleurs", "Amber"},
	)
	source := []string{"Murmure des Dieux", "Suma Oriental", "Mr Vetiver", "Something New", "Fleur des Fleurs"}
	ev := x.SimilarBrands(source)
	require.Len(t, ev, 2, "both brands list Fleur des Fleurs")
	require.Equal(t, "Une Nuit A Bali", ev[0].Brand)
	require.Equal(t, []string{"Murmure des Dieux", "Suma Oriental", "Mr Vetiver", "Fleur des Fleurs"}, ev[0].Shared)
	p, ok := matching.AliasName("Une Nuit Nomade", len(source), ev)
	require.True(t, ok)
	require.Equal(t, int64(1), p.Best.BrandID)
	require.Contains(t, p.Reason, `"Une Nuit Nomade" shares 4 distinctive name(s) of its 5 with "Une Nuit A Bali"`)
	require.Len(t, p.Candidates, 2, "the other brand is offered too")
}

func TestAliasNameLostLettersCount(t *testing.T) {
	t.Parallel()
	x := lineups([]string{"Anfasic Dokhoon", "Tr sor Noir", "Gaya", "Hareer", "Ghawy", "Oud Royal"})
	ev := x.SimilarBrands([]string{"Trésor Noir", "Hareer", "Elsewhere"})
	p, ok := matching.AliasName("Anfas", 3, ev)
	require.True(t, ok)
	require.Equal(t, []string{"Trésor Noir", "Hareer"}, p.Best.Shared)
}

func TestAliasNameRefuses(t *testing.T) {
	t.Parallel()
	common := lineups(
		[]string{"A House", "Oud Royal", "Rose Garden", "Velvet Smoke"},
		[]string{"B House", "Oud Royal", "Rose Garden"},
		[]string{"C House", "Oud Royal", "Rose Garden"},
	)
	for name, tc := range map[string]struct {
		x      *matching.BrandLineups
		source []string
	}{
		"one shared name": {lineups([]string{"A", "Velvet Smoke", "Amber Night"}), []string{"Velvet Smoke", "Other"}},
		"only short names": {lineups([]string{"A", "Oud", "Rose", "Musk", "Velvet Smoke Long"}),
			[]string{"Oud", "Rose", "Musk"}},
		"names three brands list": {common, []string{"Oud Royal", "Rose Garden", "Velvet Smoke"}},
		// A small catalog house sharing a theme with a large source house.
		"under a fifth of the source's names": {lineups([]string{"A", "Aries", "Libra", "Virgo", "Scorpio", "Cancer"}),
			[]string{"Aries", "Libra", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9", "N10", "N11"}},
		"under a fifth of the smaller line-up": {lineups([]string{"A", "Alpha One", "Beta Two", "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10"}),
			[]string{"Alpha One", "Beta Two", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9", "N10", "N11"}},
		"two brands tie": {lineups([]string{"A", "Alpha One", "Beta Two"}, []string{"B", "Gamma Three", "Delta Four"}),
			[]string{"Alpha One", "Beta Two", "Gamma Three", "Delta Four"}},
		"nothing shared": {lineups([]string{"A", "Alpha One"}), []string{"Zeta"}},
	} {
		t.Run(name, func(t *testing.T) {
			ev := tc.x.SimilarBrands(tc.source)
			_, ok := matching.AliasName("Source", len(tc.source), ev)
			require.False(t, ok, "%+v", ev)
		})
	}
}

func TestBrandLineupsCountsEachBrandOnce(t *testing.T) {
	t.Parallel()
	// A men's and a women's version under one name is still one brand.
	x := lineups([]string{"A", "Same Name", "Same Name", "Other Name"}, []string{"B", "Same Name"})
	ev := x.SimilarBrands([]string{"Same Name"})
	require.Len(t, ev, 2)
	require.Equal(t, 2, x.Len())
}
