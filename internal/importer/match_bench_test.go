package importer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/settings"
)

// BenchmarkMatchOneRecord matches one incoming record against a catalog of
// SCENTMATCH_BENCH_CATALOG fragrances (default 1,000,000) the way a batch
// does: candidate keys probed in fragrance_keys, the best candidates
// loaded, the record scored against them. The catalog is written with SQL
// (3 candidate keys per fragrance, as BlockKeys files two-word names of
// short words) so that building it does not dominate. Two ways: each
// record in a transaction of its own (own-transaction), and 500 records per
// transaction with their lookups grouped, as the importer's batches do
// (batch-of-500, ns/op per record).
//
//	go test -run '^$' -bench MatchOneRecord -benchtime 2000x ./internal/importer/
func BenchmarkMatchOneRecord(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SCENTMATCH_BENCH_CATALOG")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	pool := dbtest.Pool(b)
	b.Logf("building a catalog of %d fragrances", n)
	for _, q := range []string{
		`INSERT INTO brands (name, match_key) SELECT 'Brand ' || i, 'brand ' || i FROM generate_series(1, 2000) i`,
		`INSERT INTO fragrances (brand_id, name, match_key, content_hash)
		 SELECT 1 + i % 2000, 'w' || (i % 5000) || ' x' || (i / 5000),
		        'brand ' || (1 + i % 2000) || '|w' || (i % 5000) || ' x' || (i / 5000) || '||', 'h'
		 FROM generate_series(1, $1::int) i`,
		`INSERT INTO fragrance_keys (key, fragrance_id)
		 SELECT fragrance_key_hash(k), f.id FROM fragrances f JOIN brands b ON b.id = f.brand_id,
		 LATERAL unnest(ARRAY[f.match_key, b.match_key || '|t:' || split_part(f.name, ' ', 1), b.match_key || '|t:' || split_part(f.name, ' ', 2)]) k`,
		`ANALYZE brands, fragrances, fragrance_keys`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("building the catalog: %v", err)
		}
	}
	m := matching.FuzzyMatcher{Bands: settings.DefaultMatching}
	perKey := settings.DefaultMatching.MaxCandidates
	record := func(rng *rand.Rand) (int, *catalog.Fragrance) {
		j := 1 + rng.IntN(n)
		brandKey := fmt.Sprintf("brand %d", 1+j%2000)
		f := &catalog.Fragrance{Brand: brandKey, BrandKey: brandKey, Name: fmt.Sprintf("w%d x%d", j%5000, j/5000)}
		f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, "", "")
		return j, f
	}
	// matchAll looks up the candidates of fs in one go, loads them, and
	// matches each record: what a batch does for its records.
	matchAll := func(tx pgx.Tx, js []int, fs []*catalog.Fragrance) error {
		byKey := map[string][]int64{}
		all := map[string]bool{}
		keys := make([][]string, len(fs))
		for i, f := range fs {
			keys[i] = m.Keys(f)
			for _, k := range keys[i] {
				all[k] = true
			}
		}
		if _, err := lookup(ctx, tx, nil, sortedKeys(all), perKey, byKey); err != nil {
			return err
		}
		want := map[int64]bool{}
		ranked := make([][]int64, len(fs))
		for i := range fs {
			ranked[i] = rankCandidates(keys[i], byKey, perKey)
			for _, id := range ranked[i] {
				want[id] = true
			}
		}
		ids := make([]int64, 0, len(want))
		for id := range want {
			ids = append(ids, id)
		}
		rows, err := loadRows(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i, f := range fs {
			var cands []matching.Candidate
			for _, id := range ranked[i] {
				if r := rows[id]; r != nil {
					cands = append(cands, matching.Candidate{ID: id, Fragrance: &r.Fragrance, Identities: r.Identities})
				}
			}
			if d := m.Match(f, cands); d.Kind != matching.Merge {
				return fmt.Errorf("record %d did not find itself: %+v", js[i], d)
			}
		}
		return nil
	}
	// own-transaction: one record per transaction, its own lookups (the
	// figure quoted against the 1 ms target since the start).
	b.Run("own-transaction", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < b.N; i++ {
			j, f := record(rng)
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return matchAll(tx, []int{j}, []*catalog.Fragrance{f}) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	// batch-of-500: as the importer matches, 500 records (cycle.batch_size)
	// per transaction with their lookups and loads grouped; ns/op is per
	// record.
	b.Run("batch-of-500", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		for done := 0; done < b.N; {
			size := min(500, b.N-done)
			js, fs := make([]int, size), make([]*catalog.Fragrance, size)
			for i := range size {
				js[i], fs[i] = record(rng)
			}
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return matchAll(tx, js, fs) }); err != nil {
				b.Fatal(err)
			}
			done += size
		}
	})
}
