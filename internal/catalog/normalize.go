package catalog

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

var (
	// foldChain decomposes, drops combining marks (diacritics) and
	// recomposes. Chains are stateful: each Fold takes one from the pool.
	foldChains = sync.Pool{New: func() any {
		return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	}}
	foldReplacer = strings.NewReplacer("n°", "no ", "nº", "no ", "&", " and ", "+", " and ",
		"ß", "ss", "æ", "ae", "œ", "oe", "ø", "o", "ł", "l", "đ", "d")
)

// Fold turns a name into its comparison form: Unicode NFKC, diacritics
// removed ("Hermès" -> "hermes"), lower case, "&" read as "and", "N°" as
// "no", apostrophes and punctuation as spaces ("L'Homme", "L’Homme" and
// "L Homme" all give "l homme"), runs of spaces collapsed.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		s = norm.NFKC.String(s)
		t := foldChains.Get().(transform.Transformer)
		if out, _, err := transform.String(t, s); err == nil {
			s = out
		}
		foldChains.Put(t)
		s = strings.ToLower(s)
		s = foldReplacer.Replace(s)
	} else {
		s = strings.ToLower(s)
		if strings.ContainsAny(s, "&+") {
			s = foldReplacer.Replace(s)
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

// Canonical concentrations.
const (
	ConcEDT        = "EDT"
	ConcEDP        = "EDP"
	ConcParfum     = "Parfum"
	ConcExtrait    = "Extrait"
	ConcEDC        = "EDC"
	ConcCologne    = "Cologne"
	ConcEauFraiche = "Eau Fraiche"
)

// concentrationWords maps folded spellings to canonical concentrations.
// Longer phrases are tried first.
var concentrationWords = []struct{ folded, canon string }{
	{"extrait de parfum", ConcExtrait},
	{"eau de parfum intense", ConcEDP},
	{"eau de parfum", ConcEDP},
	{"eau de toilette", ConcEDT},
	{"eau de toilette intense", ConcEDT},
	{"toilet water", ConcEDT},
	{"eau de cologne", ConcEDC},
	{"eau fraiche", ConcEauFraiche},
	{"extrait", ConcExtrait},
	{"parfum", ConcParfum},
	{"perfume", ConcParfum},
	{"edp", ConcEDP},
	{"edt", ConcEDT},
	{"edc", ConcEDC},
	{"cologne", ConcCologne},
	{"pure perfume", ConcParfum},
}

// packaging words a retail listing adds to a concentration
// ("Eau de Parfum Spray Refillable").
var packaging = map[string]bool{"spray": true, "vaporisateur": true, "natural": true, "refillable": true, "refill": true, "splash": true, "bottle": true}

// NormalizeConcentration maps a spelling ("Eau de Toilette", "eau de
// parfum", "Parfum Spray", "EDT") to its canonical form; ok is false when
// the value is not a known concentration.
func NormalizeConcentration(s string) (string, bool) {
	var kept []string
	for _, w := range strings.Fields(Fold(s)) {
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

// namedConcentrations are the phrases pulled off the end of a name. Bare
// "cologne" is not among them: "Mugler Cologne" is a product's name.
var namedConcentrations = []struct{ folded, canon string }{
	{"extrait de parfum", ConcExtrait},
	{"eau de parfum", ConcEDP},
	{"eau de toilette", ConcEDT},
	{"eau de cologne", ConcEDC},
	{"edp", ConcEDP},
	{"edt", ConcEDT},
	{"edc", ConcEDC},
	{"parfum", ConcParfum},
	{"extrait", ConcExtrait},
}

// SplitConcentration pulls a trailing concentration out of a display name:
// "Sauvage Eau de Parfum" -> ("Sauvage", "EDP"). "Le Male Le Parfum" keeps
// its name (an article before "Parfum" makes it part of the name), and a
// name that would become empty is left alone.
func SplitConcentration(name string) (string, string) {
	words := strings.Fields(name)
	folded := make([]string, len(words))
	for i, w := range words {
		folded[i] = Fold(w)
	}
	for _, c := range namedConcentrations {
		n := len(strings.Fields(c.folded))
		if len(words) <= n {
			continue
		}
		tail := strings.Join(nonEmpty(folded[len(words)-n:]), " ")
		if tail != c.folded {
			continue
		}
		prev := folded[len(words)-n-1]
		if prev == "le" || prev == "la" || prev == "l" || prev == "d" || prev == "de" || prev == "du" {
			continue
		}
		rest := strings.TrimRight(strings.Join(words[:len(words)-n], " "), " -–—,(")
		if Fold(rest) == "" {
			continue
		}
		return rest, c.canon
	}
	return name, ""
}

func nonEmpty(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Canonical genders.
const (
	GenderMen    = "men"
	GenderWomen  = "women"
	GenderUnisex = "unisex"
)

var genderWords = map[string]string{
	"men": GenderMen, "man": GenderMen, "male": GenderMen, "for men": GenderMen, "him": GenderMen, "for him": GenderMen,
	"homme": GenderMen, "pour homme": GenderMen, "masculine": GenderMen, "mens": GenderMen, "m": GenderMen,
	"women": GenderWomen, "woman": GenderWomen, "female": GenderWomen, "for women": GenderWomen, "her": GenderWomen,
	"for her": GenderWomen, "femme": GenderWomen, "pour femme": GenderWomen, "feminine": GenderWomen, "womens": GenderWomen,
	"ladies": GenderWomen, "w": GenderWomen, "f": GenderWomen,
	"unisex": GenderUnisex, "for women and men": GenderUnisex, "for men and women": GenderUnisex, "women and men": GenderUnisex,
	"men and women": GenderUnisex, "shared": GenderUnisex, "u": GenderUnisex, "all": GenderUnisex,
}

// NormalizeGender maps "for men", "Women", "for women and men" ... to men,
// women or unisex; ok is false for anything else.
func NormalizeGender(s string) (string, bool) {
	g, ok := genderWords[Fold(s)]
	return g, ok
}

// StripBrand removes the brand from the start or end of a title ("Dior
// Sauvage", "Sauvage by Dior", "Sauvage Dior", "Gant Gant Adventure" ->
// "Sauvage", "Adventure"), unless nothing would be left.
func StripBrand(name string, brandNames ...string) string {
	for i := 0; i < 3; i++ {
		stripped := stripBrandOnce(name, brandNames...)
		if stripped == name {
			break
		}
		name = stripped
	}
	return name
}

func stripBrandOnce(name string, brandNames ...string) string {
	words := strings.Fields(name)
	for _, brand := range brandNames {
		bw := strings.Fields(Fold(brand))
		if len(bw) == 0 || len(words) <= len(bw) {
			continue
		}
		match := func(ws []string) bool {
			if len(ws) != len(bw) {
				return false
			}
			for i := range ws {
				if Fold(ws[i]) != bw[i] {
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
			prev := Fold(rest[len(rest)-1])
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

// linkWords before a trailing brand make it part of the name.
var linkWords = map[string]bool{"d": true, "de": true, "di": true, "du": true, "des": true, "del": true, "of": true,
	"la": true, "le": true, "l": true, "the": true, "pour": true, "by": true, "and": true}

var trailingYear = regexp.MustCompile(`\s*\((1[7-9]|20)\d\d\)$`)

// cleanName drops what does not change the product: surrounding spaces
// a trailing "(Vintage)" and a trailing "(1925)". Everything else is kept
// verbatim.
func cleanName(name string) string {
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
