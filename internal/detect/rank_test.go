package detect

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRankCandidates(t *testing.T) {
	t.Parallel()
	c := func(id, reason string, score float64, prio int) Candidate {
		return Candidate{Source: "s", SourceID: id, Reason: reason, Score: score, BrandPriority: prio}
	}
	in := []Candidate{
		c("g1", ReasonCoverageGap, 0.9, 1), c("g2", ReasonCoverageGap, 0.8, 1), c("g3", ReasonCoverageGap, 0.7, 1),
		c("g4", ReasonCoverageGap, 0.6, 2), c("t1", ReasonTrending, 0.5, 0), c("t2", ReasonTrending, 0.4, 0),
		// The same fragrance as a gap and as trending: trending wins, whatever the score.
		c("t3", ReasonCoverageGap, 0.95, 1), c("t3", ReasonTrending, 0.45, 1),
		// Equal scores: the higher brand priority first, then source_id.
		c("s2", ReasonStale, 0.3, 0), c("s1", ReasonStale, 0.3, 2),
	}
	require.Equal(t, []string{"coverage_gap:g1", "coverage_gap:g2", "trending:t1", "trending:t3"}, ids(rankCandidates(in, 4)),
		"gaps take at most half the places while trends wait")
	require.Equal(t, []string{"coverage_gap:g1", "coverage_gap:g2", "coverage_gap:g3", "trending:t1", "trending:t3", "trending:t2", "stale:s1"},
		ids(rankCandidates(in, 7)))
	all := rankCandidates(in, 100)
	require.Len(t, all, 9)
	require.Equal(t, []string{"stale:s1", "stale:s2"}, ids(all[7:]))
	// Without trends, gaps fill every place.
	require.Equal(t, []string{"coverage_gap:g1", "coverage_gap:g2"}, ids(rankCandidates(in[:4], 2)))
	require.Empty(t, rankCandidates(in, 0))
}
