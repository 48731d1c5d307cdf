package detect

import (
	"math"
	"time"

	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// trend is one listed fragrance's movement over the window.
type trend struct {
	item upstream.Item
	// history: there was something to compare with.
	history bool
	// rising: it passed a threshold (or, without history, it is listed).
	rising     bool
	growthPct  *float64
	rankChange *int
	score      float64
}

// windows returns how old a baseline observation may be: at least the
// window less a seventh (a weekly cycle that runs a little early still
// finds last week's), at most twice the window.
func windows(d settings.Detection) (minAge, maxAge time.Duration) {
	w := time.Duration(d.TrendWindowDays) * 24 * time.Hour
	return w - w/7, 2 * w
}

// scoreTrends scores the listed fragrances (in rank order) against their
// baselines. With history, the signal is 0.45 x votes growth (full at three
// times the threshold) + 0.35 x rank climbed (full at four times the
// threshold) + 0.2 x position in the list; a fragrance is rising when its
// growth or its climb reaches the threshold. Without any history the
// upstream's order decides: every listed fragrance is rising, with a
// signal of at most 0.5 by position (unconfirmed by our own observations).
func scoreTrends(items []upstream.Item, base map[string]baseline, listedThen bool, now time.Time, d settings.Detection) []trend {
	// n is where the list ends: its highest rank seen, not the number of
	// items read (a trending page that failed leaves a gap, and the items
	// after it keep their ranks).
	n := len(items)
	for _, it := range items {
		if it.Rank != nil && *it.Rank > n {
			n = *it.Rank
		}
	}
	anyHistory := listedThen || len(base) > 0
	out := make([]trend, 0, len(items))
	window := time.Duration(d.TrendWindowDays) * 24 * time.Hour
	for _, it := range items {
		t := trend{item: it}
		rank := n
		if it.Rank != nil {
			rank = *it.Rank
		}
		position := 1 - float64(min(rank, n)-1)/float64(max(n, 1))
		if !anyHistory {
			t.rising, t.score = true, 0.5*position
			out = append(out, t)
			continue
		}
		b, seen := base[it.SourceID]
		var growthScore, rankScore float64
		if seen && b.votes != nil && it.Votes != nil && *b.votes >= d.MinVotes {
			elapsed := now.Sub(b.at)
			pct := float64(*it.Votes-*b.votes) / float64(max(*b.votes, 1)) * 100
			if elapsed > 0 {
				pct *= float64(window) / float64(elapsed) // per window
			}
			pct = math.Round(pct*10) / 10
			t.growthPct = &pct
			growthScore = clamp01(pct / (3 * d.MinVotesGrowthPercent))
			if pct >= d.MinVotesGrowthPercent {
				t.rising = true
			}
		}
		var baseRank *int
		switch {
		case seen && b.rank != nil:
			baseRank = b.rank
		case listedThen:
			r := n + 1 // not in the list then: it entered it since, from past its end
			baseRank = &r
		}
		if baseRank != nil && it.Rank != nil {
			change := *baseRank - *it.Rank
			t.rankChange = &change
			if change > 0 {
				rankScore = clamp01(float64(change) / float64(4*d.MinRankGain))
			}
			if change >= d.MinRankGain {
				t.rising = true
			}
		}
		t.history = seen || listedThen
		t.score = round3(0.45*growthScore + 0.35*rankScore + 0.2*position)
		out = append(out, t)
	}
	return out
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// priorityBonus is what brand priority adds to a candidate's signal:
// priority 1 adds 0.3, 2 adds 0.2, 3 adds 0.1, 4 and 5 add 0.05; brands not
// in brand_priorities.json add nothing.
func priorityBonus(priority int) float64 {
	switch priority {
	case 1:
		return 0.3
	case 2:
		return 0.2
	case 3:
		return 0.1
	case 4, 5:
		return 0.05
	}
	return 0
}
