package matching

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
)

// LabeledPair is one line of testdata/labeled_pairs.jsonl: two records and
// whether they are the same product, by the rule in docs/matching.md.
type LabeledPair struct {
	ID    string         `json:"id"`
	Kind  string         `json:"kind"`
	Same  bool           `json:"same"`
	Split string         `json:"split"`
	A     map[string]any `json:"a"`
	B     map[string]any `json:"b"`
}

// ReadPairs reads labeled pairs.
func ReadPairs(r io.Reader) ([]LabeledPair, error) {
	var out []LabeledPair
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var p LabeledPair
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("labeled pair on line %d: %w", n, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// Result counts a matcher's decisions on labeled pairs.
type Result struct {
	Pairs, Same, Different int
	// TruePositives: same and merged; FalsePositives: different and merged.
	TruePositives, FalsePositives int
	// Reviews are pairs sent to review; Rejected pairs had a record that
	// failed validation.
	Reviews, Rejected int
	// Missed lists the ids of same pairs not merged, by kind.
	Missed map[string][]string
	// Wrong lists the ids of different pairs merged, by kind.
	Wrong map[string][]string
}

// Precision is merged-and-same over merged (1 when nothing merged).
func (s Result) Precision() float64 {
	if s.TruePositives+s.FalsePositives == 0 {
		return 1
	}
	return float64(s.TruePositives) / float64(s.TruePositives+s.FalsePositives)
}

// Recall is merged-and-same over same.
func (s Result) Recall() float64 {
	if s.Same == 0 {
		return 1
	}
	return float64(s.TruePositives) / float64(s.Same)
}

// ReviewRate is the share of pairs sent to review.
func (s Result) ReviewRate() float64 {
	if s.Pairs == 0 {
		return 0
	}
	return float64(s.Reviews) / float64(s.Pairs)
}

// Evaluate runs m on every pair of the split ("" for all): record B is
// matched against record A as the only catalog candidate.
func Evaluate(m Matcher, v *catalog.Validator, pairs []LabeledPair, split string) Result {
	s := Result{Missed: map[string][]string{}, Wrong: map[string][]string{}}
	for i, p := range pairs {
		if split != "" && p.Split != split {
			continue
		}
		s.Pairs++
		if p.Same {
			s.Same++
		} else {
			s.Different++
		}
		a, _ := v.Check(&dataset.Raw{Index: 2*i + 1, Fields: p.A})
		b, _ := v.Check(&dataset.Raw{Index: 2*i + 2, Fields: p.B})
		if a == nil || b == nil {
			s.Rejected++
			if p.Same {
				s.Missed[p.Kind] = append(s.Missed[p.Kind], p.ID)
			}
			continue
		}
		d := m.Match(b, []Candidate{{ID: 1, Fragrance: a}})
		switch {
		case d.Kind == Merge && p.Same:
			s.TruePositives++
		case d.Kind == Merge:
			s.FalsePositives++
			s.Wrong[p.Kind] = append(s.Wrong[p.Kind], p.ID)
		case d.Kind == Review:
			s.Reviews++
			if p.Same {
				s.Missed[p.Kind] = append(s.Missed[p.Kind], p.ID)
			}
		case p.Same:
			s.Missed[p.Kind] = append(s.Missed[p.Kind], p.ID)
		}
	}
	return s
}

// Report renders a score for humans.
func (s Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pairs %d (same %d, different %d): precision %.4f, recall %.4f, review %.2f%%, rejected %d\n",
		s.Pairs, s.Same, s.Different, s.Precision(), s.Recall(), 100*s.ReviewRate(), s.Rejected)
	kinds := make([]string, 0, len(s.Missed))
	for k := range s.Missed {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  missed %s: %d\n", k, len(s.Missed[k]))
	}
	for k, ids := range s.Wrong {
		fmt.Fprintf(&b, "  WRONG MERGE %s: %v\n", k, ids)
	}
	return b.String()
}
