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
// short words) so that building it does not dominate.
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
		 SELECT k, f.id FROM fragrances f JOIN brands b ON b.id = f.brand_id,
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
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := 1 + rng.IntN(n)
		brandKey := fmt.Sprintf("brand %d", 1+j%2000)
		f := &catalog.Fragrance{Brand: brandKey, BrandKey: brandKey, Name: fmt.Sprintf("w%d x%d", j%5000, j/5000)}
		f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, "", "")
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			keys := m.Keys(f)
			byKey := map[string][]int64{}
			_, err := lookup(ctx, tx, nil, keys, settings.DefaultMatching.MaxCandidates, byKey)
			if err != nil {
				return err
			}
			rows, err := loadRows(ctx, tx, rankCandidates(keys, byKey, settings.DefaultMatching.MaxCandidates))
			if err != nil {
				return err
			}
			var cands []matching.Candidate
			for id, r := range rows {
				cands = append(cands, matching.Candidate{ID: id, Fragrance: &r.Fragrance, Identities: r.Identities})
			}
			if d := m.Match(f, cands); d.Kind != matching.Merge {
				return fmt.Errorf("record %d did not find itself: %+v", j, d)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
