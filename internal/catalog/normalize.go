package catalog

import (
	"bytes"
	"regexp"
	"strings"
	"unsafe"

	"github.com/scentmatch/pipeline/internal/namefold"
)

// Fold turns a name into its comparison form: Unicode NFKC, diacritics
// removed ("Hermès" -> "hermes"), lower case, "&" read as "and", "N°" as
// "no", apostrophes and punctuation as spaces ("L'Homme", "L’Homme" and
// "L Homme" all give "l homme"), runs of spaces collapsed.
func Fold(s string) string {
	if !IsASCII(s) {
		return foldSlow(s)
	}
	if isFolded(s) {
		return s
	}
	n := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] == '&' || s[i] == '+' {
			n += 4
		}
	}
	b := appendFold(make([]byte, 0, n), s)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// foldSlow is Fold for text with non-ASCII characters: the general form,
// shared with settings' brand rules (namefold.Fold).
func foldSlow(s string) string { return namefold.Fold(s) }

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
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	return sc.normalizeConcentration(s)
}

func (sc *scratch) normalizeConcentration(s string) (string, bool) {
	// Fold's words are separated by single spaces: splitting on them is
	// strings.Fields.
	setSlice(&sc.fold, appendFold(sc.fold[:0], s))
	kept := sc.fold2[:0]
	for w := range bytes.SplitSeq(sc.fold, []byte{' '}) {
		if len(w) == 0 || packaging[string(w)] {
			continue
		}
		if len(kept) > 0 {
			kept = append(kept, ' ')
		}
		kept = append(kept, w...)
	}
	setSlice(&sc.fold2, kept)
	f := kept
	if bytes.HasPrefix(f, []byte("le ")) {
		f = f[3:]
	}
	for _, c := range concentrationWords {
		if string(f) == c.folded {
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
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.wordsOf = ""
	return sc.splitConcentration(name)
}

func (sc *scratch) splitConcentration(name string) (string, string) {
	words := sc.words
	if !sameString(sc.wordsOf, name) {
		words = appendFields(sc.words[:0], name)
		setSlice(&sc.words, words)
	}
	sc.wordsOf = ""
	if len(words) < 2 {
		return name, ""
	}
	// The tail compared below joins the last words' non-empty folds, so it
	// ends with the last word's fold when that is not empty: most names'
	// last word ends no concentration, and their other words need no fold.
	setSlice(&sc.fold, appendFold(sc.fold[:0], words[len(words)-1]))
	if last := sc.fold; len(last) > 0 {
		possible := false
		for _, c := range namedConcentrations {
			possible = possible || endsWith(c.folded, last)
		}
		if !possible {
			return name, ""
		}
	}
	keys, ends := sc.keys[:0], sc.ends[:0]
	for _, w := range words {
		keys = appendFold(keys, w)
		ends = append(ends, len(keys))
	}
	setSlice(&sc.keys, keys)
	setSlice(&sc.ends, ends)
	folded := func(i int) []byte {
		if i == 0 {
			return keys[:ends[0]]
		}
		return keys[ends[i-1]:ends[i]]
	}
	last := folded(len(words) - 1)
	for _, c := range namedConcentrations {
		n := strings.Count(c.folded, " ") + 1
		if len(words) <= n || len(last) > 0 && !endsWith(c.folded, last) {
			continue
		}
		tail := sc.fold2[:0]
		for i := len(words) - n; i < len(words); i++ {
			if w := folded(i); len(w) > 0 {
				if len(tail) > 0 {
					tail = append(tail, ' ')
				}
				tail = append(tail, w...)
			}
		}
		setSlice(&sc.fold2, tail)
		if string(tail) != c.folded {
			continue
		}
		switch string(folded(len(words) - n - 1)) {
		case "le", "la", "l", "d", "de", "du":
			continue
		}
		rest := strings.TrimRight(strings.Join(words[:len(words)-n], " "), " -–—,(")
		if setSlice(&sc.fold, appendFold(sc.fold[:0], rest)); len(sc.fold) == 0 {
			continue
		}
		return rest, c.canon
	}
	return name, ""
}

// endsWith reports whether s ends with suffix.
func endsWith(s string, suffix []byte) bool {
	return len(suffix) <= len(s) && string(suffix) == s[len(s)-len(suffix):]
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
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	return sc.normalizeGender(s)
}

func (sc *scratch) normalizeGender(s string) (string, bool) {
	setSlice(&sc.fold, appendFold(sc.fold[:0], s))
	g, ok := genderWords[string(sc.fold)]
	return g, ok
}

// StripBrand removes the brand from the start or end of a title ("Dior
// Sauvage", "Sauvage by Dior", "Sauvage Dior", "Gant Gant Adventure" ->
// "Sauvage", "Adventure"), unless nothing would be left.
func StripBrand(name string, brandNames ...string) string {
	brands := make([][]string, len(brandNames))
	for i, b := range brandNames {
		brands[i] = strings.Fields(Fold(b))
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	defer func() { sc.wordsOf = "" }()
	return sc.stripBrand(name, brands)
}

// stripBrand is StripBrand with each brand given as its folded words.
func (sc *scratch) stripBrand(name string, brands [][]string) string {
	for i := 0; i < 3; i++ {
		stripped := sc.stripBrandOnce(name, brands)
		if stripped == name {
			break
		}
		name = stripped
	}
	return name
}

// foldIs reports whether Fold(s) == want.
func (sc *scratch) foldIs(s, want string) bool {
	setSlice(&sc.fold, appendFold(sc.fold[:0], s))
	return string(sc.fold) == want
}

func (sc *scratch) stripBrandOnce(name string, brands [][]string) string {
	words := appendFields(sc.words[:0], name)
	setSlice(&sc.words, words)
	// The words of the name it returns unchanged are kept for
	// splitConcentration (set below).
	sc.wordsOf = ""
	for _, bw := range brands {
		if len(bw) == 0 || len(words) <= len(bw) {
			continue
		}
		match := func(ws []string) bool {
			if len(ws) != len(bw) {
				return false
			}
			for i, w := range ws {
				// A word starting with an ASCII letter or digit folds to
				// its lower case first: most differ there.
				if l := foldLower[w[0]]; l != 0 && l != bw[i][0] {
					return false
				}
			}
			for i := range ws {
				if !sc.foldIs(ws[i], bw[i]) {
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
			setSlice(&sc.fold, appendFold(sc.fold[:0], rest[len(rest)-1]))
			if string(sc.fold) == "by" && len(rest) > 1 {
				return strings.Join(rest[:len(rest)-1], " ")
			}
			// "Terre d'Hermès", "Bleu de Chanel": the brand is part of the name.
			if !linkWords[string(sc.fold)] {
				return strings.Join(rest, " ")
			}
		}
	}
	sc.wordsOf = name
	return name
}

// sameString reports whether a and b are the same non-empty bytes in
// memory (not only equal). Empty strings never are: any two may share a
// (nil) pointer.
func sameString(a, b string) bool {
	return len(a) > 0 && len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
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
	if strings.HasSuffix(name, ")") {
		if m := trailingYear.FindStringIndex(name); m != nil && m[0] > 0 {
			name = strings.TrimSpace(name[:m[0]])
		}
	}
	for _, suffix := range [...]string{"(vintage)", "vintage"} {
		// Both suffixes end in 'e' or ')', which only 'e', 'E' and ')'
		// lower-case to: a name ending otherwise has neither.
		if n := len(name); n == 0 || name[n-1] != 'e' && name[n-1] != 'E' && name[n-1] != ')' {
			continue
		}
		var has bool
		if IsASCII(name) {
			has = len(name) > len(suffix) && name[len(name)-len(suffix)-1] == ' ' && hasSuffixFoldASCII(name, suffix)
		} else {
			has = strings.HasSuffix(strings.ToLower(name), " "+suffix)
		}
		if has {
			name = strings.TrimSpace(name[:len(name)-len(suffix)])
		}
	}
	return name
}
