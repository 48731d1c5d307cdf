package importer

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRankCandidatesKeepsItsOrder: rankCandidates, rewritten for speed,
// ranks as the straightforward version does (most keys shared first, ties
// in order of first appearance) on random key lists with shared ids.
func TestRankCandidatesKeepsItsOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 2000; trial++ {
		byKey := map[string][]int64{}
		var keys []string
		for k := 0; k < 1+rng.IntN(8); k++ {
			key := fmt.Sprintf("k%d", k)
			keys = append(keys, key)
			seen := map[int64]bool{}
			for n := rng.IntN(25); n > 0; n-- {
				id := int64(rng.IntN(60)) - 10 // negative: this batch's new fragrances
				if !seen[id] {
					seen[id] = true
					byKey[key] = append(byKey[key], id)
				}
			}
		}
		keys = append(keys, "missing")
		max := 1 + rng.IntN(30)
		want := rankReference(keys, byKey, max)
		got := rankCandidates(keys, byKey, max)
		require.Equal(t, len(want), len(got))
		if len(want) > 0 {
			require.Equal(t, want, got, "trial %d", trial)
		}
	}
}

// rankReference is rankCandidates as first written (with the exact match
// key, keys[0], weighing more than all the others together).
func rankReference(keys []string, byKey map[string][]int64, max int) []int64 {
	shared := map[int64]int{}
	var order []int64
	for ki, k := range keys {
		for _, id := range byKey[k] {
			if shared[id] == 0 {
				order = append(order, id)
			}
			shared[id]++
			if ki == 0 {
				shared[id] += len(keys)
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return shared[order[i]] > shared[order[j]] })
	if len(order) > max {
		order = order[:max]
	}
	return order
}

// BenchmarkRankCandidates ranks the candidates of a record with six keys
// of 20 ids each, half of them shared between neighbouring keys, as a
// synthetic import's records have; rankReference is the baseline.
func BenchmarkRankCandidates(b *testing.B) {
	byKey := map[string][]int64{}
	var keys []string
	for k := 0; k < 6; k++ {
		key := fmt.Sprintf("k%d", k)
		keys = append(keys, key)
		for i := 0; i < 20; i++ {
			byKey[key] = append(byKey[key], int64(k*10+i))
		}
	}
	for _, bench := range []struct {
		name string
		rank func([]string, map[string][]int64, int) []int64
	}{{"reference", rankReference}, {"rankCandidates", rankCandidates}} {
		b.Run(bench.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bench.rank(keys, byKey, 20)
			}
		})
	}
}
