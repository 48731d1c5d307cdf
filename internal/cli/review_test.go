package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestReviewAcceptRejectAndUnmerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": url}
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()
	count := func(q string, args ...any) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, q, args...).Scan(&n))
		return n
	}
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	base := file("base.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Calvin Klein", "name": "Eternity", "gender": "women", "year": 1988}`,
		`{"source_id": "2", "brand": "Calvin Klein", "name": "Eternity", "gender": "men", "year": 1989}`,
		`{"source_id": "3", "brand": "Guerlain", "name": "Shalimar", "year": 1925}`,
	}, "\n"))
	require.Equal(t, ExitOK, run(t, env, "import", "--fragrances", base, "--source", "cat").code)
	incoming := file("in.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Calvin Klein", "name": "Eternity"}`,
		`{"source_id": "b", "brand": "Calvin Klein", "name": "ETERNITY", "concentration": "EDP"}`,
		`{"source_id": "c", "brand": "Guerlain", "name": "Shalimr", "votes": 5000, "rating": 4.1}`,
	}, "\n"))
	r := run(t, env, "import", "--fragrances", incoming, "--source", "shop")
	require.Equal(t, ExitOK, r.code, r.stderr)

	r = run(t, env, "review", "list", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	items := decode[[]importer.ReviewItem](t, r.stdout)
	require.Len(t, items, 2)
	require.Equal(t, "Eternity", items[0].Candidate.Name)
	require.NotNil(t, items[0].Fragrance)

	r = run(t, env, "review", "show", "999")
	require.Equal(t, ExitUsage, r.code)
	r = run(t, env, "review", "show", itoa(items[0].ID))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "incoming record")

	// Reject: a product of its own; a re-import then leaves it alone.
	before := count("SELECT count(*) FROM fragrances")
	r = run(t, env, "review", "reject", itoa(items[0].ID))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, before+1, count("SELECT count(*) FROM fragrances"))
	r = run(t, env, "review", "reject", itoa(items[0].ID))
	require.Equal(t, ExitUsage, r.code, "a resolved review cannot be resolved again")
	require.Contains(t, r.stderr, "already rejected")

	// Accept: merged into the women's Eternity, identity recorded.
	target := items[1].FragranceID
	r = run(t, env, "review", "accept", itoa(items[1].ID))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, 1, count("SELECT count(*) FROM source_identities WHERE source = 'shop' AND source_id = 'b' AND fragrance_id = $1", target))
	require.Equal(t, 1, count("SELECT count(*) FROM fragrances WHERE id = $1 AND concentration = 'EDP'", target))

	again := run(t, env, "import", "--fragrances", incoming, "--source", "shop", "--json")
	require.Equal(t, ExitOK, again.code, again.stderr)
	require.Regexp(t, `"review": 0`, again.stdout)
	require.Regexp(t, `"inserted": 0`, again.stdout)

	// Unmerge the typo merge: Shalimar loses the votes it took, and the
	// merged record stands alone.
	var mergeID, shalimar int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT id, fragrance_id FROM merge_log WHERE merged_source = 'shop' AND merged_source_id = 'c'").Scan(&mergeID, &shalimar))
	require.Equal(t, 1, count("SELECT count(*) FROM fragrances WHERE id = $1 AND votes = 5000", shalimar))
	r = run(t, env, "review", "unmerge", itoa(mergeID))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, 1, count("SELECT count(*) FROM fragrances WHERE id = $1 AND votes IS NULL AND rating IS NULL", shalimar))
	require.Equal(t, 1, count("SELECT count(*) FROM fragrances f JOIN source_identities s ON s.fragrance_id = f.id WHERE s.source = 'shop' AND s.source_id = 'c' AND f.name = 'Shalimr'"))
	r = run(t, env, "review", "unmerge", itoa(mergeID))
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stderr, "already undone")
}

func TestReviewBrandAliasProposal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": url}
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	base := file("base.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Maison Verlaine", "name": "Velvet Orchid Dream"}`,
		`{"source_id": "2", "brand": "Maison Verlaine", "name": "Amber Lantern"}`,
		`{"source_id": "3", "brand": "Maison Verlaine", "name": "Cedar Whisper"}`,
	}, "\n"))
	require.Equal(t, ExitOK, run(t, env, "import", "--fragrances", base, "--source", "cat").code)
	incoming := file("in.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Verlaine Atelier", "name": "Velvet Orchid Dream"}`,
		`{"source_id": "b", "brand": "Verlaine Atelier", "name": "Cedar Whisper"}`,
		`{"source_id": "c", "brand": "Verlaine Atelier", "name": "Brand New Thing"}`,
	}, "\n"))
	r := run(t, env, "import", "--fragrances", incoming, "--source", "shop")
	require.Equal(t, ExitOK, r.code, r.stderr)

	r = run(t, env, "review", "list")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "KIND")
	require.Contains(t, r.stdout, `brand "Verlaine Atelier" (3 records held)`)
	require.Contains(t, r.stdout, "held by proposal")
	r = run(t, env, "review", "list", "--json")
	items := decode[[]importer.ReviewItem](t, r.stdout)
	require.Len(t, items, 4)
	require.Equal(t, importer.KindBrandAlias, items[0].Kind)
	proposal := items[0].ID

	r = run(t, env, "review", "show", itoa(proposal))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `is the source brand "Verlaine Atelier" the catalog's brand`)
	require.Contains(t, r.stdout, "why: brand-alias:")
	require.Contains(t, r.stdout, "Velvet Orchid Dream, Cedar Whisper")
	r = run(t, env, "review", "show", itoa(items[1].ID))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "waits on brand-alias proposal")

	// Open proposals and the rows they hold survive a backup and restore
	// (held rows reference their proposal in the same table).
	bak := filepath.Join(dir, "backup")
	r = run(t, env, "backup", "--to", bak)
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "restore", "--from", bak, "--force")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "verify")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)

	r = run(t, env, "review", "accept", itoa(items[1].ID))
	require.Equal(t, ExitUsage, r.code, "a held record is decided through its proposal")
	require.Contains(t, r.stderr, "accept or reject "+itoa(proposal))

	r = run(t, env, "review", "accept", itoa(proposal), "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	res := decode[importer.Resolution](t, r.stdout)
	require.Equal(t, "accepted", res.Status)
	require.Equal(t, map[string]int{"duplicate": 2, "inserted": 1}, res.Alias.Counts)
	r = run(t, env, "review", "list")
	require.Contains(t, r.stdout, "No open reviews.")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
