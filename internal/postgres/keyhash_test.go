package postgres_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// TestBlockKeyHashAgreesWithSQL checks that the Go hash the importer files
// and looks up candidate keys by is the one the SQL function
// fragrance_key_hash computes (migration 00016 converted the stored keys
// with it; verify and tests compute keys in SQL with it).
func TestBlockKeyHashAgreesWithSQL(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	keys := []string{"", "a", "dior|sauvage||", "dior|t:sauvage", "chanel|n 5|edp|women",
		"guerlain|t:shalimar", "maison francis kurkdjian|baccarat rouge 540|edp|",
		"éàü|t:ßœ", "日本|t:香水", "emoji 🌸|t:x", "x\u00a0y", "tab\there"}
	var got []int64
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT array_agg(fragrance_key_hash(k) ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS q(k, i)`, keys).Scan(&got))
	require.Len(t, got, len(keys))
	for i, k := range keys {
		require.Equal(t, postgres.BlockKeyHash(k), got[i], "key %q", k)
	}
}

// TestBlockKeyHashIsSHA256Prefix pins the value: the first 8 bytes of
// SHA-256, big-endian, signed (the stored keys depend on it).
func TestBlockKeyHashIsSHA256Prefix(t *testing.T) {
	t.Parallel()
	// sha256("abc") = ba7816bf8f01cfea...
	require.Equal(t, int64(-0x4587e940_70fe3016), postgres.BlockKeyHash("abc"))
	require.NotEqual(t, postgres.BlockKeyHash("dior|t:sauvage"), postgres.BlockKeyHash("dior|t:sauvagf"))
}

// TestBlockKeyHashMigrationConvertsRows files a fragrance under text keys
// as the schema before 00016 did, migrates, and finds the same keys by
// their Go hashes; migrating down files it again under its text keys
// (matching.BlockKeys, as 00005 does).
func TestBlockKeyHashMigrationConvertsRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.EmptyURL(t)
	m := connect(t, url)
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()

	_, err = m.UpTo(ctx, 15)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO brands (name, match_key) VALUES ('Dior', 'dior');
		INSERT INTO fragrances (brand_id, name, match_key, content_hash) VALUES (1, 'Sauvage', 'dior|sauvage||', 'a');
		INSERT INTO fragrance_keys (key, fragrance_id) VALUES ('dior|sauvage||', 1), ('dior|t:sauvage', 1)`)
	require.NoError(t, err)

	_, err = m.UpTo(ctx, 16)
	require.NoError(t, err)
	var got []int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_agg(key ORDER BY key) FROM fragrance_keys WHERE fragrance_id = 1`).Scan(&got))
	want := []int64{postgres.BlockKeyHash("dior|sauvage||"), postgres.BlockKeyHash("dior|t:sauvage")}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	require.Equal(t, want, got)

	_, err = m.DownTo(ctx, 15)
	require.NoError(t, err)
	var text []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_agg(key::text ORDER BY key) FROM fragrance_keys WHERE fragrance_id = 1`).Scan(&text))
	want2 := matching.BlockKeys(&catalog.Fragrance{BrandKey: "dior", Name: "Sauvage", MatchKey: "dior|sauvage||"})
	slices.Sort(want2)
	slices.Sort(text) // in Go's byte order, whatever the database's collation
	require.Equal(t, want2, text)
}
