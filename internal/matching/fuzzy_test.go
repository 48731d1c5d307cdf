package matching

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/settings"
)

func TestFuzzyMatcherOnTuningHalf(t *testing.T) {
	t.Parallel()
	s := Evaluate(FuzzyMatcher{Bands: settings.DefaultMatching}, validator(), labeledPairs(t), "tune")
	t.Logf("fuzzy matcher, tuning half: %s", s.Report())
	require.GreaterOrEqual(t, s.Precision(), 0.995)
}

// TestFuzzyMatcherOnHeldOutPairs is the reported figure: the held-out half
// was never looked at while tuning.
func TestFuzzyMatcherOnHeldOutPairs(t *testing.T) {
	t.Parallel()
	s := Evaluate(FuzzyMatcher{Bands: settings.DefaultMatching}, validator(), labeledPairs(t), "heldout")
	t.Logf("fuzzy matcher, held-out half: %s", s.Report())
	require.GreaterOrEqual(t, s.Precision(), 0.995, "wrong merges: %v", s.Wrong)
	require.GreaterOrEqual(t, s.Recall(), 0.95)
	require.Less(t, s.ReviewRate(), 0.03)
}
