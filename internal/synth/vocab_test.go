package synth

import (
	"compress/gzip"
	"encoding/csv"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/shareddata"
)

// frequencies returns counts sorted from the most common down.
func frequencies(items []string) []int {
	counts := map[string]int{}
	for _, it := range items {
		counts[it]++
	}
	out := make([]int, 0, len(counts))
	for _, n := range counts {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b int) int { return b - a })
	return out
}

// topShare is the share of all occurrences held by the k most common.
func topShare(freq []int, k int) float64 {
	total, top := 0, 0
	for i, n := range freq {
		total += n
		if i < k {
			top += n
		}
	}
	return float64(top) / float64(total)
}

// zipfSlope is the least-squares slope of log frequency against log rank
// over ranks 1..k.
func zipfSlope(freq []int, k int) float64 {
	k = min(k, len(freq))
	var sx, sy, sxx, sxy float64
	for i := 0; i < k; i++ {
		x, y := math.Log(float64(i+1)), math.Log(float64(freq[i]))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(k)
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// nameWords splits a name into lower-case words, leaving out numbers (the
// generator's record number).
func nameWords(name string) []string {
	return strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !(r >= 'a' && r <= 'z')
	})
}

// TestVocabularyLooksReal compares the brand and name-word frequencies of
// a synthetic dataset with catalog-37k's: the share of records held by the
// top 10, 100 and 500 brands, the share of name words that are the top 10,
// 100 and 1,000 words, and the Zipf slope of each, within 30% (slopes
// within 0.2).
func TestVocabularyLooksReal(t *testing.T) {
	t.Parallel()
	path, err := shareddata.Path("catalog-37k.csv.gz")
	if err != nil {
		t.Skipf("real catalog not available: %v", err)
	}
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	gz, err := gzip.NewReader(fh)
	require.NoError(t, err)
	rows, err := csv.NewReader(gz).ReadAll()
	require.NoError(t, err)
	var realBrands, realWords []string
	for _, row := range rows[1:] {
		realBrands = append(realBrands, row[0])
		realWords = append(realWords, nameWords(row[1])...)
	}
	var synBrands, synWords []string
	for i := 1; i <= 50000; i++ {
		rec := Generate(42, i, 0)
		synBrands = append(synBrands, rec.Brand)
		synWords = append(synWords, nameWords(rec.Name)...)
	}
	for _, c := range []struct {
		what      string
		real, syn []int
		ks        []int
	}{
		{"brands", frequencies(realBrands), frequencies(synBrands), []int{10, 100, 500}},
		{"name words", frequencies(realWords), frequencies(synWords), []int{10, 100, 1000}},
	} {
		for _, k := range c.ks {
			r, s := topShare(c.real, k), topShare(c.syn, k)
			t.Logf("%s: top %d hold %.3f of the real catalog, %.3f of the synthetic one", c.what, k, r, s)
			require.InDelta(t, 1, s/r, 0.3, "%s: top %d share %.3f against the real %.3f", c.what, k, s, r)
		}
		r, s := zipfSlope(c.real, 1000), zipfSlope(c.syn, 1000)
		t.Logf("%s: Zipf slope over ranks 1-1000 real %.2f, synthetic %.2f", c.what, r, s)
		require.InDelta(t, r, s, 0.2, "%s: Zipf slope", c.what)
	}
}
