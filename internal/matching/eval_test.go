package matching

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

func validator() *catalog.Validator {
	cfg := settings.Default()
	brands := catalog.NewBrandResolver()
	for _, b := range cfg.Brands.Brands {
		brands.Add(b.Name, b.Aliases...)
	}
	return &catalog.Validator{Quality: cfg.Monitoring.Quality, Brands: brands}
}

// recordMaker returns a function that validates a record given as
// field/value pairs ("brand", "Chanel", "name", "No 5") with v and fails
// the test when v rejects it.
func recordMaker(t *testing.T, v *catalog.Validator) func(fields ...string) *catalog.Fragrance {
	return func(fields ...string) *catalog.Fragrance {
		t.Helper()
		raw := map[string]any{}
		for i := 0; i+1 < len(fields); i += 2 {
			raw[fields[i]] = fields[i+1]
		}
		f, issues := v.Check(&dataset.Raw{Fields: raw})
		require.NotNil(t, f, "%v: %v", fields, issues)
		return f
	}
}

func labeledPairs(t *testing.T) []LabeledPair {
	t.Helper()
	f, err := os.Open("testdata/labeled_pairs.jsonl")
	require.NoError(t, err)
	defer f.Close()
	pairs, err := ReadPairs(f)
	require.NoError(t, err)
	return pairs
}

// TestLabeledSetShape guards the committed labels: enough true pairs and
// hard negatives in each half.
func TestLabeledSetShape(t *testing.T) {
	t.Parallel()
	counts := map[string]int{}
	ids := map[string]bool{}
	for _, p := range labeledPairs(t) {
		require.False(t, ids[p.ID], "duplicate id %s", p.ID)
		ids[p.ID] = true
		key := p.Split + "/different"
		if p.Same {
			key = p.Split + "/same"
		}
		counts[key]++
	}
	for _, k := range []string{"tune/same", "tune/different", "heldout/same", "heldout/different"} {
		require.GreaterOrEqual(t, counts[k], 300, k)
	}
}

// TestExactMatcherOnHeldOutPairs measures the exact matcher, the baseline
// the fuzzy matcher must beat: it never merges two different products, and
// catches every respelling that normalization alone explains.
func TestExactMatcherOnHeldOutPairs(t *testing.T) {
	t.Parallel()
	s := Evaluate(ExactMatcher{}, validator(), labeledPairs(t), "heldout")
	t.Logf("exact matcher, held-out half: %s", s.Report())
	require.Equal(t, 1.0, s.Precision(), "no wrong merge: %v", s.Wrong)
	require.Zero(t, s.Reviews)
	for _, kind := range []string{"same-case-and-spaces", "same-apostrophe", "same-vintage", "same-brand-in-title", "same-brand-alias"} {
		require.Empty(t, s.Missed[kind], "%s is normalization's job", kind)
	}
}
