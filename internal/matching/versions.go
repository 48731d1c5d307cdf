package matching

import (
	"fmt"
	"strings"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// PickVersion decides which of several records of one source that list
// one brand, name and edition (fs) is catalog fragrance c, when each of
// them alone would be matched to c: a source listing one name twice lists
// two products (a relaunch, a men's and a women's version), and at most
// one of them is c. It returns the index of the only record whose evidence
// fits c better than every other's (the same launch year, gender, most
// accords or notes shared; another year, gender or disagreeing accords
// count against), or -1 when no evidence tells them apart; why says which
// evidence decided.
func (FuzzyMatcher) PickVersion(fs []*catalog.Fragrance, c *catalog.Fragrance) (int, string) {
	if len(fs) < 2 {
		return -1, "a single record"
	}
	scores := make([]int, len(fs))
	whys := make([][]string, len(fs))
	best := 0
	for i, f := range fs {
		scores[i], whys[i] = versionEvidence(f, c)
		if scores[i] > scores[best] {
			best = i
		}
	}
	for i, s := range scores {
		if i != best && s >= scores[best] {
			best = -1
			break
		}
	}
	if best < 0 || scores[best] <= 0 {
		return -1, "no launch year, gender, accords or notes tell which record is the catalog's"
	}
	return best, strings.Join(whys[best], ", ")
}

// versionEvidence scores how well f's own evidence fits c: +2 / -2 for
// the same / another launch year or gender, +1 / -1 for accords or notes
// mostly shared / disagreeing.
func versionEvidence(f, c *catalog.Fragrance) (int, []string) {
	s := 0
	var why []string
	if f.Year != nil && c.Year != nil {
		if *f.Year == *c.Year {
			s += 2
			why = append(why, fmt.Sprintf("launch year %d", *f.Year))
		} else {
			s -= 2
		}
	}
	if f.Gender != "" && c.Gender != "" {
		if f.Gender == c.Gender {
			s += 2
			why = append(why, "gender "+f.Gender)
		} else {
			s -= 2
		}
	}
	for _, p := range []struct {
		what string
		o    float64
	}{{"accords", overlap(accordNames(f), accordNames(c))}, {"notes", overlap(noteNames(f), noteNames(c))}} {
		switch {
		case p.o >= 0.5:
			s++
			why = append(why, p.what+" shared")
		case p.o >= 0 && p.o < 0.2:
			s--
		}
	}
	return s, why
}
