// Package namefold holds the comparison forms of names that both the
// configuration's rules (internal/settings) and the pipeline
// (internal/catalog, internal/detect) need, so they agree on what counts
// as the same name. It depends on no package of the pipeline.
package namefold

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

var (
	// foldChains decomposes, drops combining marks (diacritics) and
	// recomposes. Chains are stateful: each Fold takes one from the pool.
	foldChains = sync.Pool{New: func() any {
		return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	}}
	foldReplacer = strings.NewReplacer("n°", "no ", "nº", "no ", "&", " and ", "+", " and ",
		"ß", "ss", "æ", "ae", "œ", "oe", "ø", "o", "ł", "l", "đ", "d")
)

// Fold turns a name into its comparison form: Unicode NFKC, diacritics
// removed ("Hermès" -> "hermes"), lower case, "&" read as "and", "N°" as
// "no", punctuation as spaces, runs of spaces collapsed. catalog.Fold is
// the same function with fast paths for ASCII.
func Fold(s string) string {
	s = norm.NFKC.String(s)
	t := foldChains.Get().(transform.Transformer)
	if out, _, err := transform.String(t, s); err == nil {
		s = out
	}
	foldChains.Put(t)
	s = strings.ToLower(s)
	s = foldReplacer.Replace(s)
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

// BrandKey compares brand spellings as the upstreams write them: folded,
// "and" ignored, so "Hermès" is "Hermes" and "Dolce & Gabbana", "Dolce and
// Gabbana" and "Dolce Gabbana" are one brand. Detect identifies brands by
// it, and brand_priorities.json's rule unique refuses two entries with the
// same key.
func BrandKey(s string) string {
	var out []string
	for _, t := range strings.Fields(Fold(s)) {
		if t != "and" {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}
