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

func TestImportEmbedsWithinItsTimeout(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	path := filepath.Join(t.TempDir(), "e.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join([]string{
		`{"source_id": "1", "brand": "Acme", "name": "Oud One", "notes": ["Oud", "Rose"], "accords": ["oud", "rose"]}`,
		`{"source_id": "2", "brand": "Acme", "name": "Citrus Two", "accords": ["citrus"]}`,
		`{"source_id": "3", "brand": "Acme", "name": "Bare Three"}`,
	}, "\n")), 0o644))
	status := func() embedding.Status {
		r := run(t, env, "embeddings", "status", "--json")
		require.Equal(t, ExitOK, r.code, r.stderr)
		return decode[embedding.Status](t, r.stdout)
	}

	// A zero budget leaves everything pending; a bare number means seconds.
	r := run(t, env, "import", "--fragrances", path, "--source", "s", "--embedding-timeout", "0")
	require.Equal(t, ExitOK, r.code, r.stderr)
	st := status()
	require.Equal(t, embedding.Status{Model: "scent-profile-v1", Dimension: 384, Fragrances: 3, Current: 0, Pending: 2, NotEmbeddable: 1}, st)

	r = run(t, env, "import", "--fragrances", path, "--source", "s", "--embedding-timeout", "10")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "2 embedded")
	st = status()
	require.Equal(t, int64(2), st.Current)
	require.Zero(t, st.Pending)

	// Regenerating everything re-embeds the two.
	r = run(t, env, "embeddings", "regenerate", "--all")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "Embedded 2 fragrance(s)")

	r = run(t, env, "import", "--fragrances", path, "--embedding-timeout", "soon")
	require.Equal(t, ExitUsage, r.code)
}
