package matching

import (
	"fmt"
	"sort"
	"strings"

	"github.com/adrg/strutil/metrics"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/settings"
)

// BlockKeys are the keys under which a fragrance is filed for candidate
// lookup: its exact match key, and per significant name token (and the
// first five letters of long tokens, for typos) a brand-scoped key. Two
// records can only be compared when they share one, so a lookup never
// scans a brand, let alone the catalog.
//
// They depend on f's match key, brand key, name, concentration and gender
// only (KeyFields). The keys are built in one buffer and deduplicated as
// they are built, and returned as substrings of one string (an import
// computes them for every record it reads; blockKeysReference in the
// tests is the plain version they must equal).
func BlockKeys(f *catalog.Fragrance) []string {
	// The keys after the match key, back to back in buf (on the stack
	// unless they outgrow it), each ending at its ends entry.
	var bufArray [256]byte
	var endsArray [24]int
	buf, ends := bufArray[:0], endsArray[:0]
	var seen map[string]struct{} // once there are too many to compare one by one
	add := func(parts ...string) {
		start := len(buf)
		for _, p := range parts {
			buf = append(buf, p...)
		}
		k := buf[start:]
		if string(k) == f.MatchKey {
			buf = buf[:start]
			return
		}
		if seen != nil {
			if _, ok := seen[string(k)]; ok {
				buf = buf[:start]
				return
			}
			seen[string(k)] = struct{}{}
		} else {
			prev := 0
			for _, end := range ends {
				if string(buf[prev:end]) == string(k) {
					buf = buf[:start]
					return
				}
				prev = end
			}
			if len(ends) >= 32 {
				seen = make(map[string]struct{}, 2*len(ends))
				prev = 0
				for _, end := range ends {
					seen[string(buf[prev:end])] = struct{}{}
					prev = end
				}
				seen[string(k)] = struct{}{}
			}
		}
		ends = append(ends, len(buf))
	}
	folded := catalog.Fold(f.Name)
	lossy := LossyFold(f.Name)
	// EditionKeys, in its order.
	if f.Gender != "" || lossy != "" {
		conc := lowerConcentration(f.Concentration)
		if f.Gender != "" {
			add(f.BrandKey, "|", folded, "|", conc, "|")
		}
		if lossy != "" {
			add(f.BrandKey, "|", lossy, "|", conc, "|", f.Gender)
			if f.Gender != "" {
				add(f.BrandKey, "|", lossy, "|", conc, "|")
			}
		}
	}
	for _, s := range [2]string{folded, lossy} {
		for t := range strings.FieldsSeq(s) {
			if stopwords[t] || isYear(t) {
				continue
			}
			add(f.BrandKey, "|t:", t)
			// Five letters, not five bytes: a cut inside a multi-byte
			// letter is not UTF-8, and PostgreSQL refuses the whole batch.
			if catalog.IsASCII(t) {
				if len(t) >= 6 {
					add(f.BrandKey, "|p:", t[:5])
				}
			} else if r := []rune(t); len(r) >= 6 {
				add(f.BrandKey, "|p:", string(r[:5]))
			}
		}
	}
	// One string for all of them.
	out := make([]string, 1, 1+len(ends))
	out[0] = f.MatchKey
	all := string(buf)
	prev := 0
	for _, end := range ends {
		out = append(out, all[prev:end])
		prev = end
	}
	return out
}

// lowerConcentration is strings.ToLower of a concentration, without a copy
// for the canonical ones.
func lowerConcentration(c string) string {
	switch c {
	case "":
		return ""
	case catalog.ConcEDT:
		return "edt"
	case catalog.ConcEDP:
		return "edp"
	case catalog.ConcParfum:
		return "parfum"
	case catalog.ConcExtrait:
		return "extrait"
	case catalog.ConcEDC:
		return "edc"
	case catalog.ConcCologne:
		return "cologne"
	case catalog.ConcEauFraiche:
		return "eau fraiche"
	}
	return strings.ToLower(c)
}

// KeyFields are the fields BlockKeys reads: keys computed for one value of
// them hold for any fragrance with the same.
type KeyFields struct {
	MatchKey, BrandKey, Name, Concentration, Gender string
}

// KeyFieldsOf returns f's KeyFields.
func KeyFieldsOf(f *catalog.Fragrance) KeyFields {
	return KeyFields{MatchKey: f.MatchKey, BrandKey: f.BrandKey, Name: f.Name, Concentration: f.Concentration, Gender: f.Gender}
}

// EditionKeys are the exact keys, other than f's own match key, of the
// catalog entries that are f's very edition: the same name without a
// gender (a catalog that states none), and the name as a catalog that
// dropped its accented letters has it ("Tr sor" for "Trésor").
func EditionKeys(f *catalog.Fragrance) []string {
	var out []string
	conc := strings.ToLower(f.Concentration)
	if f.Gender != "" {
		out = append(out, f.BrandKey+"|"+catalog.Fold(f.Name)+"|"+conc+"|")
	}
	if lossy := LossyFold(f.Name); lossy != "" {
		out = append(out, f.BrandKey+"|"+lossy+"|"+conc+"|"+f.Gender)
		if f.Gender != "" {
			out = append(out, f.BrandKey+"|"+lossy+"|"+conc+"|")
		}
	}
	return out
}

// IsExactKey tells an exact key (brand|name|concentration|gender) from a
// word key (brand|t:word, brand|p:prefix).
func IsExactKey(k string) bool {
	i := strings.IndexByte(k, '|')
	return i >= 0 && !strings.HasPrefix(k[i+1:], "t:") && !strings.HasPrefix(k[i+1:], "p:")
}

// stopwords are too common to block on.
var stopwords = map[string]bool{"de": true, "d": true, "la": true, "le": true, "l": true, "les": true, "du": true, "des": true,
	"the": true, "of": true, "by": true, "and": true, "a": true, "eau": true, "pour": true, "for": true, "di": true, "el": true}

// noise tokens do not make a different product ("(Vintage)", a trailing
// year, concentration words left in a title).
var noise = map[string]bool{"vintage": true, "edt": true, "edp": true, "spray": true, "the": true, "by": true}

// concentrationWords are compared as concentrations, not as name words.
// Bare "cologne" is not among them: "Mugler Cologne" is a name.
var concentrationWords = map[string]bool{"extrait": true, "parfum": true, "toilette": true, "edc": true, "perfume": true}

// isYear reports whether a word is a year, 1700 to 2099
// (`^(17|18|19|20)\d\d$`; by hand: a regexp per word and candidate was a
// tenth of an import's CPU).
func isYear(t string) bool {
	return len(t) == 4 && isNumber(t) && (t[:2] == "17" || t[:2] == "18" || t[:2] == "19" || t[:2] == "20")
}

// isNumber reports whether a word is all ASCII digits (`^\d+$`).
func isNumber(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

// rareConcentrations are usually products of their own next to a base
// fragrance whose listing names no concentration ("Coco Noir" / "Coco Noir
// Extrait"); EDT and EDP usually are the base product itself.
var rareConcentrations = map[string]bool{catalog.ConcExtrait: true, catalog.ConcParfum: true, catalog.ConcEDC: true,
	catalog.ConcCologne: true, catalog.ConcEauFraiche: true}

func nameTokens(f *catalog.Fragrance) []string {
	return strings.Fields(catalog.Fold(f.Name))
}

// FuzzyMatcher matches respellings of a product (word order, typos, a
// trailing year) while keeping flankers, numbered editions, other
// concentrations, genders and brands apart. Scores at or above
// MergeThreshold merge; scores at or above ReviewThreshold, and records
// that miss a gender or concentration several candidates differ in, go to
// review.
type FuzzyMatcher struct {
	Bands settings.Matching
}

var jw = func() *metrics.JaroWinkler {
	m := metrics.NewJaroWinkler()
	m.CaseSensitive = true
	return m
}()

// Keys implements Matcher: the keys f is filed under (BlockKeys), and
// the exact keys of its name's other readings (VariantKeys), when its
// name shows any.
func (m FuzzyMatcher) Keys(f *catalog.Fragrance) []string {
	return m.KeysAfter(f, BlockKeys(f))
}

// KeysAfter is Keys for a caller that has f's BlockKeys already (and
// needs them again: the importer files a new fragrance under them). block
// is the head of the keys returned and is left as it is.
func (FuzzyMatcher) KeysAfter(f *catalog.Fragrance, block []string) []string {
	keys := block[:len(block):len(block)]
	for _, v := range VariantKeys(f) {
		keys = append(keys, v.Key)
	}
	return keys
}

// Match implements Matcher.
func (m FuzzyMatcher) Match(f *catalog.Fragrance, candidates []Candidate) Decision {
	type scored struct {
		c      Candidate
		score  float64
		reason string
	}
	candidates = m.unclaimed(f, candidates)
	// Exact keys first: a candidate with the very same match key is the
	// product, unless the name is too weak to merge on alone.
	for _, c := range candidates {
		if c.Fragrance.MatchKey == f.MatchKey && !sameSourceOtherID(f, c.Identities) && !yearsApart(f, c.Fragrance) &&
			(!weakName(f) || corroborated(f, c.Fragrance)) {
			return Decision{Kind: Merge, Target: c.ID, Score: 1, Reason: "same match key " + f.MatchKey}
		}
	}
	// Then the very edition under a key a catalog without genders (or
	// without accented letters) files it under: it beats any looser
	// candidate. Two such entries (a men's and a women's version the
	// catalog does not tell apart) are a question, never a coin toss.
	if d, ok := m.sameEdition(f, candidates); ok {
		return d
	}
	// Then another reading of the name as an exact key (accents lost,
	// "N°" / "N", "&" dropped, the brand put back where the source cut it
	// out): still an exact key, so it beats any looser candidate.
	if d, ok := m.sameVariant(f, candidates); ok {
		return d
	}
	var fits []scored
	ft := nameTokens(f) // folded once per record, not once per candidate
	var lt []string
	if lossy := LossyFold(f.Name); lossy != "" {
		lt = strings.Fields(lossy)
	}
	for _, c := range candidates {
		if sameSourceOtherID(f, c.Identities) {
			continue
		}
		ct := nameTokens(c.Fragrance)
		s, reason := score(f, c.Fragrance, ft, ct)
		if lt != nil {
			if s2, r2 := score(f, c.Fragrance, lt, ct); s2 > s {
				s, reason = s2, r2+" (the catalog lost the name's accented letters)"
			}
		}
		if s >= m.Bands.ReviewThreshold {
			fits = append(fits, scored{c, s, reason})
		}
	}
	if len(fits) == 0 {
		return Decision{Kind: Insert}
	}
	sort.SliceStable(fits, func(i, j int) bool {
		if fits[i].score != fits[j].score {
			return fits[i].score > fits[j].score
		}
		return fits[i].c.ID < fits[j].c.ID
	})
	best := fits[0]
	// An operator deciding a review sees the best few candidates and why.
	top := func() string {
		var parts []string
		for i, x := range fits {
			if i == 3 {
				break
			}
			parts = append(parts, fmt.Sprintf("%d %q (%.3f: %s)", x.c.ID, x.c.Fragrance.Name, x.score, x.reason))
		}
		return "; top candidates: " + strings.Join(parts, ", ")
	}
	// A record missing a gender or concentration matches only when exactly
	// one candidate fits; several that differ in it are a question.
	if len(fits) > 1 && ((f.Gender == "" && differ(fits, func(x scored) string { return x.c.Fragrance.Gender })) ||
		(f.Concentration == "" && differ(fits, func(x scored) string { return x.c.Fragrance.Concentration }))) {
		return Decision{Kind: Review, Target: best.c.ID, Score: best.score,
			Reason: fmt.Sprintf("rule missing-gender-or-concentration: %d candidates fit and the record lacks the gender or concentration that tells them apart", len(fits)) + top()}
	}
	// Several catalog fragrances that fit equally well (two "1 Million"
	// entries, say, and a record naming a concentration neither has)
	// cannot be told apart by the matcher either.
	if len(fits) > 1 && best.score >= m.Bands.MergeThreshold && best.score-fits[1].score < 0.02 {
		return Decision{Kind: Review, Target: best.c.ID, Score: best.score,
			Reason: fmt.Sprintf("rule tie: fragrances %d and %d fit equally well (%.3f)", best.c.ID, fits[1].c.ID, best.score) + top()}
	}
	weak := weakName(f) && !corroborated(f, best.c.Fragrance)
	if best.score >= m.Bands.MergeThreshold && !weak {
		return Decision{Kind: Merge, Target: best.c.ID, Score: best.score, Reason: best.reason}
	}
	reason := "rule gray-band: " + best.reason
	if weak {
		reason = "rule weak-name: the name is too short, only the brand or only concentration words, and nothing else corroborates it: " + best.reason
	}
	return Decision{Kind: Review, Target: best.c.ID, Score: best.score, Reason: reason + top()}
}

// unclaimed leaves out the candidates another record of f's source
// already became (sameSourceOtherRecord).
func (m FuzzyMatcher) unclaimed(f *catalog.Fragrance, candidates []Candidate) []Candidate {
	if f.SourceID != "" || f.Source == "" {
		return candidates
	}
	hash := ""
	var out []Candidate
	for i, c := range candidates {
		if len(c.Records) == 0 {
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if hash == "" {
			hash = catalog.ContentHash(f)
		}
		if sameSourceOtherRecord(f, hash, c.Records) {
			if out == nil {
				out = append(make([]Candidate, 0, len(candidates)), candidates[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return candidates
	}
	return out
}

// sameEdition finds the candidates that are f's edition exactly: its
// brand, folded name (or the name with its accented letters lost) and
// concentration, and its gender or none.
func (m FuzzyMatcher) sameEdition(f *catalog.Fragrance, candidates []Candidate) (Decision, bool) {
	keys := map[string]bool{}
	for _, k := range EditionKeys(f) {
		keys[k] = true
	}
	if len(keys) == 0 {
		return Decision{}, false
	}
	var same []Candidate
	for _, c := range candidates {
		if keys[c.Fragrance.MatchKey] && !sameSourceOtherID(f, c.Identities) && !yearsApart(f, c.Fragrance) {
			same = append(same, c)
		}
	}
	switch {
	case len(same) == 0:
		return Decision{}, false
	case len(same) > 1:
		return Decision{Kind: Review, Target: same[0].ID, Score: 1,
			Reason: fmt.Sprintf("rule same-name-versions: %d catalog fragrances have this very name and edition and no gender tells them apart (candidates %s)", len(same), candidateIDs(same))}, true
	}
	c := same[0]
	if weakName(f) && !corroborated(f, c.Fragrance) {
		return Decision{Kind: Review, Target: c.ID, Score: 1,
			Reason: "rule weak-name: the name is too short, only the brand or only concentration words, and nothing else corroborates it: same edition " + c.Fragrance.MatchKey}, true
	}
	return Decision{Kind: Merge, Target: c.ID, Score: 1, Reason: "same edition " + c.Fragrance.MatchKey + " (the catalog states no gender, or lost the accented letters)"}, true
}

// sameVariant finds the candidates filed under an exact key of another
// reading of f's name (VariantKeys). One is the product; several (a men's
// and a women's version) are a question.
func (m FuzzyMatcher) sameVariant(f *catalog.Fragrance, candidates []Candidate) (Decision, bool) {
	vs := VariantKeys(f)
	if len(vs) == 0 {
		return Decision{}, false
	}
	var same []Candidate
	var why []Variant
	for _, c := range candidates {
		if sameSourceOtherID(f, c.Identities) || yearsApart(f, c.Fragrance) {
			continue
		}
		for _, v := range vs {
			if c.Fragrance.MatchKey == v.Key {
				same, why = append(same, c), append(why, v)
				break
			}
		}
	}
	if len(same) > 1 && f.Gender != "" {
		// A reading filed with the record's own gender beats one filed
		// without.
		var g []Candidate
		var gw []Variant
		for i, c := range same {
			if c.Fragrance.Gender == f.Gender {
				g, gw = append(g, c), append(gw, why[i])
			}
		}
		if len(g) > 0 {
			same, why = g, gw
		}
	}
	switch {
	case len(same) == 0:
		return Decision{}, false
	case len(same) > 1:
		return Decision{Kind: Review, Target: same[0].ID, Score: 1,
			Reason: fmt.Sprintf("rule same-name-versions: %d catalog fragrances have this name read as %s and no gender tells them apart (candidates %s)", len(same), why[0].Why, candidateIDs(same))}, true
	}
	c, v := same[0], why[0]
	if !v.Brand && weakName(f) && !corroborated(f, c.Fragrance) {
		return Decision{Kind: Review, Target: c.ID, Score: 1,
			Reason: "rule weak-name: the name is too short, only the brand or only concentration words, and nothing else corroborates it: same key read as " + v.Why + " " + c.Fragrance.MatchKey}, true
	}
	return Decision{Kind: Merge, Target: c.ID, Score: 1, Reason: "same key with the name read as " + v.Why + ": " + c.Fragrance.MatchKey}, true
}

// yearsApart: both state a launch year, more than two years apart (a
// relaunch, or another product under an old name).
func yearsApart(a, b *catalog.Fragrance) bool {
	return a.Year != nil && b.Year != nil && (*a.Year-*b.Year > 2 || *b.Year-*a.Year > 2)
}

func candidateIDs(cs []Candidate) string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = fmt.Sprint(c.ID)
	}
	return strings.Join(ids, ", ")
}

func differ[T any](items []T, attr func(T) string) bool {
	first := attr(items[0])
	for _, it := range items[1:] {
		if attr(it) != first {
			return true
		}
	}
	return false
}

// weakName: a name empty after normalization ("---"), of one or two
// letters, or nothing but the brand or a concentration ("EDT") is never
// merged on the name alone.
func weakName(f *catalog.Fragrance) bool {
	brandTokens := strings.Fields(f.BrandKey)
	rest := ""
	for _, t := range nameTokens(f) {
		if !ignorable(t, brandTokens) && !stopwords[t] {
			rest += t
		}
	}
	// What is left once the brand, concentration words ("EDT") and noise
	// are set aside must be a name of three letters or more.
	return len(rest) < 3
}

// corroborated: the same launch year, or most accords or notes shared.
func corroborated(a, b *catalog.Fragrance) bool {
	if a.Year != nil && b.Year != nil && *a.Year == *b.Year {
		return true
	}
	return overlap(accordNames(a), accordNames(b)) >= 0.5 || overlap(noteNames(a), noteNames(b)) >= 0.5
}

// Score rates how likely a and b are one product, 0 to 1, with the reason.
// Hard rules come first: another brand, concentration, gender, number or
// year in the name, or a word one name has and the other lacks (a
// flanker), each makes them different products.
func Score(a, b *catalog.Fragrance) (float64, string) {
	return score(a, b, nameTokens(a), nameTokens(b))
}

// Excludes reports whether the hard rules alone (brand, concentration,
// gender, numbers and years in the name, a flanker word) make candidate c
// another product than f, with a match key of its own: such a candidate
// cannot change Match's decision, whatever its other fields hold. It reads
// only c's BrandKey, Name, MatchKey, Concentration and Gender, so an
// importer can screen candidates before loading them in full. ft and ct
// are the names' words as NameTokens returns them (nil: computed here).
func (m FuzzyMatcher) Excludes(f *catalog.Fragrance, ft []string, c *catalog.Fragrance, ct []string) bool {
	// A score of 0 is a fit only when the review band starts at 0.
	if m.Bands.ReviewThreshold <= 0 || c.MatchKey == f.MatchKey {
		return false
	}
	if ft == nil {
		ft = nameTokens(f)
	}
	if ct == nil {
		ct = nameTokens(c)
	}
	if _, reason := hardRules(f, c, ft, ct); reason == "" {
		return false
	}
	// Match also reads the name with its accented letters lost ("Aqua
	// Cèdre Blanc" / "Aqua C dre Blanc"): so does the screen.
	if lossy := LossyFold(f.Name); lossy != "" {
		if _, reason := hardRules(f, c, strings.Fields(lossy), ct); reason == "" {
			return false
		}
	}
	return true
}

// NameTokens are f's folded name words, as Excludes takes them.
func NameTokens(f *catalog.Fragrance) []string { return nameTokens(f) }

// hardRules applies the rules that make a and b different products. It
// returns the names' similarity when none does, or the reason of the first
// that does.
func hardRules(a, b *catalog.Fragrance, ta, tb []string) (float64, string) {
	if a.BrandKey != b.BrandKey {
		return 0, "different brands"
	}
	if a.Concentration != "" && b.Concentration != "" && a.Concentration != b.Concentration {
		return 0, "different concentrations"
	}
	if a.Gender != "" && b.Gender != "" && a.Gender != b.Gender {
		return 0, "different genders"
	}
	// A concentration one name states and the other lacks is another
	// edition ("Y Eau de Toilette" / "Y", "Neroli Portofino Parfum" /
	// "Neroli Portofino"): not a tie. A concentration from a column of its
	// own (a retailer's "EDT" against a catalog that states none) is not.
	if (a.Concentration == "") != (b.Concentration == "") {
		if a.ConcentrationFromName || b.ConcentrationFromName {
			return 0, "edition: only one name states a concentration"
		}
	}
	na, nb := numbers(ta), numbers(tb)
	brandTokens := strings.Fields(a.BrandKey)
	if na != nb {
		return 0, "different numbers in the name"
	}
	ya, yb := years(ta), years(tb)
	if ya != "" && yb != "" && ya != yb {
		return 0, "different years in the name"
	}
	// A year one name states is an edition ("CK One Summer 2018" / "CK
	// One Summer") unless the other's launch year is that year.
	if (ya == "") != (yb == "") {
		y, other := ya, b
		if y == "" {
			y, other = yb, a
		}
		if other.Year == nil || fmt.Sprint(*other.Year) != y {
			return 0, "edition: only one name states a year (" + y + ")"
		}
	}
	// Launch years far apart: a relaunch or another product.
	if yearsApart(a, b) {
		return 0, fmt.Sprintf("edition: launch years %d and %d", *a.Year, *b.Year)
	}
	sim, extra := align(ta, tb, brandTokens)
	if extra != "" {
		return 0, "flanker: \"" + extra + "\" is in one name only"
	}
	return sim, ""
}

// score is Score with the names' folded words given.
func score(a, b *catalog.Fragrance, ta, tb []string) (float64, string) {
	sim, hard := hardRules(a, b, ta, tb)
	if hard != "" {
		return 0, hard
	}
	score := sim
	reason := fmt.Sprintf("names agree (%.3f)", sim)
	if sim == 1 && strings.Join(ta, " ") != strings.Join(tb, " ") {
		reason = "same words"
	}
	if named := namedVariant(a, b); named != "" {
		score -= 0.15
		reason += ", only one is named as a " + named + " variant"
	}
	// Supporting and opposing evidence.
	if a.Year != nil && b.Year != nil {
		switch d := *a.Year - *b.Year; {
		case d == 0:
			score += 0.02
		case d > 2 || d < -2:
			score -= 0.1
			reason += fmt.Sprintf(", launch years %d and %d", *a.Year, *b.Year)
		}
	}
	if o := overlap(accordNames(a), accordNames(b)); o >= 0 {
		if o >= 0.5 {
			score += 0.02
		} else if o < 0.2 {
			score -= 0.05
			reason += ", accords disagree"
		}
	}
	if score > 1 {
		score = 1
	}
	if score < 0 {
		score = 0
	}
	return score, reason
}

// numbers lists the digit runs of a name ("No 5", "Bravado2"), years aside.
// namedVariant returns the concentration when exactly one of a and b has
// one, it is a rare one, and it came from the name ("Coco Noir Extrait"
// against "Coco Noir"): a variant named so is usually its own product.
func namedVariant(a, b *catalog.Fragrance) string {
	for _, p := range [][2]*catalog.Fragrance{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		if x.Concentration != "" && y.Concentration == "" && x.ConcentrationFromName && rareConcentrations[x.Concentration] {
			return x.Concentration
		}
	}
	return ""
}

func numbers(tokens []string) string {
	var out []string
	for _, t := range tokens {
		if isYear(t) {
			continue
		}
		// Each run of ASCII digits (`\d+`).
		for i := 0; i < len(t); {
			if t[i] < '0' || t[i] > '9' {
				i++
				continue
			}
			j := i
			for j < len(t) && t[j] >= '0' && t[j] <= '9' {
				j++
			}
			out = append(out, strings.TrimLeft(t[i:j], "0"))
			i = j
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func years(tokens []string) string {
	for _, t := range tokens {
		if isYear(t) {
			return t
		}
	}
	return ""
}

// ignorable words do not tell products apart: noise, concentration words
// (compared as concentrations) and the brand's own words, even misspelt.
// A year only when it ends the name ("Shalimar 1925"); leading or inside
// ("1911 Donna") it is part of the name.
func ignorable(t string, brandTokens []string) bool {
	if noise[t] || concentrationWords[t] {
		return true
	}
	for _, b := range brandTokens {
		if t == b || (len(t) >= 5 && len(b) >= 5 && jw.Compare(t, b) >= 0.9) {
			return true
		}
	}
	return false
}

// align pairs the words of two names, exactly or as close respellings, and
// returns the mean similarity and a word left over on either side
// (ignorable words excepted).
func align(ta, tb, brandTokens []string) (float64, string) {
	ta, tb = dropTrailingYear(ta), dropTrailingYear(tb)
	used := make([]bool, len(tb))
	total, n := 0.0, 0
	for _, x := range ta {
		if ignorable(x, brandTokens) {
			continue
		}
		best, bi := 0.0, -1
		for j, y := range tb {
			if used[j] || ignorable(y, brandTokens) {
				continue
			}
			s := 0.0
			switch {
			case x == y:
				s = 1
			case len(x) >= 5 && len(y) >= 5 && !isNumber(x) && !isNumber(y):
				s = jw.Compare(x, y)
			}
			if s > best {
				best, bi = s, j
			}
		}
		if bi < 0 || best < 0.9 {
			return 0, x
		}
		used[bi] = true
		total += best
		n++
	}
	for j, y := range tb {
		if !used[j] && !ignorable(y, brandTokens) {
			return 0, y
		}
	}
	if n == 0 {
		// Nothing but ignorable words on both sides ("Trussardi" by
		// Trussardi): equal names agree; weakName keeps them from merging
		// on that alone.
		if strings.Join(ta, " ") == strings.Join(tb, " ") {
			return 1, ""
		}
		return 0, ""
	}
	return total / float64(n), ""
}

func noteNames(f *catalog.Fragrance) []string {
	var out []string
	for _, l := range [][]string{f.NotesTop, f.NotesMiddle, f.NotesBase, f.NotesUnsorted} {
		for _, n := range l {
			out = append(out, catalog.Fold(n))
		}
	}
	return out
}

func dropTrailingYear(tokens []string) []string {
	if n := len(tokens); n > 1 && isYear(tokens[n-1]) {
		return tokens[:n-1]
	}
	return tokens
}

func accordNames(f *catalog.Fragrance) []string {
	out := make([]string, len(f.Accords))
	for i, a := range f.Accords {
		out[i] = a.Name
	}
	return out
}

// overlap is |a ∩ b| / min(|a|, |b|), or -1 when either is empty.
func overlap(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return -1
	}
	set := map[string]bool{}
	for _, x := range a {
		set[x] = true
	}
	n := 0
	for _, y := range b {
		if set[y] {
			n++
		}
	}
	m := len(a)
	if len(b) < m {
		m = len(b)
	}
	return float64(n) / float64(m)
}
