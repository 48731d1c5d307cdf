package matching

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

// TestBrandResolutionRules covers the kinds of brand difference issue 18
// names, against a catalog that lists the older or stripped forms, and
// the spellings that must resolve to nothing.
func TestBrandResolutionRules(t *testing.T) {
	t.Parallel()
	x := NewBrandIndex()
	for _, b := range []string{"Christian Dior", "Paco Rabanne", "Thierry Mugler", "Maurer Wirtz", "Victoria s Secret",
		"Viktor Rolf", "D S Durga", "Malin Goetz", "D Orsay", "Jo Malone", "Memo", "Masque", "Parfums BDK Paris",
		"Est e Lauder", "Aerin Lauder", "Hermes", "Chanel", "Une Nuit A Bali"} {
		x.Add(b)
	}
	for _, c := range []struct{ spelling, want, rule string }{
		{"Dior", "christian dior", "renamed"},
		{"Rabanne", "paco rabanne", "renamed"},
		{"Mugler", "thierry mugler", "renamed"},
		{"4711", "maurer wirtz", "renamed"},
		{"Victoria's Secret", "victoria s secret", "exact"},
		{"Viktor&Rolf", "viktor rolf", "compact"},
		{"DS&Durga", "d s durga", "compact"},
		{"Malin+Goetz", "malin goetz", "compact"},
		{"D’ORSAY", "d orsay", "exact"},
		{"Jo Malone London", "jo malone", "house-words"},
		{"Memo Paris", "memo", "house-words"},
		{"Masque Milano", "masque", "house-words"},
		{"BDK Parfums", "parfums bdk paris", "house-words"},
		{"Estée Lauder", "est e lauder", "lost-letters"},
		{"Hermès", "hermes", "exact"},
		{"Aerin", "aerin lauder", "token-subset"},
	} {
		r := x.ResolveWhy(c.spelling)
		require.Equal(t, c.want, r.Key, c.spelling)
		require.Equal(t, c.rule, r.Rule, c.spelling)
	}
	for _, s := range []string{"Lauder", "Byredo", "Une Nuit Nomade", "", "Шанель", "香奈儿", "شانيل", "Paris"} {
		r := x.ResolveWhy(s)
		require.Empty(t, r.Key, "%q must not resolve (%s)", s, r.Rule)
		require.NotEmpty(t, r.Rule, "an unresolved brand says why")
	}
}

// TestBadNamesAreNeverMerged: names that are empty once the brand and
// concentration words are set aside go to review with the rule named, and
// non-Latin spellings are kept verbatim and matched only on what they
// share.
func TestBadNamesAreNeverMerged(t *testing.T) {
	t.Parallel()
	v := validator()
	m := FuzzyMatcher{Bands: settings.DefaultMatching}
	rec := recordMaker(t, v)
	// An empty name is not a record: quarantined by the validator.
	f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "Acme", "name": "  "}})
	require.Nil(t, f)
	require.Equal(t, "required", issues[0].Rule)

	for _, c := range []struct {
		name string
		cat  *catalog.Fragrance
		rec  *catalog.Fragrance
	}{
		{"concentration words only", rec("brand", "Acme", "name", "Eau de Parfum"), rec("brand", "Acme", "name", "Eau de Parfum")},
		{"brand only", rec("brand", "Trussardi", "name", "Trussardi"), rec("brand", "Trussardi", "name", "Trussardi", "gender", "women")},
		{"brand and concentration only", rec("brand", "Acme", "name", "Acme EDT"), rec("brand", "Acme", "name", "Acme Eau de Toilette", "gender", "men")},
	} {
		d := m.Match(c.rec, []Candidate{{ID: 1, Fragrance: c.cat}})
		require.NotEqual(t, Merge, d.Kind, c.name)
		if d.Kind == Review {
			require.Contains(t, d.Reason, "rule weak-name", c.name)
		}
	}

	// Non-Latin names keep their letters: a key never folds to empty, the
	// same spelling matches, a Latin one does not.
	for _, n := range []string{"Шанс", "عود الليل", "香水"} {
		a := rec("brand", "Acme", "name", n)
		require.NotEqual(t, "acme|||", a.MatchKey, n)
		require.Contains(t, a.MatchKey, strings.ToLower(n), n)
		require.Empty(t, LossyFold(n), "non-Latin letters are not 'lost letters': %s", n)
		b := rec("brand", "Acme", "name", n, "gender", "women")
		require.Equal(t, Merge, m.Match(b, []Candidate{{ID: 1, Fragrance: a}}).Kind, n)
		latin := rec("brand", "Acme", "name", "Chance")
		require.Equal(t, Insert, m.Match(b, []Candidate{{ID: 2, Fragrance: latin}}).Kind, n)
	}
}

// TestEditionsAndLostLetters covers the name damage and edition rules of
// issue 18.
func TestEditionsAndLostLetters(t *testing.T) {
	t.Parallel()
	v := validator()
	m := FuzzyMatcher{Bands: settings.DefaultMatching}
	rec := recordMaker(t, v)
	cands := func(fs ...*catalog.Fragrance) []Candidate {
		out := make([]Candidate, len(fs))
		for i, f := range fs {
			out[i] = Candidate{ID: int64(i + 1), Fragrance: f}
		}
		return out
	}
	// A letter the catalog lost with its accent.
	d := m.Match(rec("brand", "Lancome", "name", "Trésor", "gender", "women"), cands(rec("brand", "Lancome", "name", "Tr sor")))
	require.Equal(t, Merge, d.Kind, d.Reason)
	d = m.Match(rec("brand", "Jean Paul Gaultier", "name", "Fleur du Mâle", "gender", "men"),
		cands(rec("brand", "Jean Paul Gaultier", "name", "Fleur du M le"), rec("brand", "Jean Paul Gaultier", "name", "Le Male")))
	require.Equal(t, Merge, d.Kind, d.Reason)
	require.Equal(t, int64(1), d.Target)

	// The exact edition beats the bare name.
	d = m.Match(rec("brand", "Chanel", "name", "Coco Mademoiselle Eau de Toilette", "gender", "women"),
		cands(rec("brand", "Chanel", "name", "Coco Mademoiselle"), rec("brand", "Chanel", "name", "Coco Mademoiselle Eau de toilette")))
	require.Equal(t, Merge, d.Kind, d.Reason)
	require.Equal(t, int64(2), d.Target)
	d = m.Match(rec("brand", "Chanel", "name", "Coco Mademoiselle", "gender", "women"),
		cands(rec("brand", "Chanel", "name", "Coco Mademoiselle Eau de toilette"), rec("brand", "Chanel", "name", "Coco Mademoiselle")))
	require.Equal(t, Merge, d.Kind, d.Reason)
	require.Equal(t, int64(2), d.Target)

	// A stated edition the candidate lacks is another product.
	for _, c := range [][2]string{{"CK One Summer 2018", "CK One Summer"}, {"Neroli Portofino Parfum", "Neroli Portofino"}, {"Y Eau de Toilette", "Y"}} {
		d = m.Match(rec("brand", "Acme", "name", c[0]), cands(rec("brand", "Acme", "name", c[1])))
		require.Equal(t, Insert, d.Kind, "%s / %s: %s", c[0], c[1], d.Reason)
	}

	// Same-name men's and women's versions in a catalog without gender:
	// review, never one at random.
	d = m.Match(rec("brand", "Acme", "name", "Musk", "gender", "women"), cands(rec("brand", "Acme", "name", "Musk"), rec("brand", "Acme", "name", "Musk")))
	require.Equal(t, Review, d.Kind, d.Reason)
	require.Contains(t, d.Reason, "rule same-name-versions")

	// A source without source_ids that lists one name twice lists two
	// products: the second is not folded into what the first became.
	first := rec("brand", "Acme", "name", "Rose", "gender", "women", "source", "s", "rating", "4.1")
	second := rec("brand", "Acme", "name", "Rose", "gender", "women", "source", "s", "rating", "3.2")
	c := Candidate{ID: 7, Fragrance: rec("brand", "Acme", "name", "Rose"), Records: []Identity{{Source: "s", SourceID: catalog.ContentHash(first)}}}
	require.Equal(t, Insert, m.Match(second, []Candidate{c}).Kind)
	require.Equal(t, Merge, m.Match(first, []Candidate{c}).Kind, "the same record again is that fragrance")
}

// TestBrandIndexAddKnownChangesNothing: adding a brand the index knows
// (under its own spelling, another spelling that folds the same, or as an
// alias's spelling) leaves the index as it was, which lets Add return
// early for the known brands the importer adds after every batch.
func TestBrandIndexAddKnownChangesNothing(t *testing.T) {
	t.Parallel()
	x := NewBrandIndex()
	x.Add("Christian Dior", "Dior")
	x.Add("Jo Malone")
	x.Add("Maison Francis Kurkdjian", "MFK", "Kurkdjian")
	x.Add("Hermès")
	snapshot := func() BrandIndex {
		c := BrandIndex{exact: map[string]string{}, compact: map[string][]string{}, house: map[string][]string{}, names: map[string]string{}, tokens: map[string][]string{}}
		for k, v := range x.exact {
			c.exact[k] = v
		}
		for k, v := range x.compact {
			c.compact[k] = append([]string(nil), v...)
		}
		for k, v := range x.house {
			c.house[k] = append([]string(nil), v...)
		}
		for k, v := range x.names {
			c.names[k] = v
		}
		for k, v := range x.tokens {
			c.tokens[k] = append([]string(nil), v...)
		}
		return c
	}
	before := snapshot()
	for _, name := range []string{"Christian Dior", "CHRISTIAN DIOR", "Dior", "Jo  Malone", "MFK", "Kurkdjian", "Hermes", "Hermès"} {
		x.Add(name)
		require.Equal(t, before, snapshot(), "after adding %q again", name)
	}
	x.Add("Jo Malone", "Jo Malone London")
	require.NotEqual(t, before, snapshot(), "an alias still joins a known brand")
	require.Equal(t, "jo malone", x.ResolveWhy("Jo Malone London").Key)
}
