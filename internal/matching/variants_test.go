package matching

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/settings"
)

// TestNameReadingsAsExactKeys: a source name that another catalog writes
// otherwise (accents lost either way, "N°", "&", ordinals, the brand cut
// out of the name) finds that catalog's entry as an exact key, and such a
// key beats a looser candidate.
func TestNameReadingsAsExactKeys(t *testing.T) {
	t.Parallel()
	v := validator()
	m := FuzzyMatcher{Bands: settings.DefaultMatching}
	rec := recordMaker(t, v)
	cases := []struct {
		name            string
		catalog, source *catalog.Fragrance
		want            Kind
	}{
		{"accent made a space after the letter", rec("brand", "Azzaro", "name", "Mademoiselle L Eau Tre s Belle"),
			rec("brand", "Azzaro", "name", "Mademoiselle L’Eau Très Belle", "gender", "women"), Merge},
		{"N° as N", rec("brand", "Chanel", "name", "N 19"), rec("brand", "Chanel", "name", "N°19", "gender", "women"), Merge},
		{"N as No", rec("brand", "Chanel", "name", "No 22"), rec("brand", "Chanel", "name", "N 22"), Merge},
		{"& dropped", rec("brand", "Jo Malone", "name", "Amber Lavender"), rec("brand", "Jo Malone", "name", "Amber & Lavender"), Merge},
		{"ordinal and the brand after a dangling de", rec("brand", "Caron", "name", "Le 3 Homme de Caron"),
			rec("brand", "Caron", "name", "Le 3e Homme de"), Merge},
		{"brand after a dangling de", rec("brand", "Givenchy", "name", "Eau de Givenchy"), rec("brand", "Givenchy", "name", "Eau de"), Merge},
		{"brand in its lost-accent spelling", rec("brand", "Lancome", "name", "Cuir de Lanc me"), rec("brand", "Lancôme", "name", "Cuir de"), Merge},
		{"brand after by, before a concentration", rec("brand", "Gucci", "name", "Flora by Gucci Eau de Parfum"),
			rec("brand", "Gucci", "name", "Flora by Eau de Parfum"), Merge},
		{"brand glued to a cut name", rec("brand", "Christian Dior", "name", "Diorella"), rec("brand", "Christian Dior", "name", "ella"), Merge},
		{"another number is still another product", rec("brand", "Chanel", "name", "N 19"), rec("brand", "Chanel", "name", "N°22"), Insert},
		{"a name that is only a concentration gets no brand put back, and never merges", rec("brand", "Givenchy", "name", "Eau de Givenchy", "concentration", "EDP"),
			rec("brand", "Givenchy", "name", "Eau de Parfum"), Review},
		{"a flanker is still a flanker", rec("brand", "Givenchy", "name", "Eau de Givenchy Intense"), rec("brand", "Givenchy", "name", "Eau de"), Insert},
	}
	for _, tc := range cases {
		d := m.Match(tc.source, []Candidate{{ID: 1, Fragrance: tc.catalog}})
		require.Equal(t, tc.want, d.Kind, "%s: %s", tc.name, d.Reason)
		if tc.want == Merge {
			keys := m.Keys(tc.source)
			require.Contains(t, keys, tc.catalog.MatchKey, "%s: the catalog entry's key is looked up", tc.name)
		}
	}

	// An exact reading beats a looser candidate: "Bleu de" is the catalog's
	// "Bleu de Chanel" without a concentration, not a tie with its EDP.
	plain := rec("brand", "Chanel", "name", "Bleu de Chanel")
	edp := rec("brand", "Chanel", "name", "Bleu de Chanel", "concentration", "EDP")
	d := m.Match(rec("brand", "Chanel", "name", "Bleu de", "gender", "men"), []Candidate{{ID: 2, Fragrance: edp}, {ID: 1, Fragrance: plain}})
	require.Equal(t, Merge, d.Kind, d.Reason)
	require.EqualValues(t, 1, d.Target)

	// Two catalog entries under one reading (a men's and a women's
	// version, no gender) are a question.
	d = m.Match(rec("brand", "Chanel", "name", "N°19"), []Candidate{{ID: 1, Fragrance: rec("brand", "Chanel", "name", "N 19")},
		{ID: 2, Fragrance: rec("brand", "Chanel", "name", "N 19")}})
	require.Equal(t, Review, d.Kind, d.Reason)
	require.Contains(t, d.Reason, "same-name-versions")

	// Plain names make no readings (and cost nothing), lower-case ones of
	// several words included.
	require.Empty(t, VariantKeys(rec("brand", "Dior", "name", "Sauvage")))
	require.Empty(t, VariantKeys(rec("brand", "Brand 17", "name", "w123 x45")))
	require.Empty(t, VariantKeys(rec("brand", "Hermes", "name", "Terre d Hermes")))
	// Non-Latin names are kept: no reading folds them away.
	for _, vk := range VariantKeys(rec("brand", "Acme", "name", "Парфюмерная вода 2")) {
		require.Contains(t, vk.Key, "парфюмерная", vk.Key)
	}
}

// TestPickVersion: of several records of one source matching one catalog
// fragrance, the one whose year, gender or accords fit it is picked; with
// nothing to tell them apart, none is.
func TestPickVersion(t *testing.T) {
	t.Parallel()
	m := FuzzyMatcher{Bands: settings.DefaultMatching}
	year := func(y int) *int { return &y }
	c := &catalog.Fragrance{Name: "Narcisse Noir", Year: year(1911), Accords: []catalog.Accord{{Name: "floral"}, {Name: "musky"}}}
	plain := &catalog.Fragrance{Name: "Narcisse Noir"}
	dated := &catalog.Fragrance{Name: "Narcisse Noir", Year: year(1911)}
	relaunch := &catalog.Fragrance{Name: "Narcisse Noir", Year: year(2021)}
	i, why := m.PickVersion([]*catalog.Fragrance{plain, dated, relaunch}, c)
	require.Equal(t, 1, i)
	require.Contains(t, why, "launch year 1911")

	accords := &catalog.Fragrance{Name: "Narcisse Noir", Accords: []catalog.Accord{{Name: "floral"}, {Name: "musky"}}}
	i, _ = m.PickVersion([]*catalog.Fragrance{plain, accords}, c)
	require.Equal(t, 1, i)

	women := &catalog.Fragrance{Name: "Cool Water", Gender: "women"}
	men := &catalog.Fragrance{Name: "Cool Water", Gender: "men"}
	i, _ = m.PickVersion([]*catalog.Fragrance{women, men}, &catalog.Fragrance{Name: "Cool Water", Gender: "men"})
	require.Equal(t, 1, i)

	// No evidence, or the same evidence on both: none.
	i, _ = m.PickVersion([]*catalog.Fragrance{plain, {Name: "Narcisse Noir"}}, c)
	require.Equal(t, -1, i)
	i, _ = m.PickVersion([]*catalog.Fragrance{dated, {Name: "Narcisse Noir", Year: year(1911)}}, c)
	require.Equal(t, -1, i)
}

// TestDecomposedAccents: a source whose accents are combining marks
// ("Tre" + U+0300 + "s") reads as the catalog that made the mark a space
// has it ("Tre s"), as a precomposed "è" does.
func TestDecomposedAccents(t *testing.T) {
	t.Parallel()
	require.Equal(t, "tre s belle", decomposedFold("Tre\u0300s Belle"))
	require.Equal(t, "tre s belle", decomposedFold("Très Belle"))
	require.Equal(t, "", decomposedFold("Tres Belle"))
	// Marks on non-Latin letters are no lost accents.
	require.Equal(t, "", decomposedFold("\u0915\u093c"))
}
