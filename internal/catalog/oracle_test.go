package catalog

// The validator's normalization functions as they were before the speed
// work (commit 580537a), kept as the oracle TestFastPathsMatchOracle
// compares the rewritten ones against.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

var (
	oldFoldChains = sync.Pool{New: func() any {
		return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	}}
	oldFoldReplacer = strings.NewReplacer("n°", "no ", "nº", "no ", "&", " and ", "+", " and ",
		"ß", "ss", "æ", "ae", "œ", "oe", "ø", "o", "ł", "l", "đ", "d")
)

func oldFold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		s = norm.NFKC.String(s)
		t := oldFoldChains.Get().(transform.Transformer)
		if out, _, err := transform.String(t, s); err == nil {
			s = out
		}
		oldFoldChains.Put(t)
		s = strings.ToLower(s)
		s = oldFoldReplacer.Replace(s)
	} else {
		s = strings.ToLower(s)
		if strings.ContainsAny(s, "&+") {
			s = oldFoldReplacer.Replace(s)
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') || r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			space = false
			continue
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	out := b.String()
	if n := len(out); n > 0 && out[n-1] == ' ' {
		out = out[:n-1]
	}
	return out
}

func oldNormalizeConcentration(s string) (string, bool) {
	var kept []string
	for _, w := range strings.Fields(oldFold(s)) {
		if !packaging[w] {
			kept = append(kept, w)
		}
	}
	f := strings.TrimPrefix(strings.Join(kept, " "), "le ")
	for _, c := range concentrationWords {
		if f == c.folded {
			return c.canon, true
		}
	}
	return "", false
}

func oldSplitConcentration(name string) (string, string) {
	words := strings.Fields(name)
	folded := make([]string, len(words))
	for i, w := range words {
		folded[i] = oldFold(w)
	}
	for _, c := range namedConcentrations {
		n := len(strings.Fields(c.folded))
		if len(words) <= n {
			continue
		}
		tail := strings.Join(oldNonEmpty(folded[len(words)-n:]), " ")
		if tail != c.folded {
			continue
		}
		prev := folded[len(words)-n-1]
		if prev == "le" || prev == "la" || prev == "l" || prev == "d" || prev == "de" || prev == "du" {
			continue
		}
		rest := strings.TrimRight(strings.Join(words[:len(words)-n], " "), " -–—,(")
		if oldFold(rest) == "" {
			continue
		}
		return rest, c.canon
	}
	return name, ""
}

func oldNonEmpty(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func oldNormalizeGender(s string) (string, bool) {
	g, ok := genderWords[oldFold(s)]
	return g, ok
}

func oldStripBrand(name string, brandNames ...string) string {
	for i := 0; i < 3; i++ {
		stripped := oldStripBrandOnce(name, brandNames...)
		if stripped == name {
			break
		}
		name = stripped
	}
	return name
}

func oldStripBrandOnce(name string, brandNames ...string) string {
	words := strings.Fields(name)
	for _, brand := range brandNames {
		bw := strings.Fields(oldFold(brand))
		if len(bw) == 0 || len(words) <= len(bw) {
			continue
		}
		match := func(ws []string) bool {
			if len(ws) != len(bw) {
				return false
			}
			for i := range ws {
				if oldFold(ws[i]) != bw[i] {
					return false
				}
			}
			return true
		}
		if match(words[:len(bw)]) {
			return strings.Join(words[len(bw):], " ")
		}
		if match(words[len(words)-len(bw):]) {
			rest := words[:len(words)-len(bw)]
			prev := oldFold(rest[len(rest)-1])
			if prev == "by" && len(rest) > 1 {
				return strings.Join(rest[:len(rest)-1], " ")
			}
			// "Terre d'Hermès", "Bleu de Chanel": the brand is part of the name.
			if !linkWords[prev] {
				return strings.Join(rest, " ")
			}
		}
	}
	return name
}

func oldCleanName(name string) string {
	name = strings.TrimSpace(name)
	// A parenthesised trailing year is a listing's decoration, not the
	// product's name ("Shalimar (1925)"); a bare one is kept ("Eternity
	// Summer 2005" is its own product).
	if m := trailingYear.FindStringIndex(name); m != nil && m[0] > 0 {
		name = strings.TrimSpace(name[:m[0]])
	}
	for _, suffix := range []string{"(vintage)", "vintage"} {
		if f := strings.ToLower(name); strings.HasSuffix(f, " "+suffix) {
			name = strings.TrimSpace(name[:len(name)-len(suffix)])
		}
	}
	return name
}

func oldContentHash(f *Fragrance) string {
	type content struct {
		Brand, Name, Concentration, Gender string
		Year                               *int
		Top, Middle, Base, Unsorted        []string
		Accords                            []Accord
		Perfumers                          []string
		Rating                             *float64
		Votes                              *int64
		URL, Description                   string
	}
	// Empty and missing lists hash alike: the database stores both as empty.
	l := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	accords := f.Accords
	if len(accords) == 0 {
		accords = nil
	}
	b, _ := json.Marshal(content{f.BrandKey, f.Name, f.Concentration, f.Gender, f.Year, l(f.NotesTop), l(f.NotesMiddle), l(f.NotesBase),
		l(f.NotesUnsorted), accords, l(f.Perfumers), f.Rating, f.Votes, f.URL, f.Description})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func oldMatchKey(brandKey, name, concentration, gender string) string {
	return brandKey + "|" + oldFold(name) + "|" + strings.ToLower(concentration) + "|" + gender
}

// oracleInputs returns text to feed both implementations: every text
// value of the golden sets' first records, and random strings over an
// alphabet of the characters the fast paths treat specially.
func oracleInputs(t *testing.T) []string {
	var in []string
	dir := t.TempDir()
	for _, set := range goldenSets {
		r, err := set.open(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 1500; n++ {
			raw, err := r.Next()
			if err != nil {
				break
			}
			for _, v := range raw.Fields {
				if s, ok := v.(string); ok {
					in = append(in, s)
				}
			}
		}
		r.Close()
	}
	alphabet := []string{"a", "B", "z", "Z", "0", "9", " ", "  ", "\t", "\n", "&", "+", "'", "’", "-", "–", "(", ")", ",", ".", "é", "È", "ß", "Æ", "œ",
		"ø", "ł", "đ", "n°", "Nº", "İ", "K", "ﬁ", "Ａ", "\u00a0", "\u0085", "\u2028", "\u0301", "\x00", "\xff", "<", ">", "\"", "\\",
		"edp", "EDT", "Eau de Parfum", "extrait", "Parfum", "le", "La", "by", "de", "Dior", "Christian Dior", "vintage", "(Vintage)", "(1925)", "spray", "for men"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 12000; i++ {
		var b strings.Builder
		for n := rng.IntN(8); n >= 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in = append(in, b.String())
	}
	return in
}

// TestFastPathsMatchOracle compares each rewritten normalization function
// with its version from before the speed work on the same inputs.
func TestFastPathsMatchOracle(t *testing.T) {
	t.Parallel()
	in := oracleInputs(t)
	brands := [][]string{{"Dior", "Christian Dior"}, {"Hermès"}, {"Dolce & Gabbana", "D&G"}, {"by"}, {}}
	for i, s := range in {
		if got, want := Fold(s), oldFold(s); got != want {
			t.Fatalf("Fold(%q) = %q, was %q", s, got, want)
		}
		g1, ok1 := NormalizeConcentration(s)
		g2, ok2 := oldNormalizeConcentration(s)
		if g1 != g2 || ok1 != ok2 {
			t.Fatalf("NormalizeConcentration(%q) = %q %v, was %q %v", s, g1, ok1, g2, ok2)
		}
		g1, ok1 = NormalizeGender(s)
		g2, ok2 = oldNormalizeGender(s)
		if g1 != g2 || ok1 != ok2 {
			t.Fatalf("NormalizeGender(%q) = %q %v, was %q %v", s, g1, ok1, g2, ok2)
		}
		r1, c1 := SplitConcentration(s)
		r2, c2 := oldSplitConcentration(s)
		if r1 != r2 || c1 != c2 {
			t.Fatalf("SplitConcentration(%q) = %q %q, was %q %q", s, r1, c1, r2, c2)
		}
		b := brands[i%len(brands)]
		if got, want := StripBrand(s, b...), oldStripBrand(s, b...); got != want {
			t.Fatalf("StripBrand(%q, %q) = %q, was %q", s, b, got, want)
		}
		if got, want := StripBrand(s, s), oldStripBrand(s, s); got != want {
			t.Fatalf("StripBrand(%q, itself) = %q, was %q", s, got, want)
		}
		if got, want := cleanName(s), oldCleanName(s); got != want {
			t.Fatalf("cleanName(%q) = %q, was %q", s, got, want)
		}
		if got, want := isNullWord(s), oldIsNullWord(s); got != want {
			t.Fatalf("isNullWord(%q) = %v, was %v", s, got, want)
		}
		if got, want := normalizeSpaces(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Fatalf("normalizeSpaces(%q) = %q, was %q", s, got, want)
		}
		if got, ok := appendFoldPlain(nil, s); ok {
			plain := strings.Join(strings.Fields(s), " ") == s && utf8.ValidString(s) && !strings.ContainsRune(s, 0) && utf8.RuneCountInString(s) == len(s)
			if string(got) != oldFold(s) || !plain {
				t.Fatalf("appendFoldPlain(%q) = %q (plain %v), Fold was %q", s, got, plain, oldFold(s))
			}
		} else if len(got) != 0 {
			t.Fatalf("appendFoldPlain(%q) declined but wrote %q", s, got)
		}
		other := in[(i*7919)%len(in)]
		if got, want := MatchKey(other, s, other, s), oldMatchKey(other, s, other, s); got != want {
			t.Fatalf("MatchKey = %q, was %q", got, want)
		}
		w := float64(i%7) / 3
		tiny, huge := 1e-9*float64(i), 1e22*float64(i)
		f := &Fragrance{BrandKey: s, Name: other, Concentration: s, Gender: other, Description: s + other, URL: other,
			NotesTop: []string{s, other}, NotesUnsorted: []string{}, Perfumers: []string{other},
			Accords: []Accord{{Name: s, Weight: &w}, {Name: other}, {Name: "x", Weight: &tiny}, {Name: "y", Weight: &huge}}}
		if i%2 == 0 {
			y, v := i, int64(i)*1000
			r := float64(i%500) / 100
			f.Year, f.Votes, f.Rating = &y, &v, &r
		}
		if got, want := ContentHash(f), oldContentHash(f); got != want {
			t.Fatalf("ContentHash(%+v) = %s, was %s", f, got, want)
		}
	}
	nan := math.NaN()
	f := &Fragrance{Name: "x", Rating: &nan}
	if got, want := ContentHash(f), oldContentHash(f); got != want {
		t.Fatalf("ContentHash with NaN = %s, was %s", got, want)
	}
}

func oldIsNullWord(s string) bool {
	switch strings.ToLower(s) {
	case "null", "none", "nan", "n/a", "-":
		return true
	}
	return false
}

// oldCleanList is list cleaning as it was defined before the speed work:
// each item's spaces collapsed and checked, kept unless it folds like an
// earlier kept one (or to nothing), then capped.
func oldCleanList(v *Validator, c *checker, field string, items []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		it = strings.Join(strings.Fields(it), " ")
		if it == "" || oldIsNullWord(it) {
			continue
		}
		if !utf8.ValidString(it) || strings.ContainsRune(it, 0) {
			c.add("utf8", field, it, "an item is not valid UTF-8 or holds a NUL byte")
			continue
		}
		if utf8.RuneCountInString(it) > v.Quality.MaxNameLength {
			c.add("length", field, it, "an item is longer than %d characters", v.Quality.MaxNameLength)
			continue
		}
		k := oldFold(it)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, it)
	}
	return v.capList(c, field, out)
}

// oldCleanAccords gives each kept accord the weight of the first input
// accord that folds like it.
func oldCleanAccords(v *Validator, c *checker, in []Accord) []Accord {
	names := make([]string, len(in))
	for i, a := range in {
		names[i] = a.Name
	}
	out := []Accord{}
	for _, n := range oldCleanList(v, c, "accords", names) {
		var w *float64
		for _, a := range in {
			if oldFold(a.Name) == oldFold(n) {
				w = a.Weight
				break
			}
		}
		out = append(out, Accord{Name: strings.ToLower(n), Weight: w})
	}
	return out
}

// TestListCleaningMatchesOracle compares list and accord cleaning with
// their definitions on lists drawn from the oracle inputs, with case and
// space variants of earlier items and null words mixed in, short and long.
func TestListCleaningMatchesOracle(t *testing.T) {
	t.Parallel()
	in := oracleInputs(t)
	extra := []string{"", " ", "null", "N/A", "n a", "-", "none", "None!", "x" + strings.Repeat("-", 200), strings.Repeat("y", 201)}
	v := &Validator{Quality: goldenValidator().Quality}
	rng := rand.New(rand.NewPCG(3, 4))
	sc := &scratch{}
	for round := 0; round < 20000; round++ {
		n := rng.IntN(12)
		if round%50 == 0 {
			n = 30 + rng.IntN(10)
		}
		items := make([]string, 0, n)
		for len(items) < n {
			switch r := rng.IntN(10); {
			case r < 5:
				items = append(items, in[rng.IntN(len(in))])
			case r < 7 && len(items) > 0:
				items = append(items, respelled(rng, items[rng.IntN(len(items))]))
			default:
				items = append(items, extra[rng.IntN(len(extra))])
			}
		}
		var c1, c2 checker
		got := v.cleanList(&c1, sc, "notes", items)
		want := oldCleanList(v, &c2, "notes", items)
		require.Equal(t, want, got, "cleanList(%q)", items)
		require.Equal(t, c2.issues, c1.issues, "cleanList(%q) issues", items)

		accords := make([]Accord, len(items))
		for i, it := range items {
			w := float64(i)
			accords[i] = Accord{Name: it, Weight: &w}
		}
		c1, c2 = checker{}, checker{}
		gotA := v.cleanAccords(&c1, sc, accords)
		wantA := oldCleanAccords(v, &c2, accords)
		require.Equal(t, len(wantA), len(gotA), "cleanAccords(%q)", items)
		for i := range wantA {
			require.Equal(t, wantA[i].Name, gotA[i].Name, "cleanAccords(%q)", items)
			require.Same(t, wantA[i].Weight, gotA[i].Weight, "cleanAccords(%q): weight of %q", items, wantA[i].Name)
		}
		require.Equal(t, c2.issues, c1.issues, "cleanAccords(%q) issues", items)
	}
}

// respelled is s as another catalog may write an item it already listed:
// upper case, padded with spaces, or with hyphens for its spaces (the list
// cleaning tests draw one of these for a repeated item).
func respelled(rng *rand.Rand, s string) string {
	switch rng.IntN(3) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return " " + s + "  "
	default:
		return strings.ReplaceAll(s, " ", "-")
	}
}
