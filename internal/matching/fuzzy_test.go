package matching

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestFuzzyMatcherOnTuningHalf(t *testing.T) {
	t.Parallel()
	s := Evaluate(FuzzyMatcher{Bands: settings.DefaultMatching}, validator(), labeledPairs(t), "tune")
	t.Logf("fuzzy matcher, tuning half: %s", s.Report())
	require.GreaterOrEqual(t, s.Precision(), 0.995)
}

// TestFuzzyMatcherOnHeldOutPairs is the reported figure: the held-out half
// was never looked at while tuning.
func TestFuzzyMatcherOnHeldOutPairs(t *testing.T) {
	t.Parallel()
	s := Evaluate(FuzzyMatcher{Bands: settings.DefaultMatching}, validator(), labeledPairs(t), "heldout")
	t.Logf("fuzzy matcher, held-out half: %s", s.Report())
	require.GreaterOrEqual(t, s.Precision(), 0.995, "wrong merges: %v", s.Wrong)
	require.GreaterOrEqual(t, s.Recall(), 0.95)
	require.Less(t, s.ReviewRate(), 0.03)
}

// TestFragranceRules is the rule table of the matching issue: every example
// it names, as a case.
func TestFragranceRules(t *testing.T) {
	t.Parallel()
	v := validator()
	m := FuzzyMatcher{Bands: settings.DefaultMatching}
	rec := func(fields ...string) *catalog.Fragrance {
		raw := map[string]any{}
		for i := 0; i+1 < len(fields); i += 2 {
			raw[fields[i]] = fields[i+1]
		}
		f, issues := v.Check(&dataset.Raw{Fields: raw})
		require.NotNil(t, f, "%v: %v", fields, issues)
		return f
	}
	cases := []struct {
		name string
		a, b *catalog.Fragrance
		want Kind
	}{
		{"flanker Intense", rec("brand", "Dolce & Gabbana", "name", "Light Blue"), rec("brand", "Dolce & Gabbana", "name", "Light Blue Intense"), Insert},
		{"flanker Elixir", rec("brand", "Dior", "name", "Sauvage"), rec("brand", "Dior", "name", "Sauvage Elixir"), Insert},
		{"flanker Pour Homme", rec("brand", "Lanvin", "name", "Arpege"), rec("brand", "Lanvin", "name", "Arpege Pour Homme"), Insert},
		{"flanker edition", rec("brand", "Calvin Klein", "name", "Eternity"), rec("brand", "Calvin Klein", "name", "Eternity Summer 2005"), Insert},
		{"numbers", rec("brand", "Chanel", "name", "No. 5"), rec("brand", "Chanel", "name", "No. 19"), Insert},
		{"numbers inside a word", rec("brand", "Reebok", "name", "Bravado2"), rec("brand", "Reebok", "name", "Bravado3"), Insert},
		{"leading year is a name", rec("brand", "Trussardi", "name", "Donna"), rec("brand", "Trussardi", "name", "1911 Donna"), Insert},
		{"concentrations", rec("brand", "Dior", "name", "Sauvage", "concentration", "EDT"), rec("brand", "Dior", "name", "Sauvage", "concentration", "EDP"), Insert},
		{"genders", rec("brand", "Calvin Klein", "name", "Eternity", "gender", "women"), rec("brand", "Calvin Klein", "name", "Eternity", "gender", "men"), Insert},
		{"brands", rec("brand", "Etro", "name", "Ambra"), rec("brand", "Aquaflor Firenze", "name", "Ambra"), Insert},
		{"word order", rec("brand", "Hov Parfumeur", "name", "Pirates Gold"), rec("brand", "Hov Parfumeur", "name", "Gold Pirates"), Merge},
		{"accents", rec("brand", "Boucheron", "name", "Jaipur Homme"), rec("brand", "Boucheron", "name", "Jaïpur Homme"), Merge},
		{"apostrophes", rec("brand", "Nina Ricci", "name", "L Air du Temps"), rec("brand", "Nina Ricci", "name", "L’Air du Temps"), Merge},
		{"trailing year", rec("brand", "Guerlain", "name", "Shalimar"), rec("brand", "Guerlain", "name", "Shalimar 1925"), Merge},
		{"(Vintage)", rec("brand", "Guerlain", "name", "Mitsouko"), rec("brand", "Guerlain", "name", "Mitsouko (Vintage)"), Merge},
		{"brand in the title", rec("brand", "Dior", "name", "Sauvage"), rec("brand", "Christian Dior", "name", "Dior Sauvage"), Merge},
		{"a typo", rec("brand", "Guerlain", "name", "Shalimar"), rec("brand", "Guerlain", "name", "Shalimr"), Merge},
		{"missing gender, one candidate", rec("brand", "Dior", "name", "Sauvage", "gender", "men"), rec("brand", "Dior", "name", "Sauvage"), Merge},
		{"a name empty after normalization", rec("brand", "Acme", "name", "---"), rec("brand", "Acme", "name", "---"), Review},
		{"a one-letter name", rec("brand", "Yves Saint Laurent", "name", "Y"), rec("brand", "YSL", "name", "Y"), Review},
		{"a name that is only the brand", rec("brand", "Trussardi", "name", "Trussardi"), rec("brand", "Trussardi", "name", "Trussardi"), Review},
		{"a name that is only a concentration", rec("brand", "Acme", "name", "EDT"), rec("brand", "Acme", "name", "EDT"), Review},
	}
	for _, tc := range cases {
		d := m.Match(tc.b, []Candidate{{ID: 1, Fragrance: tc.a}})
		require.Equal(t, tc.want, d.Kind, "%s: %s", tc.name, d.Reason)
		if tc.want == Review {
			require.NotEmpty(t, d.Reason, tc.name)
		}
	}

	// A short name merges when something else corroborates it.
	y1 := rec("brand", "Yves Saint Laurent", "name", "Y", "year", "2017")
	y2 := rec("brand", "YSL", "name", "Y", "year", "2017")
	require.Equal(t, Merge, m.Match(y2, []Candidate{{ID: 1, Fragrance: y1}}).Kind)

	// A missing gender with candidates of both genders is a question.
	women := rec("brand", "Calvin Klein", "name", "Eternity", "gender", "women")
	men := rec("brand", "Calvin Klein", "name", "Eternity", "gender", "men")
	d := m.Match(rec("brand", "Calvin Klein", "name", "Eternity"), []Candidate{{ID: 1, Fragrance: women}, {ID: 2, Fragrance: men}})
	require.Equal(t, Review, d.Kind)
	require.Contains(t, d.Reason, "2 candidates")
	// Two source_ids of one source never merge.
	a := rec("brand", "Dior", "name", "Sauvage", "source", "s", "source_id", "1")
	b := rec("brand", "Dior", "name", "Sauvage", "source", "s", "source_id", "2")
	require.Equal(t, Insert, m.Match(b, []Candidate{{ID: 1, Fragrance: a, Identities: []Identity{{Source: "s", SourceID: "1"}}}}).Kind)
}

// TestBlockKeysAreUTF8 files names in scripts of several bytes a letter:
// every key is valid UTF-8 (PostgreSQL refuses the batch otherwise) and the
// prefix key holds five letters.
func TestBlockKeysAreUTF8(t *testing.T) {
	t.Parallel()
	v := validator()
	for _, name := range []string{"香水香水香水", "Zoë Ünïcødé 香水 🌹", "Парфюмерная вода", "ab香水香水", "عطر الورد"} {
		f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "Acme", "name": name}})
		require.NotNil(t, f, "%s: %v", name, issues)
		keys := BlockKeys(f)
		require.NotEmpty(t, keys)
		for _, k := range keys {
			require.True(t, utf8.ValidString(k), "%s: key %q", name, k)
			if _, prefix, ok := strings.Cut(k, "|p:"); ok {
				require.Equal(t, 5, utf8.RuneCountInString(prefix), "%s: key %q", name, k)
			}
		}
	}
}
