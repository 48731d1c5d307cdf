// Package matching decides whether an incoming record is a product the
// catalog already has. Identity (same source and source_id) is settled by
// the importer; a Matcher judges the rest: exact match keys today, with a
// seam for fuzzy candidates and a review band. Its decisions are measured
// on a labeled set of real record pairs (testdata/labeled_pairs.jsonl,
// docs/matching.md).
package matching

import (
	"github.com/scentmatch/pipeline/internal/catalog"
)

// Identity is a record's identity at its source.
type Identity struct {
	Source, SourceID string
}

// Candidate is a fragrance a record may be the same product as: a catalog
// row, or a record inserted earlier in the same run.
type Candidate struct {
	ID         int64
	Fragrance  *catalog.Fragrance
	Identities []Identity
	// Records are the records without a source_id that became this
	// fragrance: Source and, as SourceID, the record's content hash.
	Records []Identity
}

// Kind is what to do with a record.
type Kind int

// Decisions a Matcher makes.
const (
	// Insert: a product the catalog does not have.
	Insert Kind = iota
	// Merge: the same product as Target; fill what the catalog lacks.
	Merge
	// Review: maybe the same product; an operator decides.
	Review
)

// Decision is a Matcher's verdict on one record.
type Decision struct {
	Kind   Kind
	Target int64
	Score  float64
	Reason string
}

// Matcher decides whether a record is a product the catalog already has.
// Identity (same source and source_id) is settled before a Matcher is
// asked; it sees records that are new to their source.
type Matcher interface {
	// Keys returns the match keys under which candidates for f are looked
	// up (its exact key first).
	Keys(f *catalog.Fragrance) []string
	// Match chooses among the candidates found under those keys.
	Match(f *catalog.Fragrance, candidates []Candidate) Decision
}

// ExactMatcher merges records whose match key (brand, folded name,
// concentration, gender) equals a catalog fragrance's, except that two
// different source_ids of one source are never the same product.
type ExactMatcher struct{}

// Keys implements Matcher.
func (ExactMatcher) Keys(f *catalog.Fragrance) []string { return []string{f.MatchKey} }

// Match implements Matcher.
func (ExactMatcher) Match(f *catalog.Fragrance, candidates []Candidate) Decision {
	for _, c := range candidates {
		if c.Fragrance.MatchKey != f.MatchKey || sameSourceOtherID(f, c.Identities) {
			continue
		}
		return Decision{Kind: Merge, Target: c.ID, Score: 1, Reason: "same match key " + f.MatchKey}
	}
	return Decision{Kind: Insert}
}

// sameSourceOtherID reports whether a candidate is known to f's source
// under another source_id: the source lists them as two products.
func sameSourceOtherID(f *catalog.Fragrance, ids []Identity) bool {
	if f.Source == "" || f.SourceID == "" {
		return false
	}
	for _, id := range ids {
		if id.Source == f.Source && id.SourceID != f.SourceID {
			return true
		}
	}
	return false
}

// sameSourceOtherRecord reports whether another record of f's source (f
// has no source_id; hash is f's content hash) already became the
// candidate: a source that lists one name twice lists two products (a
// relaunch, a men's and a women's version), and the second is not folded
// into the fragrance the first became.
func sameSourceOtherRecord(f *catalog.Fragrance, hash string, recs []Identity) bool {
	if f.Source == "" || f.SourceID != "" {
		return false
	}
	for _, r := range recs {
		if r.Source == f.Source && r.SourceID != hash {
			return true
		}
	}
	return false
}
