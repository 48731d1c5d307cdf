package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// A trending page that failed leaves a gap in the ranks read: fragrances
// newly listed after the gap entered from past the list's end (its highest
// rank), so their climb is positive, never negative.
func TestClimbIsMeasuredFromTheListsEndNotTheItemsRead(t *testing.T) {
	t.Parallel()
	var items []upstream.Item
	for _, r := range append(ranks(1, 25), ranks(51, 75)...) { // page 2 failed
		items = append(items, upstream.Item{SourceID: fmt.Sprint("f", r), Rank: &r})
	}
	d := settings.DefaultDetection
	trends := scoreTrends(items, map[string]baseline{}, true, time.Now(), d)
	require.Len(t, trends, 50)
	for _, tr := range trends {
		require.NotNil(t, tr.rankChange, tr.item.SourceID)
		require.Positive(t, *tr.rankChange, "%s at rank %d", tr.item.SourceID, *tr.item.Rank)
		require.Equal(t, 76-*tr.item.Rank, *tr.rankChange, "entered from rank 76, just past the highest seen (75)")
		require.GreaterOrEqual(t, tr.score, 0.0)
	}
	require.True(t, trends[0].rising, "rank 1 climbed 75 places")
}

func ranks(from, to int) []int {
	var out []int
	for r := from; r <= to; r++ {
		out = append(out, r)
	}
	return out
}
