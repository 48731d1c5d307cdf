package matching

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"unicode"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// BrandLineups is a block index of catalog brands by the fragrance names
// they list: for a brand spelling no rule of BrandIndex resolves, it finds
// the catalog brands whose line-up shares names with the spelling's records
// (SimilarBrands), the evidence for a brand-alias proposal (AliasName).
//
// Names are filed by a 64-bit hash of their folded form, with at most two
// brands each and the number of brands listing them (capped at
// commonName), so an index of a million fragrances takes tens of
// megabytes, not the names themselves.
type BrandLineups struct {
	names  map[uint64]lineupName
	brands []LineupBrand
	pos    map[int64]int32
}

// LineupBrand is a catalog brand and the number of names it lists.
type LineupBrand struct {
	ID     int64
	Name   string
	Lineup int
}

type lineupName struct {
	a, b int32 // positions in brands of the first two brands listing it
	n    uint8 // brands listing it, capped at commonName
}

// commonName is how many brands may list a name before it says nothing
// about a brand ("Oud", "Rose", "Pour Homme", "Black" are everyone's).
const commonName = 3

// NewBrandLineups returns an empty index.
func NewBrandLineups() *BrandLineups {
	return &BrandLineups{names: map[uint64]lineupName{}, pos: map[int64]int32{}}
}

// Len is the number of distinct names filed.
func (x *BrandLineups) Len() int { return len(x.names) }

// Add files fragrance name under catalog brand id (display name brand).
func (x *BrandLineups) Add(id int64, brand, name string) {
	key := catalog.Fold(name)
	if key == "" {
		return
	}
	p, ok := x.pos[id]
	if !ok {
		p = int32(len(x.brands))
		x.pos[id] = p
		x.brands = append(x.brands, LineupBrand{ID: id, Name: brand})
	}
	h := nameHash(key)
	e, ok := x.names[h]
	switch {
	case !ok:
		e = lineupName{a: p, b: -1, n: 1}
	case e.a == p || e.b == p:
		return // listed twice by one brand (a men's and a women's version)
	case e.n < commonName:
		if e.n == 1 {
			e.b = p
		}
		e.n++
	default:
		// A common name: which brands list it no longer matters.
	}
	x.names[h] = e
	x.brands[p].Lineup++
}

func nameHash(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

// BrandEvidence is what one catalog brand shares with a source brand's
// records: the distinctive names both list.
type BrandEvidence struct {
	BrandID int64  `json:"brand_id"`
	Brand   string `json:"brand"`
	// Lineup is the number of names the catalog brand lists.
	Lineup int `json:"catalog_lineup"`
	// Shared are the source's names the catalog brand lists too, as the
	// source spells them; Long counts those of five letters or more.
	Shared []string `json:"shared_names"`
	Long   int      `json:"long_names"`
}

// SimilarBrands returns the catalog brands that list at least one of names
// (a source brand's fragrance names), best first: most shared names, then
// most long ones, then by name. A name counts when it is distinctive
// (listed by fewer than three catalog brands); it is looked up folded and,
// for a catalog that lost its accented letters, with them made spaces
// ("Trésor" / "Tr sor").
func (x *BrandLineups) SimilarBrands(names []string) []BrandEvidence {
	by := map[int32]*BrandEvidence{}
	seen := map[string]bool{}
	for _, name := range names {
		key := catalog.Fold(name)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		listed := map[int32]bool{}
		for _, k := range []string{key, LossyFold(name)} {
			if k == "" {
				continue
			}
			e, ok := x.names[nameHash(k)]
			if !ok || e.n >= commonName {
				continue
			}
			listed[e.a] = true
			if e.n > 1 {
				listed[e.b] = true
			}
		}
		for p := range listed {
			ev := by[p]
			if ev == nil {
				b := x.brands[p]
				ev = &BrandEvidence{BrandID: b.ID, Brand: b.Name, Lineup: b.Lineup}
				by[p] = ev
			}
			ev.Shared = append(ev.Shared, name)
			if letters(key) >= 5 {
				ev.Long++
			}
		}
	}
	out := make([]BrandEvidence, 0, len(by))
	for _, ev := range by {
		out = append(out, *ev)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if len(a.Shared) != len(b.Shared) {
			return len(a.Shared) > len(b.Shared)
		}
		if a.Long != b.Long {
			return a.Long > b.Long
		}
		return a.Brand < b.Brand
	})
	return out
}

func letters(key string) int {
	n := 0
	for _, r := range key {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// Alias-proposal thresholds (AliasName).
const (
	// AliasMinShared is the fewest distinctive names a source brand and a
	// catalog brand must share.
	AliasMinShared = 2
	// AliasMinShare: the shared names must be at least this fraction of
	// the source's line-up (its distinct names in the batch at hand), and
	// so of the smaller of the two line-ups. Of the source's, not only of
	// the smaller: a large source house whose collection happens to share
	// a theme with a small catalog house ("French Avenue"'s twelve zodiac
	// names, "Strange Invisible Perfumes"'s 44 names on catalog2026-13k)
	// is not that house, although the names make a fifth of the smaller.
	AliasMinShare = 0.2
)

// AliasProposal is a catalog brand a source brand spelling is probably
// another name of, and why.
type AliasProposal struct {
	Spelling string
	Best     BrandEvidence
	// Candidates are the best catalog brands, Best first (at most three).
	Candidates []BrandEvidence
	// Share is len(Best.Shared) over the source's line-up (capped at 1).
	Share  float64
	Reason string
}

// AliasName decides whether spelling, a source brand no rule resolves
// whose records (in the batch at hand) list sourceLineup distinct names,
// is another name of a catalog brand, from the evidence SimilarBrands
// found (best first). The rule: the best brand shares at least
// AliasMinShared distinctive names with the source, at least
// AliasMinShare of the source's line-up (and so of the smaller), and not only names under five
// letters (a short name does not count alone); and it is the unique best
// (no other brand shares as many names). The proposal goes to an operator;
// nothing is aliased without one.
func AliasName(spelling string, sourceLineup int, ev []BrandEvidence) (AliasProposal, bool) {
	if len(ev) == 0 {
		return AliasProposal{}, false
	}
	best := ev[0]
	n := len(best.Shared)
	if n < AliasMinShared || best.Long == 0 {
		return AliasProposal{}, false
	}
	if len(ev) > 1 && len(ev[1].Shared) >= n {
		return AliasProposal{}, false
	}
	if sourceLineup <= 0 || float64(n) < AliasMinShare*float64(sourceLineup) {
		return AliasProposal{}, false
	}
	p := AliasProposal{Spelling: spelling, Best: best, Share: min(1, float64(n)/float64(sourceLineup))}
	p.Candidates = ev[:min(3, len(ev))]
	shown := best.Shared
	more := ""
	if len(shown) > 8 {
		shown, more = shown[:8], fmt.Sprintf(" and %d more", len(best.Shared)-8)
	}
	p.Reason = fmt.Sprintf("brand-alias: %q shares %d distinctive name(s) of its %d with %q (%d names; rule: >= %d shared, >= 1/5 of the source's names, a unique best brand): %s%s",
		spelling, n, sourceLineup, best.Brand, best.Lineup, AliasMinShared, quoteAll(shown), more)
	return p, true
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
