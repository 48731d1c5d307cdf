// Package catalog turns raw records from any source into clean catalog
// records: typed fields, validation with rules and severities, and the
// normalization (Unicode folding, brand aliases, concentration and gender
// spellings) that yields each fragrance's match key.
package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Fields lists the record fields a fragrance file may carry.
var Fields = []string{"brand", "name", "source", "source_id", "concentration", "gender", "year",
	"notes", "notes_top", "notes_middle", "notes_base", "accords", "perfumers", "rating", "votes", "url", "description"}

// RequiredFields are the fragrance fields a record must carry (rule
// required); a CSV header must have a column for each.
var RequiredFields = []string{"brand", "name"}

// BrandFields lists the fields of a brand record.
var BrandFields = []string{"name", "aliases", "country", "website"}

// BrandRequiredFields are the brand fields a record must carry.
var BrandRequiredFields = []string{"name"}

// Accord is a main accord with an optional weight.
type Accord struct {
	Name   string   `json:"name"`
	Weight *float64 `json:"weight,omitempty"`
}

// Fragrance is a validated, normalized fragrance record.
type Fragrance struct {
	Index int `json:"-"`
	Line  int `json:"-"`

	Brand         string `json:"brand"`
	BrandKey      string `json:"-"`
	Name          string `json:"name"`
	MatchKey      string `json:"-"`
	Source        string `json:"source,omitempty"`
	SourceID      string `json:"source_id,omitempty"`
	Concentration string `json:"concentration,omitempty"`
	// ConcentrationFromName is set when the concentration was pulled out
	// of the name ("Coco Noir Extrait"): the name itself announces a
	// variant, which matching treats as a product of its own.
	ConcentrationFromName bool     `json:"-"`
	Gender                string   `json:"gender,omitempty"`
	Year                  *int     `json:"year,omitempty"`
	NotesTop              []string `json:"notes_top,omitempty"`
	NotesMiddle           []string `json:"notes_middle,omitempty"`
	NotesBase             []string `json:"notes_base,omitempty"`
	NotesUnsorted         []string `json:"notes,omitempty"`
	Accords               []Accord `json:"accords,omitempty"`
	Perfumers             []string `json:"perfumers,omitempty"`
	Rating                *float64 `json:"rating,omitempty"`
	Votes                 *int64   `json:"votes,omitempty"`
	URL                   string   `json:"url,omitempty"`
	Description           string   `json:"description,omitempty"`
}

// Severity of a validation issue.
type Severity string

// Severities: an error quarantines the record, a warning keeps it.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Issue is one validation finding.
type Issue struct {
	Rule     string   `json:"rule"`
	Field    string   `json:"field,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Excerpt  string   `json:"excerpt,omitempty"`
}

func (i Issue) String() string {
	s := i.Rule
	if i.Field != "" {
		s += " (" + i.Field + ")"
	}
	return s + ": " + i.Message
}

// Rules and their severities.
var Rules = map[string]Severity{
	"required":              Error,
	"too-large":             Error,
	"utf8":                  Error,
	"nul-byte":              Error,
	"length":                Error,
	"year-format":           Error,
	"year-range":            Error,
	"rating-format":         Error,
	"rating-range":          Error,
	"votes-format":          Error,
	"votes-range":           Error,
	"type":                  Error,
	"json":                  Error,
	"duplicate-field":       Error,
	"url":                   Warning,
	"concentration-unknown": Warning,
	"gender-unknown":        Warning,
	"list-length":           Warning,
	"extra-cells":           Warning,
}

// Validator checks and normalizes raw records.
type Validator struct {
	Quality settings.QualityThresholds
	Brands  *BrandResolver
	// Source applies to records that name none (the --source flag).
	Source string
	Now    func() time.Time

	// noPlain turns off the one-pass paths for cells of plain list items
	// (cleanPlainArray), for tests that compare them with the general one.
	noPlain bool
	// clockYear is the year last read from the system clock (Now nil):
	// years are not going back, so a record's year up to it plus
	// MaxYearAhead is in range without reading the clock again (that
	// read was 3% of validation).
	clockYear atomic.Int32
}

const excerptLen = 80

// votesSeparators are the thousands separators a vote count may carry.
var votesSeparators = strings.NewReplacer(",", "", " ", "", "_", "")

func excerptOf(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	s = strings.ReplaceAll(s, "\x00", "\\0")
	if utf8.RuneCountInString(s) > excerptLen {
		r := []rune(s)
		s = string(r[:excerptLen]) + "…"
	}
	return s
}

type checker struct {
	issues []Issue
}

func (c *checker) add(rule, field, value, format string, args ...any) {
	c.issues = append(c.issues, Issue{Rule: rule, Field: field, Severity: Rules[rule], Message: fmt.Sprintf(format, args...), Excerpt: excerptOf(value)})
}

// Check validates raw and returns the normalized record and every issue.
// The record is usable only when no issue is an Error.
func (v *Validator) Check(raw *dataset.Raw) (*Fragrance, []Issue) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.strs = sc.strs[:0]
	c := &checker{}
	if raw.TooLarge {
		c.add("too-large", "", raw.Excerpt, "the record is larger than %d MiB", dataset.MaxRecordBytes>>20)
		return nil, c.issues
	}
	if p := raw.Problem; p != nil {
		// Found by the reader (a line that is no JSON object, invalid
		// UTF-8 the JSON decoder would have replaced, a field twice).
		c.add(p.Rule, p.Field, raw.Excerpt, "%s", p.Msg)
		return nil, c.issues
	}
	if sc.items != nil {
		sc.items = nil
	}
	sc.listHint = 0
	// One pass over the record's fields instead of a lookup of each field
	// Check reads (most are absent from a given file).
	var vals [numRawFields]any
	for k, val := range raw.Fields {
		if i := rawFieldIndex(k); i >= 0 {
			vals[i] = val
		}
	}
	// One allocation for the record and its numbers, and its accords when
	// the cell has room for few enough.
	var rec *fragranceAlloc
	var accordRoom []Accord
	if fewAccords(vals[rawAccords]) {
		ra := &fragranceWithAccords{}
		rec, accordRoom = &ra.fragranceAlloc, ra.accords[:0]
	} else {
		rec = &fragranceAlloc{}
	}
	f := &rec.Fragrance
	f.Index, f.Line = raw.Index, raw.Line
	if n, ok := vals[rawExtraCells].(int); ok {
		c.add("extra-cells", "", "", "the row has %d more cells than the header; they were ignored", n)
	}
	str := func(i int, field string, max int) string {
		val := vals[i]
		if val == nil {
			return ""
		}
		s, ok := scalarString(val)
		if !ok {
			c.add("type", field, fmt.Sprint(val), "expected text")
			return ""
		}
		s = trimSpace(s)
		if isNullWord(s) {
			return ""
		}
		if asciiWithoutNUL(s) && (max <= 0 || len(s) <= max) {
			// Valid UTF-8 without a NUL, of len(s) characters: what the
			// checks below would pass.
			return s
		}
		if !utf8.ValidString(s) {
			c.add("utf8", field, s, "the value is not valid UTF-8")
			return ""
		}
		if strings.ContainsRune(s, 0) {
			c.add("nul-byte", field, s, "the value contains a NUL byte")
			return ""
		}
		if max > 0 && utf8.RuneCountInString(s) > max {
			c.add("length", field, s, "%d characters, at most %d allowed", utf8.RuneCountInString(s), max)
			return ""
		}
		return s
	}
	q := v.Quality
	f.Brand = str(rawBrand, "brand", q.MaxNameLength)
	f.Name = str(rawName, "name", q.MaxNameLength)
	f.Source = str(rawSource, "source", 100)
	if f.Source == "" {
		f.Source = v.Source
	}
	f.SourceID = str(rawSourceID, "source_id", 500)
	f.Description = str(rawDescription, "description", q.MaxTextLength)
	f.URL = str(rawURL, "url", 2000)
	if f.URL != "" {
		if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
			c.add("url", "url", f.URL, "not an http(s) URL or path; dropped")
			f.URL = ""
		}
	}
	if f.Brand == "" && !hasIssue(c.issues, "brand") {
		c.add("required", "brand", "", "brand is required")
	}
	if f.Name == "" && !hasIssue(c.issues, "name") {
		c.add("required", "name", "", "name is required")
	}

	if s := str(rawYear, "year", 20); s != "" {
		y, err := parseInt(s)
		maxYear := v.maxYear(y, q)
		switch {
		case err != nil:
			c.add("year-format", "year", s, "expected a year such as 2015")
		case y < int64(q.MinYear) || y > int64(maxYear):
			c.add("year-range", "year", s, "%d is outside %d-%d", y, q.MinYear, maxYear)
		default:
			rec.year = int(y)
			f.Year = &rec.year
		}
	}
	if s := str(rawRating, "rating", 20); s != "" {
		r, err := parseDecimal(s)
		switch {
		case err != nil:
			c.add("rating-format", "rating", s, "expected a number such as 4.2")
		case r < q.MinRating || r > q.MaxRating:
			c.add("rating-range", "rating", s, "%g is outside %g-%g", r, q.MinRating, q.MaxRating)
		default:
			r = math.Round(r*100) / 100
			rec.rating = r
			f.Rating = &rec.rating
		}
	}
	if s := str(rawVotes, "votes", 30); s != "" {
		digits := s
		grouped := true
		if strings.ContainsAny(s, ", _") {
			digits = votesSeparators.Replace(s)
			grouped = thousandsGrouped(s)
		}
		n, err := parseInt(digits)
		switch {
		case !grouped:
			c.add("votes-format", "votes", s, "expected a whole number; a thousands separator (, space or _) goes between groups of three digits, as in 4,900")
		case err != nil:
			c.add("votes-format", "votes", s, "expected a whole number")
		case n < 0 || n > q.MaxVotes:
			c.add("votes-range", "votes", s, "%d is outside 0-%d", n, q.MaxVotes)
		default:
			rec.votes = n
			f.Votes = &rec.votes
		}
	}

	list := func(i int, field string) []string {
		val := vals[i]
		if val == nil {
			return nil
		}
		if s, ok := arrayCell(val); ok {
			if !v.noPlain {
				if out, ok := v.plainList(c, sc, field, s, false); ok {
					return out
				}
			}
			if items, ok := sc.fastList(s); ok {
				return v.cleanList(c, sc, field, items)
			}
		}
		items, err := toList(val)
		if err != nil {
			c.add("type", field, fmt.Sprint(val), "%v", err)
			return nil
		}
		return v.cleanList(c, sc, field, items)
	}
	f.Perfumers = list(rawPerfumers, "perfumers")
	f.NotesTop, f.NotesMiddle, f.NotesBase = list(rawNotesTop, "notes_top"), list(rawNotesMiddle, "notes_middle"), list(rawNotesBase, "notes_base")
	if val := vals[rawNotes]; val != nil {
		// The one-pass path when no other field gave notes (their lists
		// stay nil: cleanList of nil).
		plain := f.NotesTop == nil && f.NotesMiddle == nil && f.NotesBase == nil && !v.noPlain && v.plainNotes(c, sc, f, val)
		if !plain {
			top, mid, base, flat, ok := sc.fastNotesValue(val)
			var err error
			if !ok {
				top, mid, base, flat, err = toNotes(val)
			}
			if err != nil {
				c.add("type", "notes", fmt.Sprint(val), "%v", err)
			} else {
				// (appending to a nil list would only copy the other)
				// The four lists come out of one allocation of their inputs' size.
				sc.listHint = len(f.NotesTop) + len(top) + len(f.NotesMiddle) + len(mid) + len(f.NotesBase) + len(base) + len(flat)
				f.NotesTop = v.cleanList(c, sc, "notes.top", concatList(f.NotesTop, top))
				f.NotesMiddle = v.cleanList(c, sc, "notes.middle", concatList(f.NotesMiddle, mid))
				f.NotesBase = v.cleanList(c, sc, "notes.base", concatList(f.NotesBase, base))
				f.NotesUnsorted = v.cleanList(c, sc, "notes", flat)
				sc.listHint = 0
			}
		}
	}
	if val := vals[rawAccords]; val != nil {
		var plain bool
		if !v.noPlain {
			f.Accords, plain = v.plainAccordNames(c, sc, val, accordRoom)
		}
		if !plain {
			if names, ok := sc.fastAccordNames(val); ok {
				f.Accords = v.cleanAccordNames(c, sc, names)
			} else {
				f.Accords = v.accordsOf(c, sc, val)
			}
		}
	}

	if s := str(rawConcentration, "concentration", 100); s != "" {
		if canon, ok := sc.normalizeConcentration(s); ok {
			f.Concentration = canon
		} else {
			c.add("concentration-unknown", "concentration", s, "not a known concentration (EDT, EDP, Parfum, Extrait, EDC, Cologne, Eau Fraiche); left empty")
		}
	}
	if s := str(rawGender, "gender", 50); s != "" {
		if canon, ok := sc.normalizeGender(s); ok {
			f.Gender = canon
		} else {
			c.add("gender-unknown", "gender", s, "not a known gender (men, women, unisex); left empty")
		}
	}

	if hasErrors(c.issues) {
		return nil, c.issues
	}
	v.normalize(sc, f)
	return f, c.issues
}

// The raw fields Check reads, as indexes into its values.
const (
	rawBrand = iota
	rawName
	rawSource
	rawSourceID
	rawConcentration
	rawGender
	rawYear
	rawNotes
	rawNotesTop
	rawNotesMiddle
	rawNotesBase
	rawAccords
	rawPerfumers
	rawRating
	rawVotes
	rawURL
	rawDescription
	rawExtraCells
	numRawFields
)

// rawFieldIndex is the index of a raw field Check reads, or -1.
func rawFieldIndex(name string) int {
	switch name {
	case "brand":
		return rawBrand
	case "name":
		return rawName
	case "source":
		return rawSource
	case "source_id":
		return rawSourceID
	case "concentration":
		return rawConcentration
	case "gender":
		return rawGender
	case "year":
		return rawYear
	case "notes":
		return rawNotes
	case "notes_top":
		return rawNotesTop
	case "notes_middle":
		return rawNotesMiddle
	case "notes_base":
		return rawNotesBase
	case "accords":
		return rawAccords
	case "perfumers":
		return rawPerfumers
	case "rating":
		return rawRating
	case "votes":
		return rawVotes
	case "url":
		return rawURL
	case "description":
		return rawDescription
	case dataset.ExtraCellsKey:
		return rawExtraCells
	}
	return -1
}

// maxYear is the latest year a record may state: the current year plus
// q.MaxYearAhead. The system clock is read only for a year out of the
// range it gave last time (whose message names the range).
func (v *Validator) maxYear(y int64, q settings.QualityThresholds) int {
	ahead := q.MaxYearAhead
	if v.Now == nil {
		if known := int(v.clockYear.Load()); known != 0 && y >= int64(q.MinYear) && y <= int64(known+ahead) {
			return known + ahead
		}
		year := time.Now().Year()
		v.clockYear.Store(int32(year))
		return year + ahead
	}
	return v.now().Year() + ahead
}

func (v *Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// normalize fills the display name, brand resolution and match key.
func (v *Validator) normalize(sc *scratch, f *Fragrance) {
	// The resolution of a spelling (canonical name, key, aliases and the
	// folded words StripBrand tries) is cached: catalogs repeat brands.
	rb := sc.resolveBrand(v.Brands, f.Brand)
	f.Brand, f.BrandKey = rb.name, rb.key
	name := cleanName(f.Name)
	name = sc.stripBrand(name, rb.strip)
	if rest, conc := sc.splitConcentration(name); conc != "" {
		if f.Concentration == "" || f.Concentration == conc {
			f.Concentration = conc
			f.ConcentrationFromName = true
			name = rest
		}
	}
	f.Name = cleanName(name)
	f.MatchKey = MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
}

// MatchKey is the exact-match identity of a product: brand, folded name,
// concentration and gender. Flankers differ by name and stay apart.
func MatchKey(brandKey, name, concentration, gender string) string {
	b := make([]byte, 0, len(brandKey)+len(name)+len(concentration)+len(gender)+8)
	b = append(b, brandKey...)
	b = append(b, '|')
	b = appendFold(b, name)
	b = append(b, '|')
	if IsASCII(concentration) {
		for i := 0; i < len(concentration); i++ {
			c := concentration[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
	} else {
		b = append(b, strings.ToLower(concentration)...)
	}
	b = append(b, '|')
	b = append(b, gender...)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (v *Validator) cleanList(c *checker, sc *scratch, field string, items []string) []string {
	return v.cleanItems(c, sc, field, items, false)
}

// cleanItems is cleanList; with scratchOut the list it returns lives in sc
// until the next call (for a caller that copies the items out).
func (v *Validator) cleanItems(c *checker, sc *scratch, field string, items []string, scratchOut bool) []string {
	if len(items) > 32 {
		return v.cleanLongList(c, field, items)
	}
	if len(items) == 0 {
		// What the loop below leaves for no items.
		sc.keys = sc.keys[:0]
		sc.ends = sc.ends[:0]
		sc.kept = sc.kept[:0]
		sc.verbatim = true
		return nil
	}
	// Folded keys of the items kept so far, back to back in sc.keys; the
	// input index of each kept item in sc.kept.
	keys, ends, keptAt, prints := sc.keys[:0], sc.ends[:0], sc.kept[:0], sc.prints[:0]
	// verbatim stays true while every item is kept as it came (not
	// rejected, spaces not changed): cleanAccords relies on it.
	verbatim := true
	var out []string
	for idx, raw := range items {
		start := len(keys)
		it := raw
		var plain bool
		if len(raw) <= v.Quality.MaxNameLength && !isNullWord(raw) {
			// What listItem would return unchanged, without its passes.
			keys, plain = appendFoldPlain(keys, raw)
		}
		if !plain {
			var ok bool
			if it, ok = v.listItem(c, field, raw); !ok {
				verbatim = false
				continue
			}
			verbatim = verbatim && it == raw
			keys = appendFold(keys, it)
		}
		k := keys[start:]
		dup := len(k) == 0
		if !dup {
			// Keys are compared where their length, first and last
			// bytes agree.
			p := uint32(len(k)) | uint32(k[0])<<16 | uint32(k[len(k)-1])<<24
			for j, q := range prints {
				if q == p {
					prev := 0
					if j > 0 {
						prev = ends[j-1]
					}
					if dup = bytes.Equal(keys[prev:ends[j]], k); dup {
						break
					}
				}
			}
			if !dup {
				prints = append(prints, p)
			}
		}
		if dup {
			keys = keys[:start]
			continue
		}
		ends = append(ends, len(keys))
		keptAt = append(keptAt, idx)
		if out == nil {
			if scratchOut {
				out = sc.names[:0]
			} else {
				out = sc.newList(len(items) - idx)
			}
		}
		out = append(out, it)
	}
	setSlice(&sc.keys, keys)
	setSlice(&sc.ends, ends)
	setSlice(&sc.kept, keptAt)
	setSlice(&sc.prints, prints)
	sc.verbatim = verbatim
	if scratchOut && out != nil {
		setSlice(&sc.names, out[:0])
	}
	return v.capList(c, field, out)
}

// cleanLongList is cleanList for long lists, with a map of keys.
func (v *Validator) cleanLongList(c *checker, field string, items []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		it, ok := v.listItem(c, field, it)
		if !ok {
			continue
		}
		k := Fold(it)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, it)
	}
	return v.capList(c, field, out)
}

// listItem cleans one list item (spaces collapsed) and checks it: false
// for an empty or null item, and for one that breaks the utf8 or length
// rule (reported).
func (v *Validator) listItem(c *checker, field, it string) (string, bool) {
	it = normalizeSpaces(it)
	if it == "" || isNullWord(it) {
		return "", false
	}
	if !utf8.ValidString(it) || strings.ContainsRune(it, 0) {
		c.add("utf8", field, it, "an item is not valid UTF-8 or holds a NUL byte")
		return "", false
	}
	if utf8.RuneCountInString(it) > v.Quality.MaxNameLength {
		c.add("length", field, it, "an item is longer than %d characters", v.Quality.MaxNameLength)
		return "", false
	}
	return it, true
}

// capList keeps the first MaxListItems items of out (the list-length rule).
func (v *Validator) capList(c *checker, field string, out []string) []string {
	if max := v.Quality.MaxListItems; max > 0 && len(out) > max {
		c.add("list-length", field, "", "%d items, kept the first %d", len(out), max)
		out = out[:max]
	}
	return out
}

// concatList is append(a, b...), without copying when a is empty.
func concatList(a, b []string) []string {
	if a == nil {
		return b
	}
	return append(a, b...)
}

// accordsOf reads and cleans an accords value of any shape.
func (v *Validator) accordsOf(c *checker, sc *scratch, val any) []Accord {
	accords, ok := sc.fastAccordsValue(val)
	var err error
	if !ok {
		accords, err = toAccords(val)
	}
	if err != nil {
		c.add("type", "accords", fmt.Sprint(val), "%v", err)
	}
	return v.cleanAccords(c, sc, accords)
}

// cleanAccordNames is cleanAccords for accords without weights, given as
// their names: whichever accord a kept name's weight comes from, it is nil.
func (v *Validator) cleanAccordNames(c *checker, sc *scratch, names []string) []Accord {
	kept := v.cleanItems(c, sc, "accords", names, true)
	out := make([]Accord, len(kept))
	for i, n := range kept {
		out[i].Name = strings.ToLower(n)
	}
	return out
}

func (v *Validator) cleanAccords(c *checker, sc *scratch, in []Accord) []Accord {
	start := len(sc.strs)
	for _, a := range in {
		sc.strs = append(sc.strs, a.Name)
	}
	names := sc.strs[start:len(sc.strs):len(sc.strs)]
	// The kept names are copied into out: they need no list of their own.
	kept := v.cleanItems(c, sc, "accords", names, true)
	out := make([]Accord, 0, len(kept))
	if len(in) > 32 {
		byKey := map[string]Accord{}
		for _, a := range in {
			if _, ok := byKey[Fold(a.Name)]; !ok {
				byKey[Fold(a.Name)] = a
			}
		}
		for _, n := range kept {
			a := byKey[Fold(n)]
			out = append(out, Accord{Name: strings.ToLower(n), Weight: a.Weight})
		}
		return out
	}
	if sc.verbatim {
		// Every input accord was kept as it came or dropped as a fold
		// duplicate of an earlier one, so the first input accord that
		// folds like a kept one is that accord itself.
		for i, n := range kept {
			out = append(out, Accord{Name: strings.ToLower(n), Weight: in[sc.kept[i]].Weight})
		}
		return out
	}
	for _, n := range kept {
		// The weight of the first accord that folds alike (a rejected or
		// respaced earlier accord may fold like a kept one).
		setSlice(&sc.fold2, appendFold(sc.fold2[:0], n))
		var w *float64
		for _, a := range in {
			if setSlice(&sc.fold, appendFold(sc.fold[:0], a.Name)); bytes.Equal(sc.fold, sc.fold2) {
				w = a.Weight
				break
			}
		}
		out = append(out, Accord{Name: strings.ToLower(n), Weight: w})
	}
	return out
}

// ContentHash is a stable hash of the fields stored for a fragrance, used
// to tell an unchanged record from an update.
func ContentHash(f *Fragrance) string {
	if h, ok := contentHashFast(f); ok {
		return h
	}
	return contentHashJSON(f)
}

// contentHashJSON is ContentHash through encoding/json: the definition the
// hand-written encoder follows, and its fallback for what it declines.
func contentHashJSON(f *Fragrance) string {
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

func hasErrors(issues []Issue) bool {
	for _, i := range issues {
		if i.Severity == Error {
			return true
		}
	}
	return false
}

// FirstError returns the first error-level issue.
func FirstError(issues []Issue) (Issue, bool) {
	for _, i := range issues {
		if i.Severity == Error {
			return i, true
		}
	}
	return Issue{}, false
}

func hasIssue(issues []Issue, field string) bool {
	for _, i := range issues {
		if i.Field == field {
			return true
		}
	}
	return false
}

func isNullWord(s string) bool {
	// Only ASCII lower-cases to these words (no other rune's lower case is
	// n, u, l, o, e, a, / or -), so a longer string never is one.
	if len(s) > 4 || len(s) == 0 {
		return false
	}
	var low [4]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	switch string(low[:len(s)]) {
	case "null", "none", "nan", "n/a", "-":
		return true
	}
	return false
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

func parseInt(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) {
		return 0, fmt.Errorf("not a whole number")
	}
	return int64(f), nil
}

// thousandsGrouped reports whether the separators (",", " " or "_", one
// kind) in s split its whole part into a group of one to three digits and
// groups of exactly three: "4,900" and "1 234 567" are, "4,9" (a decimal
// comma, not 49) and "1,23,456" are not. A sign before and a fraction
// after are left to the number parser.
func thousandsGrouped(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	i := strings.IndexAny(s, ", _")
	if i < 1 || i > 3 {
		return false
	}
	sep := s[i]
	for rest := s[i:]; rest != ""; rest = rest[4:] {
		if len(rest) < 4 || rest[0] != sep {
			return false
		}
		for _, d := range []byte(rest[1:4]) {
			if d < '0' || d > '9' {
				return false
			}
		}
	}
	for _, d := range []byte(s[:i]) {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}

// parseDecimal accepts "4.2" and the decimal comma "4,2".
func parseDecimal(s string) (float64, error) {
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number")
	}
	return f, nil
}

// ParseList reads a list field: a JSON array, a JSON array in a string
// (CSV cells), or a string separated by "|" (or "," when it has no "|").
func ParseList(v any) ([]string, error) { return toList(v) }

// toList accepts a JSON array, a JSON array in a string (CSV cells), or a
// string separated by "|" (or by "," when it has no "|").
func toList(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, it := range x {
			if it == nil {
				continue
			}
			s, ok := scalarString(it)
			if !ok {
				if m, ok := it.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						out = append(out, n)
						continue
					}
				}
				return nil, fmt.Errorf("expected a list of names")
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" || isNullWord(s) {
			return nil, nil
		}
		if strings.HasPrefix(s, "[") {
			var arr []any
			if err := json.Unmarshal([]byte(s), &arr); err != nil {
				return nil, fmt.Errorf("a cell starting with '[' must be a JSON array: %v", err)
			}
			return toList(arr)
		}
		sep := "|"
		if !strings.Contains(s, "|") {
			sep = ","
		}
		return strings.Split(s, sep), nil
	}
	return nil, fmt.Errorf("expected a list")
}

// toNotes accepts {"top","middle","base"} (as an object or a JSON string)
// or a flat list.
func toNotes(v any) (top, middle, base, flat []string, err error) {
	if s, ok := v.(string); ok {
		t := strings.TrimSpace(s)
		if strings.HasPrefix(t, "{") {
			var m map[string]any
			if err := json.Unmarshal([]byte(t), &m); err != nil {
				return nil, nil, nil, nil, fmt.Errorf("a notes cell starting with '{' must be a JSON object: %v", err)
			}
			v = m
		}
	}
	if m, ok := v.(map[string]any); ok {
		get := func(k string) ([]string, error) {
			if m[k] == nil {
				return nil, nil
			}
			return toList(m[k])
		}
		if top, err = get("top"); err != nil {
			return
		}
		if middle, err = get("middle"); err != nil {
			return
		}
		if base, err = get("base"); err != nil {
			return
		}
		for k := range m {
			if k != "top" && k != "middle" && k != "base" {
				return nil, nil, nil, nil, fmt.Errorf("notes may have top, middle and base, not %q", k)
			}
		}
		return top, middle, base, nil, nil
	}
	flat, err = toList(v)
	return nil, nil, nil, flat, err
}

// toAccords accepts names or {"name", "weight"} objects.
func toAccords(v any) ([]Accord, error) {
	if s, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "[") {
		var arr []any
		if err := json.Unmarshal([]byte(s), &arr); err != nil {
			return nil, fmt.Errorf("an accords cell starting with '[' must be a JSON array: %v", err)
		}
		v = arr
	}
	arr, ok := v.([]any)
	if !ok {
		names, err := toList(v)
		out := make([]Accord, len(names))
		for i, n := range names {
			out[i] = Accord{Name: n}
		}
		return out, err
	}
	out := make([]Accord, 0, len(arr))
	for _, it := range arr {
		switch x := it.(type) {
		case string:
			out = append(out, Accord{Name: x})
		case map[string]any:
			name, _ := x["name"].(string)
			a := Accord{Name: name}
			if w, ok := x["weight"]; ok && w != nil {
				s, _ := scalarString(w)
				f, err := parseDecimal(s)
				if err != nil {
					return nil, fmt.Errorf("accord %q: weight must be a number", name)
				}
				a.Weight = &f
			}
			out = append(out, a)
		case nil:
		default:
			return nil, fmt.Errorf("expected accord names or {\"name\", \"weight\"} objects")
		}
	}
	return out, nil
}
