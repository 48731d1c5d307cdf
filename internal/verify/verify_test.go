package verify_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
	"github.com/scentmatch/pipeline/internal/verify"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func importShared(t *testing.T, pool *pgxpool.Pool, name, source string, mapping map[string]string, embed time.Duration) {
	t.Helper()
	path, err := shareddata.Path(name)
	require.NoError(t, err)
	cfg := settings.Default()
	e, err := embedding.FromConfig(cfg.Monitoring.Embedding)
	require.NoError(t, err)
	im := &importer.Importer{Pool: pool, Config: cfg, Logger: logging.Discard(), Embedder: e}
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{Map: mapping})
	require.NoError(t, err)
	defer r.Close()
	_, err = im.Import(context.Background(), r, importer.Options{Source: source, EmbeddingTimeout: embed})
	require.NoError(t, err)
}

func options() verify.Options {
	e := settings.Default().Monitoring.Embedding
	return verify.Options{Model: e.Model, Dimension: e.Dimension}
}

func byName(r *verify.Report) map[string]verify.Result {
	out := map[string]verify.Result{}
	for _, c := range r.Checks {
		out[c.Name] = c
	}
	return out
}

func failing(r *verify.Report) []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK() {
			out = append(out, c.Name)
		}
	}
	return out
}

// TestVerifyPassesOnTheRealCatalogAndFailsOnSeededOrphans imports the
// whole 37k catalog (two source_ids of one source that share a match key
// are kept apart on purpose), then breaks it one way per check.
func TestVerifyPassesOnTheRealCatalogAndFailsOnSeededOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	importShared(t, pool, "catalog-37k.csv.gz", "catalog37k",
		map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"}, 5*time.Second)
	var shared int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT match_key FROM fragrances GROUP BY 1 HAVING count(*) > 1) d`).Scan(&shared))
	require.Positive(t, shared, "the catalog lists products that share a match key under distinct source_ids")
	var embedded int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM embeddings`).Scan(&embedded))
	require.Positive(t, embedded)

	rep, err := verify.Run(ctx, pool, options())
	require.NoError(t, err)
	require.True(t, rep.OK, "violations on a clean import: %v", failing(rep))
	require.Zero(t, rep.Violations())
	require.Greater(t, len(rep.Checks), 15, "every relation and rule is checked")

	// Seed one violation per check.
	var fid, other int64
	var key string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id, match_key FROM fragrances f
		WHERE NOT EXISTS (SELECT 1 FROM fragrances g WHERE g.match_key = f.match_key AND g.id <> f.id) ORDER BY id LIMIT 1`).Scan(&fid, &key))
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM fragrances ORDER BY id DESC LIMIT 1`).Scan(&other))
	for _, seed := range []struct {
		sql  string
		args []any
	}{
		// A merge whose merged identity went missing (no foreign key covers it).
		{`INSERT INTO merge_log (fragrance_id, merged_source, merged_source_id, merged_record, reason)
			VALUES ($1, 'retail', 'r-404', '{}', 'seeded')`, []any{fid}},
		// An orphan vector of an old model, as a restore without constraints could leave.
		{`ALTER TABLE embeddings DROP CONSTRAINT embeddings_fragrance_id_fkey`, nil},
		{`INSERT INTO embeddings (fragrance_id, model, dimension, vector, content_hash) VALUES (999999999, 'old-model', 2, '{0.5,0.5}', 'x')`, nil},
		// A duplicate no rule keeps apart: no shared source, no review, no undone merge.
		{`WITH n AS (INSERT INTO fragrances (brand_id, name, match_key, content_hash)
			SELECT brand_id, name, match_key, 'seeded' FROM fragrances WHERE id = $1 RETURNING id, match_key)
			INSERT INTO fragrance_keys (key, fragrance_id) SELECT fragrance_key_hash(match_key), id FROM n`, []any{fid}},
		// A resolved review whose record is nowhere.
		{`INSERT INTO review_queue (fragrance_id, candidate, score, status, candidate_key) VALUES ($1, '{}', 0.85, 'accepted', 'id:retail|r-405')`, []any{other}},
		// Two running cycles (the unique index dropped, as a bad restore could).
		{`DROP INDEX cycles_one_running`, nil},
		{`INSERT INTO cycles (id, trigger) VALUES ('manual-a', 'manual'), ('manual-b', 'manual')`, nil},
		// An identity and a fragrance pointing nowhere (neither reference is
		// declared since migration 00017).
		{`INSERT INTO source_identities (source, source_id, fragrance_id) VALUES ('ghost', 'g-1', 999999998)`, nil},
		{`UPDATE fragrances SET created_import_run_id = 999999997 WHERE id = $1`, []any{fid}},
		// A fragrance nobody can find by its key.
		{`DELETE FROM fragrance_keys WHERE fragrance_id = $1 AND key = (SELECT fragrance_key_hash(match_key) FROM fragrances WHERE id = $1)`, []any{other}},
	} {
		_, err = pool.Exec(ctx, seed.sql, seed.args...)
		require.NoError(t, err, seed.sql)
	}

	rep, err = verify.Run(ctx, pool, options())
	require.NoError(t, err)
	require.False(t, rep.OK)
	got := byName(rep)
	require.ElementsMatch(t, []string{"merge_identities", "orphans embeddings.fragrance_id", "duplicate_match_keys",
		"source_identities_point_nowhere", "orphans fragrances.created_import_run_id",
		"review_identities", "more_than_one_running_cycle", "fragrances_not_filed_under_their_key",
		"embeddings_disagree_with_configuration"}, failing(rep))
	require.Equal(t, []string{"merge 1: retail/r-404 is recorded nowhere"}, mustPrefix(t, got["merge_identities"].Examples, "merge "))
	require.Equal(t, int64(1), got["orphans embeddings.fragrance_id"].Violations)
	require.Contains(t, got["orphans embeddings.fragrance_id"].Examples[0], "999999999")
	require.Equal(t, int64(1), got["duplicate_match_keys"].Violations)
	require.Contains(t, got["duplicate_match_keys"].Examples[0], key)
	require.Equal(t, int64(2), got["more_than_one_running_cycle"].Violations)
	require.Equal(t, int64(1), got["embeddings_disagree_with_configuration"].Violations)
	require.Contains(t, got["embeddings_disagree_with_configuration"].Examples[0], "old-model")
	require.Equal(t, int64(1), got["review_identities"].Violations)
	require.Equal(t, int64(1), got["fragrances_not_filed_under_their_key"].Violations)
	require.Equal(t, int64(1), got["source_identities_point_nowhere"].Violations)
	require.Contains(t, got["source_identities_point_nowhere"].Examples[0], "999999998")
	require.Equal(t, int64(1), got["orphans fragrances.created_import_run_id"].Violations)
	require.Contains(t, got["orphans fragrances.created_import_run_id"].Examples[0], "999999997")
}

func mustPrefix(t *testing.T, examples []string, prefix string) []string {
	t.Helper()
	for _, e := range examples {
		require.Contains(t, e, prefix)
	}
	return examples
}

// TestRulesThatKeepDuplicatesApart: a rejected review and an undone merge
// leave two fragrances with one key on purpose.
func TestRulesThatKeepDuplicatesApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	cfg := settings.Default()
	im := &importer.Importer{Pool: pool, Config: cfg, Logger: logging.Discard()}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		require.NoError(t, writeFile(p, body))
		return p
	}
	run := func(path, source string) {
		r, err := dataset.Open(path, catalog.Fields, dataset.Options{})
		require.NoError(t, err)
		defer r.Close()
		_, err = im.Import(ctx, r, importer.Options{Source: source})
		require.NoError(t, err)
	}
	// A catalog record, then a retail record that merges into it, undone.
	run(write("a.jsonl", `{"brand": "Dior", "name": "Sauvage", "source_id": "a1", "year": 2015, "accords": ["fresh"]}`+"\n"), "cat")
	run(write("b.jsonl", `{"brand": "Dior", "name": "Sauvage", "source_id": "b1", "year": 2015, "accords": ["fresh"]}`+"\n"), "shop")
	var mergeID int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM merge_log`).Scan(&mergeID))
	_, err := im.Unmerge(ctx, mergeID)
	require.NoError(t, err)
	// A weak name goes to review; rejecting it inserts it as its own product.
	// (once with an identity, once without one: found by its content hash).
	run(write("c.jsonl", `{"brand": "Yves Saint Laurent", "name": "Y", "source_id": "c1"}`+"\n"), "cat")
	run(write("d.jsonl", `{"brand": "Yves Saint Laurent", "name": "Y", "source_id": "d1"}`+"\n"), "shop")
	run(write("e.jsonl", `{"brand": "Yves Saint Laurent", "name": "Y", "url": "https://example.com/y"}`+"\n"), "")
	var reviews []int64
	rows, err := pool.Query(ctx, `SELECT id FROM review_queue WHERE status = 'open' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		reviews = append(reviews, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, reviews, 2, "a name too weak to merge on is a question")
	for _, id := range reviews {
		_, err = im.ResolveReview(ctx, id, false, "tester")
		require.NoError(t, err)
	}
	var dups, members int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), sum(n) FROM (SELECT count(*) AS n FROM fragrances GROUP BY match_key HAVING count(*) > 1) d`).Scan(&dups, &members))
	require.Equal(t, 2, dups, "Sauvage twice, Y three times")
	require.Equal(t, 5, members)

	rep, err := verify.Run(ctx, pool, options())
	require.NoError(t, err)
	require.True(t, rep.OK, "%v: %+v", failing(rep), byName(rep)["duplicate_match_keys"])
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }
