package matching

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// BrandIndex resolves a source's brand spelling to a brand the catalog
// already has, or to none, with the rule that decided. It is the brand
// step of matching: a record is only ever compared with fragrances of the
// brand its spelling resolves to, so a brand that does not resolve makes
// every record of it a new product.
//
// The rules, tried in order (the first that gives exactly one catalog
// brand wins; one that gives several resolves nothing):
//
//  1. exact: the folded spelling (accents, case and punctuation folded,
//     "&" and "+" read as "and") is a catalog brand or one of its aliases;
//  2. lost letters: a catalog that dropped a non-ASCII letter left a space
//     ("Estée Lauder" / "Est e Lauder"): the spelling with each non-ASCII
//     letter made a space;
//  3. renamed: the shipped table of houses known under two names ("Dior" /
//     "Christian Dior", "Mugler" / "Thierry Mugler", "4711" / "Maurer
//     Wirtz"), when the other name is in the catalog;
//  4. compact: letters and digits only, "and" dropped ("Viktor&Rolf" /
//     "Viktor Rolf", "DS&Durga" / "D S Durga", "Malin+Goetz" / "Malin
//     Goetz");
//  5. house words: "Parfums", "Fragrances", "Perfumes", "London", "Paris",
//     "Milano" ... set aside on both sides ("Jo Malone London" / "Jo
//     Malone", "BDK Parfums" / "Parfums BDK Paris");
//  6. token subset: every word of the spelling (house words aside, five
//     letters or more in all) is a word of exactly one catalog brand, which
//     begins or ends with them ("Aerin" / "Aerin Lauder").
//
// A spelling no rule resolves is a new brand.
type BrandIndex struct {
	exact   map[string]string   // folded spelling or alias -> brand key
	compact map[string][]string // compact key -> brand keys
	house   map[string][]string // house-words-aside compact key -> brand keys
	names   map[string]string   // brand key -> display name
	tokens  map[string][]string // brand key -> its words, house words aside
}

// BrandResolution is where a spelling resolved.
type BrandResolution struct {
	Key  string // the catalog brand's key ("" when none)
	Name string // its display name
	Rule string // exact, lost-letters, renamed, compact, house-words, token-subset; or why none
}

// NewBrandIndex returns an empty index.
func NewBrandIndex() *BrandIndex {
	return &BrandIndex{exact: map[string]string{}, compact: map[string][]string{}, house: map[string][]string{},
		names: map[string]string{}, tokens: map[string][]string{}}
}

// Add registers a catalog brand and its aliases. A spelling already known
// keeps its first brand.
func (x *BrandIndex) Add(name string, aliases ...string) {
	key := catalog.Fold(name)
	if key == "" {
		return
	}
	if k, ok := x.exact[key]; ok {
		if len(aliases) == 0 {
			// Indexed when it became known (the importer adds the brands
			// of every batch's new fragrances, most of them known).
			return
		}
		key = k // a brand known under this spelling already: an alias of it
	} else {
		x.exact[key] = key
		x.names[key] = strings.Join(strings.Fields(name), " ")
		x.tokens[key] = houseless(key)
	}
	x.index(key, key)
	for _, a := range aliases {
		if ak := catalog.Fold(a); ak != "" {
			if _, ok := x.exact[ak]; !ok {
				x.exact[ak] = key
			}
			x.index(ak, key)
		}
	}
}

func (x *BrandIndex) index(spellingKey, key string) {
	if c := compactKey(spellingKey); c != "" {
		x.compact[c] = addUnique(x.compact[c], key)
	}
	if h := compactKey(strings.Join(houseless(spellingKey), " ")); h != "" {
		x.house[h] = addUnique(x.house[h], key)
	}
}

func addUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Known reports whether a folded brand key is a catalog brand or alias.
func (x *BrandIndex) Known(key string) bool {
	_, ok := x.exact[key]
	return ok
}

// Resolve returns the catalog brand key a spelling resolves to.
func (x *BrandIndex) Resolve(spelling string) (string, bool) {
	r := x.ResolveWhy(spelling)
	return r.Key, r.Key != ""
}

// ResolveWhy resolves a spelling and says by which rule (or why not).
func (x *BrandIndex) ResolveWhy(spelling string) BrandResolution {
	key := catalog.Fold(spelling)
	if key == "" {
		if strings.TrimSpace(spelling) == "" {
			return BrandResolution{Rule: "empty brand"}
		}
	}
	found := func(k, rule string) BrandResolution { return BrandResolution{Key: k, Name: x.names[k], Rule: rule} }
	if k, ok := x.exact[key]; ok {
		return found(k, "exact")
	}
	if lossy := LossyFold(spelling); lossy != "" && lossy != key {
		if k, ok := x.exact[lossy]; ok {
			return found(k, "lost-letters")
		}
	}
	for _, other := range renamed[key] {
		if k, ok := x.exact[other]; ok {
			return found(k, "renamed")
		}
	}
	why := "no catalog brand has this name"
	one := func(list []string, rule string) (BrandResolution, bool) {
		switch len(list) {
		case 0:
			return BrandResolution{}, false
		case 1:
			return found(list[0], rule), true
		}
		why = rule + " gives several catalog brands: " + strings.Join(list, ", ")
		return BrandResolution{}, false
	}
	for _, k := range []string{key, LossyFold(spelling)} {
		if r, ok := one(x.compact[compactKey(k)], "compact"); ok && k != "" {
			return r
		}
	}
	words := houseless(key)
	if r, ok := one(x.house[compactKey(strings.Join(words, " "))], "house-words"); ok && len(words) > 0 {
		return r
	}
	if r, ok := one(x.subset(words), "token-subset"); ok {
		return r
	}
	return BrandResolution{Rule: why}
}

// subset returns the catalog brands whose words begin or end with all of
// words (five letters or more in all; a lone digit run is not enough).
func (x *BrandIndex) subset(words []string) []string {
	n := 0
	for _, w := range words {
		n += utf8.RuneCountInString(w)
	}
	if n < 5 || len(words) == 0 {
		return nil
	}
	var out []string
	for key, bw := range x.tokens {
		if len(bw) <= len(words) {
			continue
		}
		if equalWords(bw[:len(words)], words) || equalWords(bw[len(bw)-len(words):], words) {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// houseWords name a kind of house or its city, not the house: "Parfums
// BDK Paris" is BDK.
var houseWords = map[string]bool{"parfums": true, "parfum": true, "perfumes": true, "perfume": true, "perfumery": true,
	"fragrances": true, "fragrance": true, "profumi": true, "profumo": true, "cosmetics": true, "beauty": true,
	"london": true, "paris": true, "milano": true, "milan": true, "firenze": true, "roma": true, "new": true, "york": true,
	"nyc": true, "berlin": true, "de": true, "les": true, "the": true, "and": true}

func houseless(key string) []string {
	var out []string
	for _, w := range strings.Fields(key) {
		if !houseWords[w] {
			out = append(out, w)
		}
	}
	return out
}

// compactKey is a folded key's letters and digits, "and" dropped.
func compactKey(key string) string {
	var b strings.Builder
	for _, w := range strings.Fields(key) {
		if w != "and" {
			b.WriteString(w)
		}
	}
	return b.String()
}

// LossyFold folds s as a catalog that dropped every non-ASCII letter
// (leaving a space) would have it: "Trésor" -> "tr sor", "Estée Lauder"
// -> "est e lauder". It is "" when s has no such letter or nothing else.
func LossyFold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return ""
	}
	lossy := false
	out := []rune(s)
	for i, r := range out {
		if r >= utf8.RuneSelf && unicode.IsLetter(r) && isLatin(r) {
			out[i] = ' '
			lossy = true
		}
	}
	if !lossy {
		return ""
	}
	return catalog.Fold(string(out))
}

// isLatin: only accented Latin letters are dropped that way; a Cyrillic,
// Arabic or CJK name is kept and compared as it is.
func isLatin(r rune) bool { return unicode.Is(unicode.Latin, r) }

// renamed maps a folded house name to the other names it is listed under:
// renamings and shortenings every fragrance catalog knows (product
// knowledge, not one file's spellings). Both directions are listed.
var renamed = func() map[string][]string {
	groups := [][]string{
		{"dior", "christian dior"},
		{"rabanne", "paco rabanne"},
		{"mugler", "thierry mugler"},
		{"4711", "maurer and wirtz", "maurer wirtz"},
		{"armani", "giorgio armani"},
		{"ysl", "saint laurent", "yves saint laurent"},
		{"boss", "hugo boss"},
		{"ck", "calvin klein"},
		{"dkny", "donna karan"},
		{"d and g", "dolce and gabbana"},
		{"lagerfeld", "karl lagerfeld"},
		{"cacharel", "cacharel paris"},
		{"balenciaga", "cristobal balenciaga"},
		{"lanvin", "jeanne lanvin"},
		{"ferragamo", "salvatore ferragamo"},
		{"margiela", "maison margiela", "maison martin margiela"},
		{"van cleef", "van cleef and arpels"},
		{"abercrombie", "abercrombie and fitch"},
		{"kilian", "by kilian", "kilian paris"},
		{"frederic malle", "editions de parfums frederic malle"},
		{"le labo", "le labo fragrances"},
	}
	out := map[string][]string{}
	for _, g := range groups {
		for _, a := range g {
			for _, b := range g {
				if a != b {
					out[a] = append(out[a], b)
				}
			}
		}
	}
	return out
}()
