package catalog

import (
	"crypto/sha256"
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// This file holds the allocation-free paths validation takes for the
// common shapes of input (ASCII text, JSON arrays of plain strings in CSV
// cells, brands seen before). Each one either produces exactly what the
// general path would, or declines and lets the general path run: the
// golden digests (golden_test.go) and the oracle test (oracle_test.go) hold
// them to that.

// scratch is one Check's reusable memory. Checks take one from a pool, so a
// Validator can be used from many goroutines at once.
type scratch struct {
	fold  []byte // a folded string being built
	fold2 []byte // a second one (comparisons)
	keys  []byte // folded keys of a list, back to back
	ends  []int  // end offsets of those keys in keys
	// kept holds the input index of each item the last cleanList kept;
	// verbatim reports that it kept or dropped every item as it came
	// (none rejected, none respaced).
	kept     []int
	verbatim bool
	prints   []uint32 // a print of each key in keys (length, first and last byte)
	strs     []string // items parsed out of JSON cells
	accs     []Accord // accords parsed out of a JSON cell
	// items is the current record's backing array for its cleaned lists
	// (notes, perfumers), carved up so that one record's lists cost one
	// allocation; it is never reused for another record.
	items []string
	// listHint, when not 0, is how many items the lists still to be
	// cleaned for the current record have at most (newList's size).
	listHint int
	names    []string // the accord names a cleanList kept
	words    []string // a name's words
	// cleanPlainArray's key ends and prints (see there).
	plainEnds   [33]int
	plainPrints [32]uint32
	// wordsOf is the name words holds the words of, when they are kept
	// for the next caller (stripBrandOnce for splitConcentration).
	wordsOf string
	// brands caches brand resolution by spelling for one resolver
	// generation.
	brands    map[string]*resolvedBrand
	lastBrand *resolvedBrand // the last one resolveBrand returned
	brandsOf  *BrandResolver
	brandsGen uint64
}

var scratchPool = sync.Pool{New: func() any { return &scratch{brands: map[string]*resolvedBrand{}} }}

// maxCachedBrands bounds one scratch's brand cache (catalogs name a few
// thousand brands; a hostile file could name a new one per record).
const maxCachedBrands = 4096

// resolvedBrand is what normalize needs of a record's brand spelling.
type resolvedBrand struct {
	spelling  string // the record's spelling it resolves
	name, key string
	aliases   []string
	// strip lists the folded words of each spelling StripBrand tries:
	// the record's spelling, the canonical name, then the aliases.
	strip [][]string
}

func (s *scratch) resolveBrand(br *BrandResolver, spelling string) *resolvedBrand {
	if br != nil && (s.brandsOf != br || s.brandsGen != br.generation()) {
		clear(s.brands)
		s.brandsOf, s.brandsGen, s.lastBrand = br, br.generation(), nil
	}
	if br == nil && s.brandsOf != nil {
		clear(s.brands)
		s.brandsOf, s.lastBrand = nil, nil
	}
	// Catalogs list a brand's products together: the last spelling is the
	// likeliest, and comparing it is cheaper than the map.
	if rb := s.lastBrand; rb != nil && rb.spelling == spelling {
		return rb
	}
	if rb, ok := s.brands[spelling]; ok {
		s.lastBrand = rb
		return rb
	}
	rb := &resolvedBrand{spelling: spelling, name: spelling, key: Fold(spelling)}
	if br != nil {
		rb.name, rb.key, rb.aliases = br.Resolve(spelling)
	}
	for _, b := range append([]string{spelling, rb.name}, rb.aliases...) {
		// A spelling whose words an earlier one has would strip what
		// the earlier one strips: it is left out.
		words := strings.Fields(Fold(b))
		if !slices.ContainsFunc(rb.strip, func(w []string) bool { return slices.Equal(w, words) }) {
			rb.strip = append(rb.strip, words)
		}
	}
	if len(s.brands) >= maxCachedBrands {
		clear(s.brands)
	}
	s.brands[spelling] = rb
	s.lastBrand = rb
	return rb
}

// trimSpace is strings.TrimSpace, without a call for a string that starts
// and ends with printable ASCII other than a space (nothing to trim).
func trimSpace(s string) string {
	if len(s) > 0 && s[0]-'!' <= '~'-'!' && s[len(s)-1]-'!' <= '~'-'!' {
		return s
	}
	return strings.TrimSpace(s)
}

// IsASCII reports whether s is all ASCII.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiWithoutNUL reports whether s is ASCII without a NUL byte.
func asciiWithoutNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendFold appends Fold(s) to dst; for ASCII text without allocating.
func appendFold(dst []byte, s string) []byte {
	start := len(dst)
	space := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			// Not ASCII: what was folded so far is dropped.
			return append(dst[:start], foldSlow(s)...)
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			dst = append(dst, c)
			space = false
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+('a'-'A'))
			space = false
		case c == '&' || c == '+':
			if !space {
				dst = append(dst, ' ')
			}
			dst = append(dst, "and "...)
			space = true
		default:
			if !space {
				dst = append(dst, ' ')
				space = true
			}
		}
	}
	if n := len(dst); n > start && dst[n-1] == ' ' {
		dst = dst[:n-1]
	}
	return dst
}

// isFolded reports whether an ASCII s is its own Fold: lower-case letters
// and digits in words separated by single spaces.
func isFolded(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			continue
		}
		if c == ' ' && s[i-1] != ' ' {
			continue
		}
		return false
	}
	return true
}

// asciiLower returns s lower-cased; s must be ASCII.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// hasSuffixFoldASCII reports whether s ends with suffix, ignoring ASCII
// case; suffix is lower-case ASCII.
func hasSuffixFoldASCII(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	t := s[len(s)-len(suffix):]
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return false
		}
	}
	return true
}

// Byte classes for appendFoldPlain, for the bytes foldLower does not map.
const (
	byteOther = iota // a byte that ends plain ASCII: control, DEL, non-ASCII
	byteAnd          // '&' or '+'
	byteSpace        // ' '
	bytePunct        // other printable ASCII but letters and digits: a word separator
)

var foldClass = func() (t [256]uint8) {
	for c := 0x21; c < 0x7f; c++ {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			// foldLower's
		case c == '&' || c == '+':
			t[c] = byteAnd
		default:
			t[c] = bytePunct
		}
	}
	t[' '] = byteSpace
	return t
}()

// foldLower maps an ASCII letter or digit to its fold (the lower case)
// and every other byte to 0.
var foldLower = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			t[c] = byte(c)
		case c >= 'A' && c <= 'Z':
			t[c] = byte(c) + ('a' - 'A')
		}
	}
	return t
}()

// appendFoldPlain is appendFold for a plain list item, in the same pass
// that checks it is one: non-empty printable ASCII with single spaces
// between words, which listItem keeps as it is apart from the null-word
// and length rules (normalizeSpaces leaves it alone, it is valid UTF-8
// without a NUL, and it has len(s) characters). For any other s, ok is
// false and dst unchanged.
func appendFoldPlain(dst []byte, s string) ([]byte, bool) {
	if len(s) == 0 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return dst, false
	}
	start := len(dst)
	space := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if l := foldLower[c]; l != 0 {
			dst = append(dst, l)
			space = false
			continue
		}
		switch foldClass[c] {
		case byteAnd:
			if !space {
				dst = append(dst, ' ')
			}
			dst = append(dst, "and "...)
			space = true
		case byteSpace:
			if s[i-1] == ' ' {
				return dst[:start], false
			}
			fallthrough
		case bytePunct:
			if !space {
				dst = append(dst, ' ')
				space = true
			}
		default:
			return dst[:start], false
		}
	}
	if n := len(dst); n > start && dst[n-1] == ' ' {
		dst = dst[:n-1]
	}
	return dst, true
}

// normalizeSpaces is strings.Join(strings.Fields(s), " ") without
// allocating when s is already so.
func normalizeSpaces(s string) string {
	if !IsASCII(s) {
		return strings.Join(strings.Fields(s), " ")
	}
	clean := len(s) == 0 || (s[0] != ' ' && s[len(s)-1] != ' ')
	for i := 0; clean && i < len(s); i++ {
		switch s[i] {
		case '\t', '\n', '\v', '\f', '\r':
			clean = false
		case ' ':
			if s[i-1] == ' ' {
				clean = false
			}
		}
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// appendFields appends the fields of s (strings.Fields) to dst.
func appendFields(dst []string, s string) []string {
	if !IsASCII(s) {
		return append(dst, strings.Fields(s)...)
	}
	start := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\v', '\f', '\r':
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// JSON cells. parseJSONStrings and friends read the shapes real files use
// (arrays of strings and nulls; notes objects of such arrays; accords
// objects with a name and a numeric weight); anything else makes them
// decline (ok false) so that encoding/json reads the cell as before, with
// its error messages.

func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonStringByte marks the bytes jsonString passes over as they are:
// printable ASCII other than '"' and '\\'.
var jsonStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// jsonString reads the string starting at s[i] == '"'. Strings with escapes
// or invalid UTF-8 are decoded by encoding/json (which replaces invalid
// bytes); plain ones are substrings of s.
func jsonString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	plain := true
	j := i + 1
	for j < len(s) {
		// Eight bytes at a time up to the first that is not
		// jsonStringByte (the lowest byte a mask marks is exact).
		for j+8 <= len(s) {
			if m := jsonSpecialMask(load64(s, j)); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(s) && jsonStringByte[s[j]] {
			j++
		}
		if j >= len(s) {
			break
		}
		c := s[j]
		switch {
		case c == '"':
			if plain {
				return s[i+1 : j], j + 1, true
			}
			var out string
			if err := json.Unmarshal([]byte(s[i:j+1]), &out); err != nil {
				return "", i, false
			}
			return out, j + 1, true
		case c == '\\':
			plain = false
			j += 2
		case c < 0x20:
			return "", i, false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			j += size
		default:
			j++
		}
	}
	return "", i, false
}

// jsonStringArray reads `[` (string | null) {, ...} `]` at s[i], appending
// the strings to dst (nulls are skipped, as toList skips them).
func jsonStringArray(dst []string, s string, i int) ([]string, int, bool) {
	if i >= len(s) || s[i] != '[' {
		return dst, i, false
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return dst, i + 1, true
	}
	for {
		switch {
		case i < len(s) && s[i] == '"':
			str, next, ok := jsonString(s, i)
			if !ok {
				return dst, i, false
			}
			dst = append(dst, str)
			i = next
		case strings.HasPrefix(s[i:], "null"):
			i += 4
		default:
			return dst, i, false
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return dst, i, false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case ']':
			return dst, i + 1, true
		default:
			return dst, i, false
		}
	}
}

// fastList is toList for a trimmed cell starting with '['.
func (sc *scratch) fastList(s string) ([]string, bool) {
	start := len(sc.strs)
	out, i, ok := jsonStringArray(sc.strs, s, 0)
	if !ok || skipWS(s, i) != len(s) {
		return nil, false
	}
	setSlice(&sc.strs, out)
	return out[start:len(out):len(out)], true
}

// setSlice stores s, grown from *dst[:k] by appending, in *dst. When it
// did not grow (the same array, the same capacity) only the length is
// written: storing the array's pointer again would cost a write barrier
// while the collector marks.
func setSlice[T any](dst *[]T, s []T) {
	if cap(s) == cap(*dst) {
		*dst = (*dst)[:len(s)]
	} else {
		*dst = s
	}
}

// fastAccordNames is toAccords for a CSV cell holding a JSON array of
// strings (and nulls): their names, every weight nil.
func (sc *scratch) fastAccordNames(val any) ([]string, bool) {
	s, ok := val.(string)
	if !ok || !strings.HasPrefix(trimSpace(s), "[") {
		return nil, false
	}
	// As fastAccords: the cell untrimmed, JSON spaces around the array.
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '[' {
		return nil, false
	}
	start := len(sc.strs)
	out, i, ok := jsonStringArray(sc.strs, s, i)
	if !ok || skipWS(s, i) != len(s) {
		return nil, false
	}
	setSlice(&sc.strs, out)
	return out[start:len(out):len(out)], true
}

// fastNotes is toNotes for a trimmed cell starting with '{': an object of
// top, middle and base, each an array of strings or null.
func (sc *scratch) fastNotes(s string) (top, middle, base []string, ok bool) {
	i := skipWS(s, 1)
	if i < len(s) && s[i] == '}' {
		return nil, nil, nil, skipWS(s, i+1) == len(s)
	}
	var seen [3]bool
	for {
		key, next, ok := jsonString(s, i)
		if !ok {
			return nil, nil, nil, false
		}
		i = skipWS(s, next)
		if i >= len(s) || s[i] != ':' {
			return nil, nil, nil, false
		}
		i = skipWS(s, i+1)
		var list []string
		if strings.HasPrefix(s[i:], "null") {
			i += 4
		} else {
			start := len(sc.strs)
			out, next, ok := jsonStringArray(sc.strs, s, i)
			if !ok {
				return nil, nil, nil, false
			}
			sc.strs, i = out, next
			list = out[start:len(out):len(out)]
		}
		var k int
		switch key {
		case "top":
			top, k = list, 0
		case "middle":
			middle, k = list, 1
		case "base":
			base, k = list, 2
		default:
			return nil, nil, nil, false
		}
		if seen[k] {
			return nil, nil, nil, false
		}
		seen[k] = true
		i = skipWS(s, i)
		if i >= len(s) {
			return nil, nil, nil, false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case '}':
			return top, middle, base, skipWS(s, i+1) == len(s)
		default:
			return nil, nil, nil, false
		}
	}
}

// jsonNumber reads a JSON number literal at s[i] and its float64 value.
func jsonNumber(s string, i int) (float64, int, bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	digits := func() bool {
		k := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j > k
	}
	switch {
	case j < len(s) && s[j] == '0':
		j++
	case !digits():
		return 0, i, false
	}
	if j < len(s) && s[j] == '.' {
		j++
		if !digits() {
			return 0, i, false
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if !digits() {
			return 0, i, false
		}
	}
	f, err := strconv.ParseFloat(s[i:j], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, i, false
	}
	return f, j, true
}

// fastAccords is toAccords for a cell starting with '[' (untrimmed, as
// toAccords hands it to encoding/json): strings, nulls and objects with a
// string name and an optional numeric (or null) weight.
func (sc *scratch) fastAccords(s string) ([]Accord, bool) {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '[' {
		return nil, false
	}
	out, ok := sc.fastAccordsList(s, i)
	setSlice(&sc.accs, out[:0])
	return out, ok
}

func (sc *scratch) fastAccordsList(s string, i int) ([]Accord, bool) {
	out := sc.accs[:0]
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return out, skipWS(s, i+1) == len(s)
	}
	for {
		switch {
		case i < len(s) && s[i] == '"':
			str, next, ok := jsonString(s, i)
			if !ok {
				return nil, false
			}
			out = append(out, Accord{Name: str})
			i = next
		case strings.HasPrefix(s[i:], "null"):
			i += 4
		case i < len(s) && s[i] == '{':
			a, next, ok := jsonAccord(s, i)
			if !ok {
				return nil, false
			}
			out = append(out, a)
			i = next
		default:
			return nil, false
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case ']':
			return out, skipWS(s, i+1) == len(s)
		default:
			return nil, false
		}
	}
}

func jsonAccord(s string, i int) (Accord, int, bool) {
	var a Accord
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return a, i + 1, true
	}
	var seenName, seenWeight bool
	for {
		key, next, ok := jsonString(s, i)
		if !ok {
			return a, i, false
		}
		i = skipWS(s, next)
		if i >= len(s) || s[i] != ':' {
			return a, i, false
		}
		i = skipWS(s, i+1)
		switch key {
		case "name":
			if seenName {
				return a, i, false
			}
			seenName = true
			if a.Name, i, ok = jsonString(s, i); !ok {
				return a, i, false
			}
		case "weight":
			if seenWeight {
				return a, i, false
			}
			seenWeight = true
			if strings.HasPrefix(s[i:], "null") {
				i += 4
				break
			}
			w, next, ok := jsonNumber(s, i)
			if !ok {
				return a, i, false
			}
			a.Weight, i = &w, next
		default:
			return a, i, false
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return a, i, false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case '}':
			return a, i + 1, true
		default:
			return a, i, false
		}
	}
}

// The content hash: the JSON encoding/json gives the content struct,
// written by hand.

// htmlSafeByte marks the bytes encoding/json writes as they are:
// printable ASCII other than '"', '\\', '<', '>' and '&'.
var htmlSafeByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as encoding/json writes it (HTML-safe), or
// reports false for a string it would have to escape beyond the plain
// cases.
func appendJSONString(dst []byte, s string) []byte {
	if len(s) < 8 {
		// Short strings (most list items): one loop that checks and
		// copies.
		n := len(dst)
		if cap(dst)-n >= 9 {
			b := dst[n : n+9]
			b[0] = '"'
			for i := 0; i < len(s); i++ {
				c := s[i]
				if !htmlSafeByte[c] {
					return appendJSONStringSlow(dst, s)
				}
				b[i+1] = c
			}
			b[len(s)+1] = '"'
			return dst[:n+len(s)+2]
		}
	} else if n := len(dst); len(s) <= 16 && cap(dst)-n >= 18 {
		// Eight to sixteen bytes: two words, the second overlapping the
		// first, checked (a mask is 0 only when no byte needs more than
		// copying) and stored as they are.
		w0, w1 := load64(s, 0), load64(s, len(s)-8)
		if jsonUnsafeMask(w0)|jsonUnsafeMask(w1) == 0 {
			b := dst[n : n+18]
			b[0] = '"'
			store64(b, 1, w0)
			store64(b, len(s)-7, w1)
			b[len(s)+1] = '"'
			return dst[:n+len(s)+2]
		}
	}
	return appendJSONStringSlow(dst, s)
}

// appendJSONStringSlow is appendJSONString for any s.
func appendJSONStringSlow(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time up to the first that needs more than
		// copying (the lowest byte a mask marks is exact).
		for i+8 <= len(s) {
			if m := jsonUnsafeMask(load64(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(s) && htmlSafeByte[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				const hexDigits = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', byte('8'+r-'\u2028'))
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const (
	lsb8 = 0x0101010101010101
	msb8 = 0x8080808080808080
)

// load64 reads s[i:i+8] as a little-endian word.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasZeroByte is not 0 when one of x's bytes is 0.
func hasZeroByte(x uint64) uint64 { return (x - lsb8) &^ x & msb8 }

// jsonSpecialMask sets the high bit of the bytes of x that are not
// jsonStringByte: not ASCII, a control character, '"' or '\\'. A byte
// above a marked one may be marked too (a borrow), never one below: the
// lowest mark is the first such byte.
func jsonSpecialMask(x uint64) uint64 {
	return x&msb8 | (x-0x20*lsb8)&^x&msb8 | hasZeroByte(x^('"'*lsb8)) | hasZeroByte(x^('\\'*lsb8))
}

// jsonUnsafeMask sets the high bit of the bytes of x that are not
// htmlSafeByte: not ASCII, a control character, '"', '\\', '<', '>' or
// '&'. As with jsonSpecialMask, the lowest mark is the first such byte.
func jsonUnsafeMask(x uint64) uint64 {
	return x&msb8 | (x-0x20*lsb8)&^x&msb8 |
		hasZeroByte(x^('"'*lsb8)) | hasZeroByte(x^('\\'*lsb8)) |
		hasZeroByte(x^('<'*lsb8)) | hasZeroByte(x^('>'*lsb8)) | hasZeroByte(x^('&'*lsb8))
}

func appendJSONStrings(dst []byte, l []string) []byte {
	if len(l) == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendJSONFloat writes f as encoding/json does; f must be finite.
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

func finite(f *float64) bool { return f == nil || !math.IsNaN(*f) && !math.IsInf(*f, 0) }

// appendContent writes the content JSON ContentHash hashes; ok is false
// when encoding/json would fail (a NaN or infinite number).
func appendContent(b []byte, f *Fragrance) ([]byte, bool) {
	if !finite(f.Rating) {
		return b, false
	}
	for _, a := range f.Accords {
		if !finite(a.Weight) {
			return b, false
		}
	}
	b = append(b, `{"Brand":`...)
	b = appendJSONString(b, f.BrandKey)
	b = append(b, `,"Name":`...)
	b = appendJSONString(b, f.Name)
	b = append(b, `,"Concentration":`...)
	b = appendJSONString(b, f.Concentration)
	b = append(b, `,"Gender":`...)
	b = appendJSONString(b, f.Gender)
	b = append(b, `,"Year":`...)
	if f.Year == nil {
		b = append(b, "null"...)
	} else {
		if y := *f.Year; y >= 1000 && y <= 9999 {
			// (strconv.AppendInt's digits, without its general loop)
			b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
		} else {
			b = strconv.AppendInt(b, int64(y), 10)
		}
	}
	b = append(b, `,"Top":`...)
	b = appendJSONStrings(b, f.NotesTop)
	b = append(b, `,"Middle":`...)
	b = appendJSONStrings(b, f.NotesMiddle)
	b = append(b, `,"Base":`...)
	b = appendJSONStrings(b, f.NotesBase)
	b = append(b, `,"Unsorted":`...)
	b = appendJSONStrings(b, f.NotesUnsorted)
	b = append(b, `,"Accords":`...)
	if len(f.Accords) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range f.Accords {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, a.Name)
			if a.Weight != nil {
				b = append(b, `,"weight":`...)
				b = appendJSONFloat(b, *a.Weight)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"Perfumers":`...)
	b = appendJSONStrings(b, f.Perfumers)
	b = append(b, `,"Rating":`...)
	if f.Rating == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONFloat(b, *f.Rating)
	}
	b = append(b, `,"Votes":`...)
	if f.Votes == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *f.Votes, 10)
	}
	b = append(b, `,"URL":`...)
	b = appendJSONString(b, f.URL)
	b = append(b, `,"Description":`...)
	b = appendJSONString(b, f.Description)
	return append(b, '}'), true
}

func contentHashFast(f *Fragrance) (string, bool) {
	// On the stack: most records' content is 300-600 bytes.
	var buf [1024]byte
	b, ok := appendContent(buf[:0], f)
	if !ok {
		return "", false
	}
	sum := sha256.Sum256(b)
	// hex.EncodeToString, through a table of the digit pairs.
	var h [32]byte
	for i, c := range sum[:16] {
		h[2*i], h[2*i+1] = hexPairs[2*int(c)], hexPairs[2*int(c)+1]
	}
	return string(h[:]), true
}

// hexPairs holds the two lower-case hex digits of each byte value.
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for c := 0; c < 256; c++ {
		t[2*c], t[2*c+1] = digits[c>>4], digits[c&0xF]
	}
	return t
}()

// arrayCell is a CSV cell that holds a JSON array, trimmed: the cells
// the fast list paths (plainList, fastList) read; ok is false for any
// other value.
func arrayCell(val any) (string, bool) {
	s, ok := val.(string)
	if !ok {
		return "", false
	}
	s = trimSpace(s)
	return s, strings.HasPrefix(s, "[")
}

// fastNotesValue is toNotes for a CSV cell holding a notes object or an
// array of strings.
func (sc *scratch) fastNotesValue(val any) (top, middle, base, flat []string, ok bool) {
	s, isStr := val.(string)
	if !isStr {
		return nil, nil, nil, nil, false
	}
	s = trimSpace(s)
	switch {
	case strings.HasPrefix(s, "{"):
		top, middle, base, ok = sc.fastNotes(s)
		return top, middle, base, nil, ok
	case strings.HasPrefix(s, "["):
		flat, ok = sc.fastList(s)
		return nil, nil, nil, flat, ok
	}
	return nil, nil, nil, nil, false
}

// fastAccordsValue is toAccords for a CSV cell holding a JSON array.
func (sc *scratch) fastAccordsValue(val any) ([]Accord, bool) {
	s, ok := val.(string)
	if !ok || !strings.HasPrefix(trimSpace(s), "[") {
		return nil, false
	}
	return sc.fastAccords(s)
}

// fragranceWithAccords is a record with room for its accords, allocated
// together: real catalogs give five or six (400 bytes and 144 would be two
// allocations of 384 and 144 bytes; this is one of 576).
type fragranceWithAccords struct {
	fragranceAlloc
	accords [6]Accord
}

// fewAccords reports whether an accords value is a cell short enough to
// hold about six accords (real ones take 50-100 bytes); when it holds
// more, the room goes unused.
func fewAccords(val any) bool {
	s, ok := val.(string)
	return ok && len(s) <= 160
}

// fragranceAlloc holds a record and the numbers it points to, allocated
// together.
type fragranceAlloc struct {
	Fragrance
	year   int
	rating float64
	votes  int64
}

// newList returns an empty list with room for n items, carved from the
// current record's backing array.
func (sc *scratch) newList(n int) []string {
	if cap(sc.items)-len(sc.items) < n {
		size := max(n, 16)
		if sc.listHint > 0 {
			size = max(n, sc.listHint)
		}
		sc.items = make([]string, 0, size)
	}
	start := len(sc.items)
	sc.items = sc.items[:start+n]
	return sc.items[start : start : start+n]
}

// Classes of the bytes foldLower does not map, for cleanPlainArray: those
// of foldClass, but a '"' ends the item and a '\\' (an escape) is not plain.
const byteQuote = bytePunct + 1

var plainItemClass = func() (t [256]uint8) {
	t = foldClass
	t['"'] = byteQuote
	t['\\'] = byteOther
	return t
}()

// cleanPlainArray is jsonStringArray and then cleanItems, in one pass, for
// the array at s[i] == '[' when every item is a plain one: a JSON string
// without escapes of at most maxLen bytes that appendFoldPlain folds (so
// cleanItems keeps it as it is) and that is not a null word, and there are
// at most 32 of them (nulls are skipped). It appends the items cleanItems
// would keep to out, with bit k of upper set when the k-th of them has an
// upper-case letter, and returns the index after the array. For any other
// array ok is false: the caller takes the general path, which also raises
// the issues this one never has to.
func (sc *scratch) cleanPlainArray(out []string, s string, i, maxLen int) (kept []string, upper uint32, next int, ok bool) {
	if i >= len(s) || s[i] != '[' || maxLen <= 0 || len(s) > maxPlainCell {
		return out, 0, i, false
	}
	// The keys of the kept items back to back in buf, the k-th ending at
	// ends[k+1]; each one's print (length, first and last byte) in prints.
	// Room for the keys of the whole cell: "&" is the longest fold, " and ".
	if cap(sc.keys) < 5*len(s)+8 {
		sc.keys = make([]byte, 0, 5*len(s)+8)
	}
	buf := sc.keys[:cap(sc.keys)]
	// (In sc: arrays on the stack would be zeroed at each call.)
	ends, prints := &sc.plainEnds, &sc.plainPrints
	ends[0] = 0
	nk, items := 0, 0
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return out, 0, i + 1, true
	}
	for {
		if i >= len(s) {
			return out, 0, i, false
		}
		if s[i] != '"' {
			if !strings.HasPrefix(s[i:], "null") {
				return out, 0, i, false
			}
			i += 4
		} else {
			if items++; items > 32 {
				return out, 0, i, false
			}
			start := ends[nk]
			n, q, up, ok := foldPlainItem(buf[start:], s[i+1:])
			it := s[i+1 : i+1+q]
			if !ok || len(it) == 0 || len(it) > maxLen || it[0] == ' ' || it[len(it)-1] == ' ' || isNullWord(it) {
				return out, 0, i, false
			}
			i += q + 2
			// As cleanItems: an empty key is dropped, and a key is
			// compared with the kept ones of the same length, first and
			// last byte.
			if n > 0 {
				k := buf[start : start+n]
				p := uint32(n) | uint32(k[0])<<16 | uint32(k[n-1])<<24
				dup := false
				for j, q := range prints[:nk] {
					if q == p && string(buf[ends[j]:ends[j+1]]) == string(k) {
						dup = true
						break
					}
				}
				if !dup {
					if up {
						upper |= 1 << nk
					}
					prints[nk] = p
					nk++
					ends[nk] = start + n
					out = append(out, it)
				}
			}
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return out, 0, i, false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case ']':
			return out, upper, i + 1, true
		default:
			return out, 0, i, false
		}
	}
}

// maxPlainCell bounds the cells cleanPlainArray reads (its scratch is five
// times as large); longer ones take the general path.
const maxPlainCell = 16 << 10

// foldPlainItem folds s up to its first '"' into buf as appendFoldPlain
// does (without a trailing space), given that buf has room for the fold.
// It returns the fold's length, the quote's index and whether a letter was
// upper-case; ok is false when a byte before the quote is not plain
// (appendFoldPlain's other bytes, '\\', a leading space or two spaces in a
// row) or there is no quote.
func foldPlainItem(buf []byte, s string) (n, quote int, upper, ok bool) {
	var diff uint64
	for j := 0; ; {
		// Eight bytes at a time while they are letters and digits, whose
		// fold is c | 0x20; up to the first other byte (the mask is exact).
		for j+8 <= len(s) && n+8 <= len(buf) {
			w := load64(s, j)
			f := w | 0x20*lsb8
			store64(buf, n, f)
			if m := nonAlnumMask(w); m != 0 {
				t := bits.TrailingZeros64(m) >> 3
				diff |= (f ^ w) & (1<<(8*t) - 1)
				n += t
				j += t
				break
			}
			diff |= f ^ w
			n += 8
			j += 8
		}
		if j >= len(s) {
			return 0, j, false, false
		}
		c := s[j]
		if l := foldLower[c]; l != 0 {
			buf[n] = l
			n++
			diff |= uint64(l ^ c)
			j++
			continue
		}
		switch plainItemClass[c] {
		case byteQuote:
			if n > 0 && buf[n-1] == ' ' {
				n--
			}
			return n, j, diff != 0, true
		case byteAnd:
			if n > 0 && buf[n-1] != ' ' {
				buf[n] = ' '
				n++
			}
			buf[n], buf[n+1], buf[n+2], buf[n+3] = 'a', 'n', 'd', ' '
			n += 4
		case byteSpace:
			if j == 0 || s[j-1] == ' ' {
				return 0, j, false, false
			}
			fallthrough
		case bytePunct:
			if n > 0 && buf[n-1] != ' ' {
				buf[n] = ' '
				n++
			}
		default:
			return 0, j, false, false
		}
		j++
	}
}

// nonAlnumMask sets the high bit of each byte of x that is not an ASCII
// letter or digit, exactly (no borrows between bytes).
func nonAlnumMask(x uint64) uint64 {
	// The high bit of each byte b below 0x80 of v set when b >= a.
	ge := func(v, a uint64) uint64 { return ((v | msb8) - a*lsb8) & msb8 }
	y := x | 0x20*lsb8 // letters in lower case (and no other byte becomes one)
	letter := ge(y, 'a') &^ ge(y, 'z'+1)
	digit := ge(x, '0') &^ ge(x, '9'+1)
	return ^(letter|digit)&msb8 | x&msb8
}

// store64 writes x to b[i:i+8], little-endian.
func store64(b []byte, i int, x uint64) {
	b = b[i : i+8]
	b[0], b[1], b[2], b[3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
	b[4], b[5], b[6], b[7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
}

// plainNotes is cleanList of the notes for a CSV cell holding a notes
// object (fastNotes) or a list of plain items (cleanPlainArray), when no
// other field gave notes; ok is false for any other value.
func (v *Validator) plainNotes(c *checker, sc *scratch, f *Fragrance, val any) bool {
	s, ok := val.(string)
	if !ok {
		return false
	}
	s = trimSpace(s)
	if strings.HasPrefix(s, "[") {
		f.NotesUnsorted, ok = v.plainList(c, sc, "notes", s, true)
		return ok
	}
	if !strings.HasPrefix(s, "{") {
		return false
	}
	// The kept items of top, middle and base, back to back, in the order
	// the object gives them; each list's bounds in lists.
	// (On the stack: storing the items costs no write barriers.)
	var room [48]string
	all := room[:0]
	var lists [3]struct{ start, end int }
	var seen [3]bool
	maxLen := v.Quality.MaxNameLength
	i := skipWS(s, 1)
	if i < len(s) && s[i] == '}' {
		return skipWS(s, i+1) == len(s)
	}
	for {
		// The keys as they come (jsonString decodes any other spelling).
		var k, next int
		switch {
		case strings.HasPrefix(s[i:], `"top"`):
			k, next = 0, i+5
		case strings.HasPrefix(s[i:], `"middle"`):
			k, next = 1, i+8
		case strings.HasPrefix(s[i:], `"base"`):
			k, next = 2, i+6
		default:
			key, n, ok := jsonString(s, i)
			if !ok {
				return false
			}
			switch key {
			case "top":
				k = 0
			case "middle":
				k = 1
			case "base":
				k = 2
			default:
				return false
			}
			next = n
		}
		if seen[k] {
			return false
		}
		seen[k] = true
		i = skipWS(s, next)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipWS(s, i+1)
		start := len(all)
		if strings.HasPrefix(s[i:], "null") {
			i += 4
		} else if all, _, i, ok = sc.cleanPlainArray(all, s, i, maxLen); !ok {
			return false
		}
		lists[k].start, lists[k].end = start, len(all)
		i = skipWS(s, i)
		if i >= len(s) {
			return false
		}
		if s[i] == ',' {
			i = skipWS(s, i+1)
			continue
		}
		if s[i] != '}' || skipWS(s, i+1) != len(s) {
			return false
		}
		break
	}
	// As cleanList in Check: top, middle and base in that order, from one
	// backing array.
	sc.listHint = len(all)
	fields := [3]string{"notes.top", "notes.middle", "notes.base"}
	dst := [3]*[]string{&f.NotesTop, &f.NotesMiddle, &f.NotesBase}
	for k, l := range lists {
		if l.end > l.start {
			kept := all[l.start:l.end]
			*dst[k] = v.capList(c, fields[k], append(sc.newList(len(kept)), kept...))
		}
	}
	sc.listHint = 0
	return true
}

// plainList is cleanList for an array cell (arrayCell) of plain items
// (cleanPlainArray), its list carved from the record's backing array
// (last: the last list carved); ok is false for any other array.
func (v *Validator) plainList(c *checker, sc *scratch, field, s string, last bool) ([]string, bool) {
	var room [16]string
	kept, _, i, ok := sc.cleanPlainArray(room[:0], s, 0, v.Quality.MaxNameLength)
	if !ok || skipWS(s, i) != len(s) {
		return nil, false
	}
	if len(kept) == 0 {
		return nil, true
	}
	if last {
		// Nothing is carved after it: the backing array of the exact size.
		sc.listHint = len(kept)
	}
	out := append(sc.newList(len(kept)), kept...)
	if last {
		sc.listHint = 0
	}
	return v.capList(c, field, out), true
}

// plainAccordNames is cleanAccordNames for a CSV cell holding a JSON array
// of plain items (cleanPlainArray), in room when they fit; ok is false for
// any other value.
func (v *Validator) plainAccordNames(c *checker, sc *scratch, val any, room []Accord) ([]Accord, bool) {
	s, ok := val.(string)
	if !ok || !strings.HasPrefix(trimSpace(s), "[") {
		return nil, false
	}
	// As fastAccordNames: the cell untrimmed, JSON spaces around the array.
	var items [16]string
	kept, upper, i, ok := sc.cleanPlainArray(items[:0], s, skipWS(s, 0), v.Quality.MaxNameLength)
	if !ok || skipWS(s, i) != len(s) {
		return nil, false
	}
	kept = v.capList(c, "accords", kept)
	var out []Accord
	if room != nil && len(kept) <= cap(room) {
		out = room[:len(kept):len(kept)]
	} else {
		out = make([]Accord, len(kept))
	}
	for i, n := range kept {
		if upper&(1<<i) != 0 {
			n = strings.ToLower(n)
		}
		out[i].Name = n
	}
	return out, true
}
