package matching

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// Variant is an alternative reading of a record's name, as another
// catalog may have written it, given as the exact key it would be filed
// under.
type Variant struct {
	Key string
	// Why names the reading ("lost accents", "brand put back"...).
	Why string
	// Brand: the reading puts back the brand the source cut out of the
	// name. Such a reading is the brand's own product name ("Eau de" /
	// "Eau de Givenchy"), not a short name that needs corroboration.
	Brand bool
}

// VariantKeys are the exact keys of the readings of f's name that differ
// from its own match key and its EditionKeys, for the ways two catalogs
// write one product's name differently:
//
//   - accented letters lost, as the other catalog has them: each one made
//     a space and the rest kept ("Trésor" / "Tr sor", in EditionKeys), or
//     its accent made a space after the letter ("Très" / "Tre s");
//   - symbols: "N°19" / "N 19" / "No 19";
//   - "&" or "and" dropped ("Amber & Lavender" / "Amber Lavender");
//   - ordinals read as numbers ("Le 3e Homme" / "Le 3 Homme");
//   - the brand put back where the source cut it out: after a dangling
//     "de", "by" or "for" at the end or before a concentration or
//     "pour" ("Eau de" / "Eau de Givenchy", "Flora by Eau de Parfum" /
//     "Flora by Gucci Eau de Parfum"), or glued to a one-word name the cut
//     left in lower case ("ama" / "Diorama"); in the brand's
//     lost-accent spelling too ("Cuir de" / "Cuir de Lanc me").
//
// Each reading is filed with f's gender and, when f states one, without
// (a catalog without genders). Readings are made only when a name shows
// what they undo (variantTrigger: a non-ASCII letter, "&" or "and", "No"
// before a number, an ordinal, a dangling link word, a lower-case single
// word):
// about one name in ten does, and the others cost one scan of their
// bytes. A name that is only a concentration gets none.
func VariantKeys(f *catalog.Fragrance) []Variant {
	if !variantTrigger(f.Name) {
		return nil
	}
	// A name that is only a concentration ("Eau de Parfum") is not a
	// name the brand was cut out of: it never merges on a reading.
	if _, ok := catalog.NormalizeConcentration(f.Name); ok {
		return nil
	}
	folded := catalog.Fold(f.Name)
	if folded == "" {
		return nil
	}
	var out []Variant
	seen := map[string]bool{f.MatchKey: true}
	for _, k := range EditionKeys(f) {
		seen[k] = true
	}
	brandForms := brandSpellings(f)
	add := func(words []string, why string, brand bool) {
		name := strings.Join(words, " ")
		// A reading may end in a concentration the source's own name hid
		// ("Bleu de Chanel Eau de Parfum"): filed as the catalog files it.
		conc := f.Concentration
		if conc == "" {
			if rest, c := catalog.SplitConcentration(name); c != "" {
				name, conc = rest, c
			}
		}
		name = catalog.Fold(name)
		if name == "" {
			return
		}
		for _, k := range []string{catalog.MatchKey(f.BrandKey, name, conc, f.Gender), catalog.MatchKey(f.BrandKey, name, conc, "")} {
			if !seen[k] {
				seen[k] = true
				out = append(out, Variant{Key: k, Why: why, Brand: brand})
			}
		}
	}
	// Base readings: as folded, with accents lost either way.
	type reading struct {
		words []string
		why   string
	}
	bases := []reading{{strings.Fields(folded), ""}}
	if lossy := LossyFold(f.Name); lossy != "" {
		bases = append(bases, reading{strings.Fields(lossy), "lost accents"})
	}
	if dec := decomposedFold(f.Name); dec != "" && dec != folded {
		bases = append(bases, reading{strings.Fields(dec), "lost accents"})
	}
	var readings []reading
	for _, b := range bases {
		readings = append(readings, b)
		if w, why := normalizeWords(b.words); why != "" {
			readings = append(readings, reading{w, join(b.why, why)})
		}
		if w := swapNumero(b.words); w != nil {
			readings = append(readings, reading{w, join(b.why, "symbols")})
		}
	}
	for i, r := range readings {
		if i > 0 {
			add(r.words, r.why, false)
		}
		for _, bw := range brandForms {
			for _, w := range brandPutBack(r.words, bw, f.Name) {
				add(w, join(r.why, "brand put back"), true)
			}
		}
	}
	return out
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

// variantTrigger reports whether a name shows something a reading undoes:
// a non-ASCII letter or symbol, "&" or "and", "No" or "N" before a number,
// an ordinal ("3e"), a link word ("de", "by", "for") ending the name or
// before a concentration or "pour", or a single word in lower case. It
// allocates nothing.
func variantTrigger(name string) bool {
	if name == "" {
		return false
	}
	// A lower-case single word: what is left of a word the brand was cut
	// out of ("ama" for "Diorama").
	if c := name[0]; c >= 'a' && c <= 'z' && strings.IndexByte(name, ' ') < 0 {
		return true
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= utf8.RuneSelf || c == '&' || c == '+' {
			return true
		}
	}
	// The words, ASCII letters and digits, one pass.
	var prev string
	for start := 0; ; {
		for start < len(name) && !isASCIIWordByte(name[start]) {
			start++
		}
		if start == len(name) {
			return prev != "" && danglingLink(prev)
		}
		end := start
		for end < len(name) && isASCIIWordByte(name[end]) {
			end++
		}
		w := name[start:end]
		switch {
		case strings.EqualFold(w, "and"), w[0] >= '0' && w[0] <= '9' && ordinalNumber(strings.ToLower(w)) != "":
			return true
		case w[0] >= '0' && w[0] <= '9' && (strings.EqualFold(prev, "no") || strings.EqualFold(prev, "n")):
			return true
		case danglingLink(prev) && (strings.EqualFold(w, "pour") || concentrationStart(strings.ToLower(w))):
			return true
		}
		prev, start = w, end
	}
}

func isASCIIWordByte(c byte) bool { return isASCIILetter(c) || c >= '0' && c <= '9' }

// danglingLink: a word after which a source may have cut the brand.
func danglingLink(w string) bool {
	switch len(w) {
	case 1:
		return w[0] == 'd' || w[0] == 'D'
	case 2:
		return strings.EqualFold(w, "de") || strings.EqualFold(w, "by") || strings.EqualFold(w, "di")
	case 3:
		return strings.EqualFold(w, "for")
	}
	return false
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// decomposedFold folds s as a catalog that kept an accented letter's base
// letter and made its accent a space would have it: "Très" (or "Tre`s",
// its accent a combining mark) -> "tre s". "" when s has no accented Latin
// letter.
func decomposedFold(s string) string {
	changed := false
	var b strings.Builder
	prevLatin := false
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			if prevLatin {
				b.WriteByte(' ')
				changed = true
			}
			continue
		}
		prevLatin = r < utf8.RuneSelf && isASCIILetter(byte(r)) || r >= utf8.RuneSelf && unicode.IsLetter(r) && isLatin(r)
		b.WriteRune(r)
	}
	if !changed {
		return ""
	}
	return catalog.Fold(b.String())
}

// normalizeWords drops "and" and reads ordinals as numbers ("3e", "3eme",
// "3rd" -> "3"); why is "" when nothing changed.
func normalizeWords(words []string) ([]string, string) {
	var out []string
	var whys []string
	droppedAnd, ordinal := false, false
	for _, w := range words {
		if w == "and" && len(words) > 1 {
			droppedAnd = true
			continue
		}
		if n := ordinalNumber(w); n != "" {
			ordinal = true
			out = append(out, n)
			continue
		}
		out = append(out, w)
	}
	if droppedAnd {
		whys = append(whys, `"&" dropped`)
	}
	if ordinal {
		whys = append(whys, "ordinal")
	}
	if len(whys) == 0 || len(out) == 0 {
		return nil, ""
	}
	return out, strings.Join(whys, ", ")
}

// ordinalNumber returns the number of an ordinal ("3e", "3eme", "1er",
// "2nd", "3rd", "4th", "1st"), or "".
func ordinalNumber(w string) string {
	i := 0
	for i < len(w) && w[i] >= '0' && w[i] <= '9' {
		i++
	}
	if i == 0 || i == len(w) {
		return ""
	}
	switch w[i:] {
	case "e", "eme", "er", "ere", "nd", "rd", "th", "st":
		return w[:i]
	}
	return ""
}

// swapNumero reads "no 19" as "n 19" and "n 19" as "no 19" (a catalog
// that dropped the "°" of "N°19" has "N 19"); nil when the name has
// neither before a number.
func swapNumero(words []string) []string {
	var out []string
	for i, w := range words {
		if i+1 < len(words) && isNumber(words[i+1]) && (w == "no" || w == "n") {
			if out == nil {
				out = append([]string(nil), words...)
			}
			if w == "no" {
				out[i] = "n"
			} else {
				out[i] = "no"
			}
		}
	}
	return out
}

// brandSpellings are the folded words of the brand as a name may hold it:
// the brand as resolved, and its spelling with accented letters lost.
func brandSpellings(f *catalog.Fragrance) [][]string {
	forms := [][]string{strings.Fields(f.BrandKey)}
	if lossy := LossyFold(f.Brand); lossy != "" && lossy != f.BrandKey {
		forms = append(forms, strings.Fields(lossy))
	}
	if f.Brand != "" {
		if k := catalog.Fold(f.Brand); k != f.BrandKey && k != "" {
			forms = append(forms, strings.Fields(k))
		}
	}
	return forms
}

// brandPutBack returns the readings of words with the brand (its words bw)
// put back where the source cut it out: after a dangling link word ("de",
// "by", "for" ending the name or followed by a concentration or "pour"),
// or glued to a name of one word the cut left in lower case ("ama" for
// "Diorama": display is the name as listed).
func brandPutBack(words, bw []string, display string) [][]string {
	if len(bw) == 0 {
		return nil
	}
	var out [][]string
	for i, w := range words {
		if w != "de" && w != "by" && w != "for" && w != "d" && w != "di" {
			continue
		}
		if i+1 < len(words) && !concentrationStart(words[i+1]) && words[i+1] != "pour" {
			continue
		}
		v := make([]string, 0, len(words)+len(bw))
		v = append(append(append(v, words[:i+1]...), bw...), words[i+1:]...)
		out = append(out, v)
	}
	if c := display[0]; c >= 'a' && c <= 'z' && len(words) == 1 && !danglingLink(words[0]) {
		out = append(out, []string{bw[len(bw)-1] + words[0]})
		if len(bw) > 1 {
			out = append(out, []string{strings.Join(bw, "") + words[0]})
		}
	}
	return out
}

// concentrationStart: a word that begins a concentration phrase ("eau de
// parfum", "extrait", "parfum", "edt").
func concentrationStart(w string) bool {
	switch w {
	case "eau", "extrait", "parfum", "edt", "edp", "edc", "cologne", "perfume", "toilette":
		return true
	}
	return false
}
