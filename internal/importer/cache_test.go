package importer

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
)

// TestCatalogStampMovesOnEveryCatalogWrite: any statement that writes
// fragrances, fragrance_keys or brands, from any session and even when it
// touches no row, moves catalog_changes, so an import's candidateCache
// never outlives a change it did not make.
func TestCatalogStampMovesOnEveryCatalogWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	stamp := func() int64 {
		var s int64
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			s, err = catalogStamp(ctx, tx)
			return err
		}))
		return s
	}
	last := stamp()
	require.Equal(t, last, stamp(), "reading does not move it")
	for _, sql := range []string{
		`INSERT INTO brands (name, match_key) VALUES ('Dior', 'dior')`,
		`INSERT INTO fragrances (brand_id, name, match_key, content_hash) SELECT id, 'Sauvage', 'dior|sauvage||', 'h' FROM brands`,
		`INSERT INTO fragrance_keys (key, fragrance_id) SELECT fragrance_key_hash(match_key), id FROM fragrances`,
		`UPDATE fragrances SET concentration = 'EDT'`,
		`UPDATE brands SET name = name WHERE false`,
		`DELETE FROM fragrance_keys WHERE false`,
		`TRUNCATE fragrance_keys`,
	} {
		_, err := pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
		now := stamp()
		require.Greater(t, now, last, sql)
		last = now
	}
}

// TestCandidateCacheKeepsOnlyWhatStaysTrue: full key lists and screening
// columns survive a batch that only inserted higher ids, and nothing
// survives a foreign write, an update, a lower new id or a failed batch.
func TestCandidateCacheKeepsOnlyWhatStaysTrue(t *testing.T) {
	t.Parallel()
	full := []int64{1, 2, 3}
	fill := func(c *candidateCache) {
		byKey := map[string][]int64{"full": append([]int64(nil), full...), "short": {4}}
		c.remember([]string{"full", "short"}, byKey, len(full))
		c.rememberLight(map[int64]*lightRow{1: {}})
	}
	c := newCandidateCache()
	c.begin(10)
	fill(c)
	require.Equal(t, map[string][]int64{"full": full}, c.keys, "only lists that hold perKey ids are kept")
	c.committed(12, false, 5)

	c.begin(12)
	byKey := map[string][]int64{}
	require.Equal(t, []string{"other", "short"}, c.split([]string{"full", "other", "short"}, byKey))
	require.Equal(t, full, byKey["full"])
	byKey["full"] = append(byKey["full"], -1) // the batch files a new fragrance
	require.Equal(t, full, c.keys["full"], "the batch's appends do not reach the cache")
	require.Len(t, c.light, 1)

	for name, next := range map[string]func(c *candidateCache){
		"another session wrote": func(c *candidateCache) { c.committed(20, false, 0); c.begin(21) },
		"the batch updated":     func(c *candidateCache) { c.committed(20, true, 0); c.begin(20) },
		"a new id below a list": func(c *candidateCache) { c.committed(20, false, 2); c.begin(20) },
		"the batch failed":      func(c *candidateCache) { c.begin(20) },
	} {
		c := newCandidateCache()
		c.begin(10)
		fill(c)
		next(c)
		require.Empty(t, c.keys, name)
		require.Empty(t, c.light, name)
	}
}
