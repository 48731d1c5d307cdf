package catalog

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestFold(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"Terre d'Hermès":     "terre d hermes",
		"Terre d Hermes":     "terre d hermes", // the catalog's stripped spelling
		"Terre d’Hermès":     "terre d hermes",
		"L'Homme":            "l homme",
		"L Homme":            "l homme",
		"Le Mâle":            "le male",
		"N°5":                "no 5",
		"No. 5":              "no 5",
		"Dolce & Gabbana":    "dolce and gabbana",
		"  CK   One  ":       "ck one",
		"Ｃｈａｎｅｌ":             "chanel", // full-width (NFKC)
		"Lancôme":            "lancome",
		"Acqua di Giò":       "acqua di gio",
		"Kenzo Pour Homme ™": "kenzo pour homme tm",
	}
	for in, want := range cases {
		require.Equal(t, want, Fold(in), in)
	}
}

func TestConcentrationSpellings(t *testing.T) {
	t.Parallel()
	// Spellings from the retail listing (../shared/data/retail-3k.csv).
	cases := map[string]string{
		"Eau de Toilette Spray":          ConcEDT,
		"Eau de Parfum Spray":            ConcEDP,
		"eau de parfum":                  ConcEDP,
		"Eau de Parfum Spray Intense":    ConcEDP,
		"Eau de Parfum Spray Refillable": ConcEDP,
		"Extrait de Parfum Spray":        ConcExtrait,
		"Extrait":                        ConcExtrait,
		"Parfum Spray":                   ConcParfum,
		"Perfume Spray":                  ConcParfum,
		"Le Parfum":                      ConcParfum,
		"Eau de Cologne Spray":           ConcEDC,
		"Cologne Spray":                  ConcCologne,
		"Toilet water spray":             ConcEDT,
		"EDT":                            ConcEDT,
		"edp":                            ConcEDP,
	}
	for in, want := range cases {
		got, ok := NormalizeConcentration(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"Gift Set", "All Over Body Spray", "Travel Set", "Spray"} {
		_, ok := NormalizeConcentration(bad)
		require.False(t, ok, bad)
	}
}

func TestGenderSpellings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Men": "men", "for men": "men", "Women": "women", "for women": "women",
		"Unisex": "unisex", "for women and men": "unisex", "Pour Homme": "men"} {
		got, ok := NormalizeGender(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	_, ok := NormalizeGender("kids")
	require.False(t, ok)
}

func TestNamesLoseBrandAndConcentrationNotFlankers(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, brand, wantName, wantConc string }{
		{"Sauvage Eau de Parfum", "Dior", "Sauvage", ConcEDP},
		{"Dior Sauvage", "Dior", "Sauvage", ""},
		{"Power by 50 Cent", "50 Cent", "Power", ""},
		{"Hermes Terre d Hermes Eau Tres Fraiche", "Hermes", "Terre d Hermes Eau Tres Fraiche", ""},
		{"Sauvage Elixir", "Dior", "Sauvage Elixir", ""},
		{"Light Blue Intense", "Dolce & Gabbana", "Light Blue Intense", ""},
		{"Le Male Le Parfum", "Jean Paul Gaultier", "Le Male Le Parfum", ""},
		{"Bleu de Chanel Parfum", "Chanel", "Bleu de Chanel", ConcParfum},
		{"Chanel", "Chanel", "Chanel", ""},
		{"Bleu de Chanel", "Chanel", "Bleu de Chanel", ""},
		{"Sauvage Dior", "Christian Dior", "Sauvage", ""},
		{"Eau de Toilette", "Acme", "Eau de Toilette", ""},
		{"Mugler Cologne", "Mugler", "Cologne", ""},
		{"Shalimar (Vintage)", "Guerlain", "Shalimar", ""},
	}
	brands := NewBrandResolver()
	brands.Add("Dior", "Christian Dior")
	for _, tc := range cases {
		v := &Validator{Quality: settings.Default().Monitoring.Quality, Brands: brands}
		f, issues := v.Check(&dataset.Raw{Index: 1, Line: 2, Fields: map[string]any{"brand": tc.brand, "name": tc.name}})
		require.NotNil(t, f, "%v", issues)
		require.Equal(t, tc.wantName, f.Name, tc.name)
		require.Equal(t, tc.wantConc, f.Concentration, tc.name)
	}
}

func TestBrandAliasesGiveOneMatchKey(t *testing.T) {
	t.Parallel()
	brands := NewBrandResolver()
	for _, b := range settings.Default().Brands.Brands {
		brands.Add(b.Name, b.Aliases...)
	}
	v := &Validator{Quality: settings.Default().Monitoring.Quality, Brands: brands}
	key := func(brand, name, conc string) string {
		f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": brand, "name": name, "concentration": conc}})
		require.NotNil(t, f, "%v", issues)
		return f.MatchKey
	}
	require.Equal(t, key("Dior", "Sauvage", "EDP"), key("Christian Dior", "Sauvage Eau de Parfum", ""))
	require.Equal(t, key("Hermès", "Terre d'Hermès", "EDT"), key("Hermes", "Terre d Hermes", "Eau de Toilette Spray"))
	require.Equal(t, key("Yves Saint Laurent", "L'Homme", ""), key("YSL", "L’Homme", ""))
	require.NotEqual(t, key("Dior", "Sauvage", "EDP"), key("Dior", "Sauvage", "EDT"), "concentrations are different products")
	require.NotEqual(t, key("Chanel", "No 5", ""), key("Chanel", "No 19", ""))
	require.NotEqual(t, key("Dior", "Sauvage", ""), key("Dior", "Sauvage Elixir", ""))
	f, _ := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "christian dior", "name": "J'adore"}})
	require.Equal(t, "Dior", f.Brand, "the canonical brand name is stored")
}

func TestValidationRules(t *testing.T) {
	t.Parallel()
	v := &Validator{Quality: settings.Default().Monitoring.Quality, Now: func() time.Time { return time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) }}
	cases := []struct {
		fields map[string]any
		rule   string
		field  string
	}{
		{map[string]any{"name": "X"}, "required", "brand"},
		{map[string]any{"brand": "X"}, "required", "name"},
		{map[string]any{"brand": "X", "name": "null"}, "required", "name"},
		{map[string]any{"brand": "X", "name": "Y", "year": "1500"}, "year-range", "year"},
		{map[string]any{"brand": "X", "name": "Y", "year": "2029"}, "year-range", "year"},
		{map[string]any{"brand": "X", "name": "Y", "year": "soon"}, "year-format", "year"},
		{map[string]any{"brand": "X", "name": "Y", "rating": "7"}, "rating-range", "rating"},
		{map[string]any{"brand": "X", "name": "Y", "votes": "-3"}, "votes-range", "votes"},
		{map[string]any{"brand": "X", "name": "bad\x00name"}, "nul-byte", "name"},
		{map[string]any{"brand": "X", "name": "bad\xffname"}, "utf8", "name"},
		{map[string]any{"brand": "X", "name": strings.Repeat("n", 201)}, "length", "name"},
		{map[string]any{"brand": "X", "name": "Y", "description": strings.Repeat("d", 10<<20)}, "length", "description"},
		{map[string]any{"brand": "X", "name": "Y", "notes": "[broken"}, "type", "notes"},
	}
	for _, tc := range cases {
		f, issues := v.Check(&dataset.Raw{Fields: tc.fields})
		require.Nil(t, f, "%v", tc.fields["name"])
		first, ok := FirstError(issues)
		require.True(t, ok)
		require.Equal(t, tc.rule, first.Rule, "%v", issues)
		require.Equal(t, tc.field, first.Field)
		require.LessOrEqual(t, len([]rune(first.Excerpt)), excerptLen+1, "excerpts are bounded")
	}
	_, issues := v.Check(&dataset.Raw{TooLarge: true, Excerpt: "{\"brand\": ..."})
	require.Equal(t, "too-large", issues[0].Rule)

	// What the reader found wrong with a record is its one issue, an
	// error under the reader's rule.
	for _, rule := range []string{"json", "type", "utf8", "duplicate-field"} {
		f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "Dior", "name": "Sauv\ufffdge"}, Excerpt: "Sauv\ufffdge",
			Problem: &dataset.Problem{Rule: rule, Field: "name", Msg: "what the reader says"}})
		require.Nil(t, f, rule)
		require.Equal(t, []Issue{{Rule: rule, Field: "name", Severity: Error, Message: "what the reader says", Excerpt: "Sauv\ufffdge"}}, issues)
	}
}

func TestWarningsKeepTheRecord(t *testing.T) {
	t.Parallel()
	v := &Validator{Quality: settings.Default().Monitoring.Quality}
	f, issues := v.Check(&dataset.Raw{Fields: map[string]any{
		"brand": "Hugo Boss", "name": "<script>alert(1)</script>'; DROP TABLE fragrances; --",
		"concentration": "Gift Set", "gender": "kids", "url": "javascript:alert(1)",
		"rating": "4,9", "votes": "144",
		"notes": `{"top": ["apple", "Apple", " bergamot "], "middle": null, "base": ["cedar"]}`,
	}})
	require.NotNil(t, f, "%v", issues)
	require.Equal(t, "<script>alert(1)</script>'; DROP TABLE fragrances; --", f.Name, "stored verbatim")
	require.Equal(t, 4.9, *f.Rating)
	require.Equal(t, int64(144), *f.Votes)
	require.Equal(t, []string{"apple", "bergamot"}, f.NotesTop, "trimmed and de-duplicated")
	require.Equal(t, []string{"cedar"}, f.NotesBase)
	require.Empty(t, f.URL)
	rules := []string{}
	for _, i := range issues {
		require.Equal(t, Warning, i.Severity)
		rules = append(rules, i.Rule)
	}
	require.ElementsMatch(t, []string{"concentration-unknown", "gender-unknown", "url"}, rules)
}

func TestCatalogRowsFromTheRealFile(t *testing.T) {
	t.Parallel()
	// Two rows of ../shared/data/catalog-37k.csv.gz as the reader yields them.
	v := &Validator{Quality: settings.Default().Monitoring.Quality, Source: "catalog37k"}
	f, issues := v.Check(&dataset.Raw{Fields: map[string]any{
		"brand": "50 Cent", "name": "Power by 50 Cent", "source_id": "o.6415.jpg", "year": "2009",
		"accords": `["fresh spicy", "woody", "patchouli", "herbal", "aromatic"]`,
		"notes":   `{"middle": ["Woodsy Notes", "Coriander", "Nutmeg"], "base": ["Patchouli", "Oakmoss", "Musk"], "top": ["Petitgrain", "Pepper", "Artemisia"]}`,
	}})
	require.Empty(t, issues)
	require.Equal(t, "Power", f.Name)
	require.Equal(t, 2009, *f.Year)
	require.Equal(t, "catalog37k", f.Source)
	require.Len(t, f.Accords, 5)
	require.Equal(t, []string{"Petitgrain", "Pepper", "Artemisia"}, f.NotesTop)

	f, issues = v.Check(&dataset.Raw{Fields: map[string]any{"brand": "A Lab on Fire", "name": "Made in Heaven", "source_id": "o.27620.jpg", "year": "", "accords": "null", "notes": "null"}})
	require.Empty(t, issues)
	require.Nil(t, f.Year)
	require.Empty(t, f.Accords)
	require.Empty(t, f.NotesUnsorted)
}

// An accord's weight is that of the first input accord that folds like it,
// even when that one was dropped (a null word, or bad UTF-8 or too long,
// which also quarantine the record) or had its spaces collapsed: the
// shortcut that takes the kept accord's own weight must not skip it.
func TestAccordWeightFromFirstAccordThatFoldsAlike(t *testing.T) {
	t.Parallel()
	v := &Validator{Quality: settings.Default().Monitoring.Quality}
	long := "Amber" + strings.Repeat("-", v.Quality.MaxNameLength)
	cases := []struct {
		accords string
		want    []string // name=weight of each kept accord
	}{
		{`[{"name":"Woody","weight":0.1},{"name":"woody","weight":0.2},{"name":"Fresh","weight":0.3}]`, []string{"woody=0.1", "fresh=0.3"}},
		{`[{"name":"N/A","weight":0.5},{"name":"n a","weight":0.9}]`, []string{"n a=0.5"}},
		{`[{"name":"Woody\u0000","weight":0.5},{"name":"woody","weight":0.9}]`, []string{"woody=0.5"}},
		{`[{"name":"` + long + `","weight":0.5},{"name":"Amber","weight":0.9}]`, []string{"amber=0.5"}},
		{`[{"name":"  Warm   Spicy ","weight":0.5},{"name":"warm spicy","weight":0.9},{"name":"Musky","weight":0.7}]`, []string{"warm spicy=0.5", "musky=0.7"}},
		{`[{"name":"Citrus"},{"name":"citrus","weight":0.4},"Aquatic"]`, []string{"citrus=nil", "aquatic=nil"}},
	}
	for _, tc := range cases {
		in, err := toAccords(tc.accords)
		require.NoError(t, err)
		got := []string{}
		for _, a := range v.cleanAccords(&checker{}, &scratch{}, in) {
			w := "nil"
			if a.Weight != nil {
				w = strconv.FormatFloat(*a.Weight, 'g', -1, 64)
			}
			got = append(got, a.Name+"="+w)
		}
		require.Equal(t, tc.want, got, tc.accords)
	}
	// Invalid UTF-8 comes only from a CSV cell, not through JSON.
	w1, w2 := 0.5, 0.9
	out := v.cleanAccords(&checker{}, &scratch{}, []Accord{{Name: "Woody\xff", Weight: &w1}, {Name: "woody", Weight: &w2}})
	require.Equal(t, []Accord{{Name: "woody", Weight: &w1}}, out)
	// Through Check: a dropped null word does not quarantine the record.
	f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "X", "name": "Y",
		"accords": `[{"name":"none","weight":0.5},{"name":"None!","weight":0.9}]`}})
	require.NotNil(t, f, "%v", issues)
	require.Len(t, f.Accords, 1)
	require.Equal(t, "none!", f.Accords[0].Name)
	require.Equal(t, 0.5, *f.Accords[0].Weight)
}

// TestYearRangeOnTheSystemClock: without an injected clock the validator
// reads the system clock's year once and again only for a year outside
// the range it gave; the range and its message are the clock's, before
// and after.
func TestYearRangeOnTheSystemClock(t *testing.T) {
	t.Parallel()
	q := settings.Default().Monitoring.Quality
	v := &Validator{Quality: q}
	latest := time.Now().Year() + q.MaxYearAhead
	check := func(year int) []Issue {
		t.Helper()
		f, issues := v.Check(&dataset.Raw{Index: 1, Line: 2, Fields: map[string]any{"brand": "X", "name": "Y", "year": strconv.Itoa(year)}})
		if len(issues) == 0 {
			require.NotNil(t, f)
			require.Equal(t, year, *f.Year)
		}
		return issues
	}
	for range 2 { // the clock not yet read, then read
		require.Empty(t, check(latest))
		require.Empty(t, check(q.MinYear))
		for _, year := range []int{latest + 1, q.MinYear - 1} {
			issues := check(year)
			require.Len(t, issues, 1)
			require.Equal(t, "year-range", issues[0].Rule)
			require.Contains(t, issues[0].Message, strconv.Itoa(q.MinYear)+"-"+strconv.Itoa(latest))
		}
		require.Equal(t, int32(latest-q.MaxYearAhead), v.clockYear.Load())
	}
}

// TestVotesThousandsSeparators: a separator is taken for a thousands
// separator only between groups of three digits; "4,9" is not 49.
func TestVotesThousandsSeparators(t *testing.T) {
	t.Parallel()
	v := &Validator{Quality: settings.Default().Monitoring.Quality}
	for in, want := range map[string]int64{"4,900": 4900, "1,234": 1234, "1 000": 1000, "10_000": 10000, "1,234,567": 1234567,
		"144": 144, " 12 345 ": 12345, "1,234.0": 1234} {
		f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "X", "name": "Y", "votes": in}})
		require.NotNil(t, f, "%q: %v", in, issues)
		require.Equal(t, want, *f.Votes, in)
	}
	for _, in := range []string{"4,9", "4,90", "1,2345", "12,34,567", "1,234 567", ",123", "1234,567", "1,,234", "1,23a", "1_2"} {
		f, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "X", "name": "Y", "votes": in}})
		require.Nil(t, f, in)
		first, _ := FirstError(issues)
		require.Equal(t, "votes-format", first.Rule, in)
		require.Equal(t, "votes", first.Field, in)
	}
	_, issues := v.Check(&dataset.Raw{Fields: map[string]any{"brand": "X", "name": "Y", "votes": "4,9"}})
	require.Contains(t, issues[0].Message, "groups of three digits")
	require.Equal(t, "4,9", issues[0].Excerpt)
}
