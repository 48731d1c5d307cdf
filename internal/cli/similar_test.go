package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/embedding"
)

func TestSimilarNormalizesNamesAsTheImporterDoes(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join([]string{
		`{"source_id": "6", "brand": "John Richmond", "name": "John Richmond for Men", "notes": ["Lavender", "Amber"], "accords": ["aromatic", "amber"]}`,
		`{"source_id": "7", "brand": "John Richmond", "name": "Viva Rock", "notes": ["Rose", "Amber"], "accords": ["floral", "amber"]}`,
	}, "\n")), 0o644))
	r := run(t, env, "import", "--fragrances", path, "--source", "s", "--embedding-timeout", "30")
	require.Equal(t, ExitOK, r.code, r.stderr)

	// The importer took the brand off the name ("for Men" is stored); the
	// lookup does the same (issue 18).
	r = run(t, env, "similar", "John Richmond for Men", "--brand", "John Richmond", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	res := decode[embedding.SearchResult](t, r.stdout)
	require.Equal(t, "John Richmond", res.Query.Brand)
	require.Equal(t, "for Men", res.Query.Name)

	// With --json, an error is JSON on stdout too.
	r = run(t, env, "similar", "No Such Scent", "--json")
	require.Equal(t, ExitUsage, r.code, r.stderr)
	require.Contains(t, decode[map[string]any](t, r.stdout)["error"], `no fragrance is named "No Such Scent"`)
}

func TestSimilar(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join([]string{
		`{"source_id": "1", "brand": "Acme", "name": "Oud One", "concentration": "Eau de Parfum", "notes": ["Oud", "Rose", "Saffron"], "accords": ["oud", "rose", "woody"]}`,
		`{"source_id": "2", "brand": "Acme", "name": "Oud Two", "notes": ["Oud", "Saffron", "Cedar"], "accords": ["oud", "woody", "smoky"]}`,
		`{"source_id": "3", "brand": "Acme", "name": "Lemon Drop", "notes": ["Lemon", "Bergamot"], "accords": ["citrus", "fresh"]}`,
		`{"source_id": "4", "brand": "Zenith", "name": "Oud One", "notes": ["Oud", "Rose", "Amber"], "accords": ["oud", "rose", "amber"]}`,
		`{"source_id": "5", "brand": "Hermès", "name": "Eau d'Orange Verte", "notes": ["Orange", "Lemon", "Mint"], "accords": ["citrus", "fresh", "green"]}`,
	}, "\n")), 0o644))
	r := run(t, env, "import", "--fragrances", path, "--source", "s", "--embedding-timeout", "30")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "5 embedded")

	// Two fragrances share the name: both are listed, and --brand is asked for.
	r = run(t, env, "similar", "oud one")
	require.Equal(t, ExitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, `2 fragrances match "oud one": add --brand B`)
	require.Contains(t, r.stderr, "Acme")
	require.Contains(t, r.stderr, "Zenith")

	// Case and accents do not matter; --json for machines.
	r = run(t, env, "similar", "OUD ONE", "--brand", "acme", "-k", "4", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	res := decode[embedding.SearchResult](t, r.stdout)
	require.Equal(t, "Acme", res.Query.Brand)
	require.Equal(t, "Oud One", res.Query.Name)
	require.Equal(t, embedding.MethodExact, res.Method, "no pgvector here")
	require.Equal(t, 4, res.Scanned, "every other vector of the model")
	require.Len(t, res.Neighbours, 4)
	names := []string{}
	for i, n := range res.Neighbours {
		require.Equal(t, i+1, n.Rank)
		require.NotEqual(t, res.Query.ID, n.ID, "never itself")
		if i > 0 {
			require.LessOrEqual(t, n.Similarity, res.Neighbours[i-1].Similarity, "best first")
		}
		names = append(names, n.Brand+" "+n.Name)
	}
	require.ElementsMatch(t, []string{"Acme Oud Two", "Zenith Oud One"}, names[:2], "the two oud scents come first")
	require.ElementsMatch(t, []string{"Acme Lemon Drop", "Hermès Eau d'Orange Verte"}, names[2:], "the citrus ones last")
	require.Greater(t, res.Neighbours[1].Similarity, res.Neighbours[2].Similarity+0.2)

	// The human form: a line per neighbour under a header.
	r = run(t, env, "similar", "eau d orange verte", "--brand", "HERMES", "-k", "1")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "Nearest to Hermès Eau d'Orange Verte")
	require.Contains(t, r.stdout, "RANK  BRAND  NAME        CONCENTRATION  SIMILARITY")
	require.Contains(t, r.stdout, "1     Acme   Lemon Drop  -")

	// A trailing concentration picks that variant.
	r = run(t, env, "similar", "Oud One Eau de Parfum", "-k", "1", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "Acme", decode[embedding.SearchResult](t, r.stdout).Query.Brand)

	// Unknown names are bad input, with names that come close.
	r = run(t, env, "similar", "Lemon")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `no fragrance is named "Lemon"; names that come close`)
	require.Contains(t, r.stderr, "Lemon Drop")

	// A fragrance without a vector: say how to get one, exit 1.
	fresh := filepath.Join(t.TempDir(), "fresh.jsonl")
	require.NoError(t, os.WriteFile(fresh, []byte(`{"source_id": "6", "brand": "Acme", "name": "Late Comer", "accords": ["oud"]}`), 0o644))
	r = run(t, env, "import", "--fragrances", fresh, "--source", "s", "--embedding-timeout", "0")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "similar", "late comer")
	require.Equal(t, ExitFailure, r.code, r.stdout)
	require.Contains(t, r.stderr, "Acme Late Comer")
	require.Contains(t, r.stderr, "scentmatch embeddings regenerate")

	for _, args := range [][]string{{"similar"}, {"similar", "x", "--id", "3"}, {"similar", "x", "-k", "0"}, {"similar", "--id", "999999"}} {
		r = run(t, env, args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
	}
}
