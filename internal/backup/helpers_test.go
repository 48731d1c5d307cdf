package backup_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/mototest"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

// TestMain stops the tests' moto server (started on first use) as well.
func TestMain(m *testing.M) { dbtest.Main(m, mototest.Stop) }

func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), url, postgres.PoolOptions{MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// sliceOf writes the header and the first n data lines of a shared data file.
func sliceOf(t *testing.T, name string, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "slice.csv")
	require.NoError(t, shareddata.Head(name, n, path))
	return path
}

func importFile(t *testing.T, pool *pgxpool.Pool, path, source string, mapping map[string]string) *importer.Summary {
	t.Helper()
	cfg := settings.Default()
	e, err := embedding.FromConfig(cfg.Monitoring.Embedding)
	require.NoError(t, err)
	im := &importer.Importer{Pool: pool, Config: cfg, Logger: logging.Discard(), Embedder: e}
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{Map: mapping})
	require.NoError(t, err)
	defer r.Close()
	sum, err := im.Import(context.Background(), r, importer.Options{Source: source, EmbeddingTimeout: time.Minute})
	require.NoError(t, err)
	return sum
}

var (
	catalogMap = map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"}
	retailMap  = map[string]string{"name_1": "name", "category": "concentration", "top_note": "notes_top", "heart_note": "notes_middle",
		"base_note": "notes_base", "customer_rating": "rating", "review_count": "votes"}
)

// buildCatalog imports the first n records of the real 37k catalog and the
// retail listing (merges, reviews), embeds them, and adds a cycle, a
// notification and an observation, so that every kind of row is there.
func buildCatalog(t *testing.T, pool *pgxpool.Pool, n int, withRetail bool) {
	t.Helper()
	sum := importFile(t, pool, sliceOf(t, "catalog-37k.csv.gz", n), "catalog37k", catalogMap)
	require.Positive(t, sum.Counts[importer.OutcomeInserted])
	if withRetail {
		retail, err := shareddata.Path("retail-3k.csv")
		require.NoError(t, err)
		importFile(t, pool, retail, "retail3k", retailMap)
	}
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO cycles (id, trigger, status, finished_at, step_results, kpis, health_score)
		VALUES ('schedule-20260301T0200', 'schedule', 'succeeded', now(), '{"detect": {"candidate_count": 2}}', '{"x": {"value": 1}}', 97.5);
		INSERT INTO notifications (cycle_id, kind, dedupe_key, recipients, subject, status)
		VALUES ('schedule-20260301T0200', 'weekly_report', 'weekly:schedule-20260301T0200', '{ops@example.com}', 'Weekly report: "ok"', 'sent');
		INSERT INTO source_observations (source, source_id, observed_at, cycle_id, brand, name, rank, payload)
		VALUES ('catalog37k', 'o.37691.jpg', now(), 'schedule-20260301T0200', '18 21 Man Made', E'Sweet\tTobacco\nSpirits \\ x', 1, '{"a": [1, 2]}');
		INSERT INTO pipeline_settings (key, value) VALUES ('note', '"restored from backup"')`)
	require.NoError(t, err)
}

// tableDigest is a table's row count and a hash of its content.
type tableDigest struct {
	Rows int64
	MD5  string
}

// digest hashes every table of the public schema (goose's aside).
func digest(t *testing.T, pool *pgxpool.Pool) map[string]tableDigest {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sort.Strings(names)
	out := map[string]tableDigest{}
	for _, n := range names {
		var d tableDigest
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM `+
			pgx.Identifier{"public", n}.Sanitize()+` t`).Scan(&d.Rows, &d.MD5))
		out[n] = d
	}
	return out
}

func schemaVersionOf(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var exists bool
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT to_regclass('public.goose_db_version') IS NOT NULL`).Scan(&exists))
	if !exists {
		return -1
	}
	var v int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(max(version_id), 0) FROM goose_db_version`).Scan(&v))
	return v
}
