package matching

import (
	"regexp"
	"sort"
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
	rec := recordMaker(t, v)
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
		{"trailing year that is the launch year", rec("brand", "Guerlain", "name", "Shalimar", "year", "1925"), rec("brand", "Guerlain", "name", "Shalimar 1925"), Merge},
		{"trailing year is an edition (issue 18)", rec("brand", "Guerlain", "name", "Muguet"), rec("brand", "Guerlain", "name", "Muguet 2017"), Insert},
		{"stated concentration the candidate lacks", rec("brand", "Yves Saint Laurent", "name", "Y"), rec("brand", "Yves Saint Laurent", "name", "Y Eau de Toilette"), Insert},
		{"relaunch years apart", rec("brand", "Caron", "name", "Nocturnes", "year", "1981"), rec("brand", "Caron", "name", "Nocturnes", "year", "2023"), Insert},
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

// TestExcludesOnlyWhatCannotFit: a candidate Excludes rules out scores 0
// and does not share the record's match key, so Match decides the same
// without it (the importer then never loads it in full).
func TestExcludesOnlyWhatCannotFit(t *testing.T) {
	t.Parallel()
	m := FuzzyMatcher{Bands: settings.DefaultMatching}
	v := validator()
	excluded, kept := 0, 0
	for _, p := range labeledPairs(t) {
		a, _ := v.Check(&dataset.Raw{Fields: p.A})
		b, _ := v.Check(&dataset.Raw{Fields: p.B})
		if a == nil || b == nil {
			continue
		}
		for _, x := range [][2]*catalog.Fragrance{{a, b}, {b, a}} {
			f, c := x[0], x[1]
			if !m.Excludes(f, NameTokens(f), c, NameTokens(c)) {
				kept++
				continue
			}
			excluded++
			s, reason := Score(f, c)
			require.Zero(t, s, "%s / %s excluded but scores %.3f (%s)", f.Name, c.Name, s, reason)
			require.NotEqual(t, f.MatchKey, c.MatchKey)
			require.Equal(t, Insert, m.Match(f, []Candidate{{ID: 1, Fragrance: c}}).Kind)
		}
	}
	t.Logf("%d excluded, %d kept", excluded, kept)
	require.Positive(t, excluded)
	require.Positive(t, kept)
	// A review band from 0 makes every candidate a possible fit.
	open := FuzzyMatcher{Bands: settings.Matching{MergeThreshold: 0.92, MaxCandidates: 20}}
	f := &catalog.Fragrance{BrandKey: "dior", Name: "Sauvage", MatchKey: "dior|sauvage||"}
	c := &catalog.Fragrance{BrandKey: "dior", Name: "Sauvage Elixir", MatchKey: "dior|sauvage elixir||"}
	require.True(t, m.Excludes(f, nil, c, nil))
	require.False(t, open.Excludes(f, nil, c, nil))
}

// TestWordRulesAgreeWithTheirRegexps: isYear, isNumber and numbers are
// written by hand for speed; they answer as the regexps they replace.
func TestWordRulesAgreeWithTheirRegexps(t *testing.T) {
	t.Parallel()
	yearRe := regexp.MustCompile(`^(17|18|19|20)\d\d$`)
	numberRe := regexp.MustCompile(`^\d+$`)
	runRe := regexp.MustCompile(`\d+`)
	byRegexp := func(tokens []string) string {
		var out []string
		for _, t := range tokens {
			if yearRe.MatchString(t) {
				continue
			}
			for _, d := range runRe.FindAllString(t, -1) {
				out = append(out, strings.TrimLeft(d, "0"))
			}
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	words := []string{"", "0", "5", "007", "1699", "1700", "1799", "1999", "2000", "2099", "2100", "20000", "199", "19a9",
		"no5", "bravado2", "a1b22c333", "٣", "x0y", "00", "212", "1881", "3x", "1912s"}
	v := validator()
	for _, p := range labeledPairs(t) {
		for _, rec := range []map[string]any{p.A, p.B} {
			if f, _ := v.Check(&dataset.Raw{Fields: rec}); f != nil {
				words = append(words, nameTokens(f)...)
			}
		}
	}
	for _, w := range words {
		require.Equal(t, yearRe.MatchString(w), isYear(w), "isYear(%q)", w)
		require.Equal(t, numberRe.MatchString(w), isNumber(w), "isNumber(%q)", w)
	}
	for i := 0; i+3 <= len(words); i++ {
		tokens := words[i : i+3]
		require.Equal(t, byRegexp(tokens), numbers(tokens), "numbers(%q)", tokens)
	}
}
