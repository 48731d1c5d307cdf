package sandbox

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Popularity is synthesized, not copied: every number below derives from
// a hash of the fragrance's source_id (and its brand's size in the
// catalog), so it is the same on every machine, and it moves from week to
// week so that trends exist.
//
//   - Each fragrance has a base vote count, heavy-tailed (most have a few
//     dozen, a few have thousands) and larger for brands with many
//     fragrances, and a base rating (3.0-4.6).
//   - Votes grow by 0.2% of the base per week.
//   - One fragrance in ten is volatile: in any week it may start a burst
//     (1% chance) that adds 15 votes plus 35% of its base per week for
//     three weeks. Bursts are what the trending list and week-over-week
//     growth pick up.
//   - The trending list ranks the 100 fragrances that gained the most
//     votes since the previous week.

// epoch is week 0: Monday 2024-01-01 (ISO week 2024-W01).
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Week is a week number since epoch.
type Week int

// WeekOf returns the week t falls in (weeks start on Monday, UTC).
func WeekOf(t time.Time) Week {
	d := t.UTC().Sub(epoch)
	if d < 0 {
		return 0
	}
	return Week(d / (7 * 24 * time.Hour))
}

// Start is the Monday 00:00 UTC the week begins.
func (w Week) Start() time.Time { return epoch.AddDate(0, 0, 7*int(w)) }

// String is the ISO week, e.g. 2026-W48.
func (w Week) String() string {
	y, n := w.Start().ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, n)
}

// ParseWeek reads an ISO week such as 2026-W48.
func ParseWeek(s string) (Week, error) {
	y, n, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "-W")
	year, err1 := strconv.Atoi(y)
	num, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || num < 1 || num > 53 {
		return 0, fmt.Errorf("week %q: write an ISO week such as 2026-W48", s)
	}
	// The Monday of ISO week 1 is the Monday on or before January 4th.
	jan4 := time.Date(year, 1, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	start := monday.AddDate(0, 0, 7*(num-1))
	if yy, nn := start.ISOWeek(); yy != year || nn != num {
		return 0, fmt.Errorf("week %q does not exist", s)
	}
	if start.Before(epoch) {
		return 0, fmt.Errorf("week %q is before the sandbox's first week (%s)", s, Week(0))
	}
	return WeekOf(start), nil
}

// unit hashes its parts (FNV-1a, no allocation) to a number in [0, 1).
func unit(parts ...any) float64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			for i := 0; i < len(v); i++ {
				h = (h ^ uint64(v[i])) * prime
			}
		case int:
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			for _, c := range b {
				h = (h ^ uint64(c)) * prime
			}
		}
		h = (h ^ 0) * prime
	}
	return float64(h>>11) / float64(1<<53)
}

const (
	steadyGrowth = 0.002
	burstChance  = 0.01
	burstWeeks   = 3
	burstFlat    = 15
	burstOfBase  = 0.35
	trendingSize = 100
)

// baseVotes is a fragrance's vote count in week 0; brandSize is how many
// fragrances its brand has in the catalog.
func baseVotes(id string, brandSize int) int64 {
	u := unit(id, "votes")
	factor := 1 + math.Log2(1+float64(brandSize))/2
	return int64(10 + 4000*math.Pow(u, 12)*factor)
}

func baseRating(id string) float64 { return 3.0 + 1.6*unit(id, "rating") }

func volatile(id string) bool { return unit(id, "volatile") < 0.1 }

func bursting(id string, k Week) bool { return unit(id, "burst", int(k)) < burstChance }

// votesAt is a fragrance's vote count during week w and the week before.
func votesAt(id string, base int64, w Week) (now, before int64) {
	steady := func(w Week) int64 { return base + int64(float64(base)*steadyGrowth*float64(w)) }
	now, before = steady(w), steady(max(w-1, 0))
	if volatile(id) {
		gain := burstFlat + int64(float64(base)*burstOfBase)
		for k := Week(0); k <= w; k++ {
			if bursting(id, k) {
				now += gain * int64(min(burstWeeks, int(w-k)+1))
				if k < w {
					before += gain * int64(min(burstWeeks, int(w-1-k)+1))
				}
			}
		}
	}
	if w == 0 {
		before = now
	}
	return now, before
}

// Rating is a fragrance's rating during week w: its base, drifting a
// little, two decimals.
func Rating(id string, w Week) float64 {
	r := baseRating(id) + 0.05*math.Sin(float64(w)/3+6*unit(id, "phase"))
	return math.Round(math.Max(0, math.Min(5, r))*100) / 100
}

// weekData is one week's popularity for the whole catalog.
type weekData struct {
	votes    []int64
	rating   []float64
	trending []int // catalog indexes, rank 1 first
}

func computeWeek(c *Catalog, w Week) *weekData {
	d := &weekData{votes: make([]int64, len(c.Fragrances)), rating: make([]float64, len(c.Fragrances))}
	gain := make([]int64, len(c.Fragrances))
	for i, f := range c.Fragrances {
		base := baseVotes(f.SourceID, c.brandSize[i])
		var before int64
		d.votes[i], before = votesAt(f.SourceID, base, w)
		d.rating[i] = Rating(f.SourceID, w)
		gain[i] = d.votes[i] - before
	}
	order := make([]int, len(c.Fragrances))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if gain[i] != gain[j] {
			return gain[i] > gain[j]
		}
		if d.votes[i] != d.votes[j] {
			return d.votes[i] > d.votes[j]
		}
		return c.Fragrances[i].SourceID < c.Fragrances[j].SourceID
	})
	d.trending = order[:min(trendingSize, len(order))]
	return d
}
