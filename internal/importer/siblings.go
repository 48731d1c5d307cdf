package importer

import (
	"fmt"
	"strings"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
)

// versionPicker is a Matcher that can tell which of several records of
// one source, all matched to one catalog fragrance, is that fragrance
// (matching.FuzzyMatcher.PickVersion).
type versionPicker interface {
	PickVersion(fs []*catalog.Fragrance, c *catalog.Fragrance) (int, string)
}

// siblingKey is what records of one source that list one product twice
// share: brand, folded name and concentration (their match key without
// the gender: a substring, no allocation).
type siblingKey struct{ source, edition string }

func siblingKeyOf(f *catalog.Fragrance) siblingKey {
	k := f.MatchKey
	if i := strings.LastIndexByte(k, '|'); i >= 0 {
		k = k[:i]
	}
	return siblingKey{f.Source, k}
}

// siblings are the records of one batch that one source lists under the
// same brand, name and concentration (a relaunch, a men's and a women's
// version, listed twice): they are decided together, so that they are not
// each merged into the same catalog fragrance, or the first one into it
// at random (the same-source-versions rule). Records of one source in
// different batches are not grouped: the later ones only find the
// fragrance the earlier one became taken.
type siblings struct {
	groups  map[siblingKey][]*item
	decided map[siblingKey]bool
	forced  map[*item]matching.Decision
}

// groupSiblings groups the valid records of a batch; nil when no two
// records share a key.
func groupSiblings(valid []*item) *siblings {
	var all map[siblingKey][]*item
	for _, it := range valid {
		f := it.f
		if f.Source == "" {
			continue
		}
		k := siblingKeyOf(f)
		if all == nil {
			all = map[siblingKey][]*item{}
		}
		all[k] = append(all[k], it)
	}
	s := &siblings{groups: map[siblingKey][]*item{}, decided: map[siblingKey]bool{}, forced: map[*item]matching.Decision{}}
	for k, g := range all {
		if len(g) > 1 {
			s.groups[k] = g
		}
	}
	if len(s.groups) == 0 {
		return nil
	}
	return s
}

// decide returns the decision for it, whose own match is d. The first
// record of a group that reaches matching decides the group: match says
// what the matcher decides for each later record of it (ok false: that
// record never reaches matching, being an identity or a copy). Records
// that would all go to one catalog fragrance are left to the matcher's
// evidence (pick): the record it picks keeps its decision, the others are
// inserted as new products; with no evidence, all are inserted.
func (s *siblings) decide(it *item, d matching.Decision, pick versionPicker, rows map[int64]*row,
	match func(*item) (matching.Decision, bool, error)) (matching.Decision, error) {
	if s == nil || pick == nil {
		return d, nil
	}
	if forced, ok := s.forced[it]; ok {
		return forced, nil
	}
	k := siblingKeyOf(it.f)
	group := s.groups[k]
	if group == nil || s.decided[k] {
		return d, nil
	}
	s.decided[k] = true
	type member struct {
		it *item
		d  matching.Decision
	}
	var members []member
	after := false
	for _, m := range group {
		if m == it {
			after = true
			members = append(members, member{it, d})
			continue
		}
		if !after {
			continue // came first and never reached matching
		}
		md, ok, err := match(m)
		if err != nil {
			return d, err
		}
		if ok {
			members = append(members, member{m, md})
		}
	}
	byTarget := map[int64][]member{}
	copies := map[string]bool{}
	for _, m := range members {
		// The same record listed twice (same content, no source_id) is
		// one product, not two versions: it follows its first copy.
		if m.it.f.SourceID == "" {
			if copies[m.it.rec.hash] {
				continue
			}
			copies[m.it.rec.hash] = true
		}
		// Only merges: records the matcher sends to review already wait
		// for an operator, who sees the catalog's entries side by side
		// (a catalog listing the name twice too, same-name-versions).
		if m.d.Kind == matching.Merge && m.d.Target > 0 {
			byTarget[m.d.Target] = append(byTarget[m.d.Target], m)
		}
	}
	for target, ms := range byTarget {
		r := rows[target]
		if len(ms) < 2 || r == nil {
			continue
		}
		fs := make([]*catalog.Fragrance, len(ms))
		for i, m := range ms {
			fs[i] = m.it.f
		}
		chosen, why := pick.PickVersion(fs, &r.Fragrance)
		for i, m := range ms {
			if i == chosen {
				m.d.Reason = fmt.Sprintf("rule same-source-versions: %d records of this source list this name; the evidence (%s) shows fragrance %d is this one: %s",
					len(ms), why, target, m.d.Reason)
				s.forced[m.it] = m.d
				continue
			}
			reason := fmt.Sprintf("rule same-source-versions: %d records of this source list this name and would all go to fragrance %d; ", len(ms), target)
			if chosen >= 0 {
				reason += fmt.Sprintf("the evidence (%s) shows another record is that one, so this one is another product", why)
			} else {
				reason += why + ", so each is a product of its own"
			}
			s.forced[m.it] = matching.Decision{Kind: matching.Insert, Score: m.d.Score, Reason: reason}
		}
	}
	if forced, ok := s.forced[it]; ok {
		return forced, nil
	}
	return d, nil
}
