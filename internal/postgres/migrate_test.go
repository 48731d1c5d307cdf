package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func connect(t *testing.T, url string) *postgres.Migrator {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := postgres.NewMigrator(pool, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMigrationsApplyRevertAndReapply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyURL(t)
	m := connect(t, url)

	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()

	_, err = postgres.CheckSchema(ctx, pool)
	var behind *postgres.SchemaBehindError
	require.ErrorAs(t, err, &behind)
	require.Equal(t, int64(0), behind.Current)
	require.Contains(t, err.Error(), "scentmatch db migrate")

	res, err := m.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(0), res.From)
	require.Equal(t, m.TargetVersion(), res.To)
	require.NotEmpty(t, res.Applied)

	st, err := postgres.CheckSchema(ctx, pool)
	require.NoError(t, err)
	require.Zero(t, st.Pending)

	// Every table the pipeline needs exists, and pg_trgm is on.
	for _, table := range []string{"brands", "brand_aliases", "fragrances", "source_identities", "embeddings",
		"source_observations", "import_runs", "quarantined_records", "review_queue", "merge_log", "cycles", "notifications"} {
		var ok bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok))
		require.True(t, ok, table)
	}
	var trgm bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')").Scan(&trgm))
	require.True(t, trgm)

	// A second Up is a no-op.
	again, err := m.Up(ctx)
	require.NoError(t, err)
	require.Empty(t, again.Applied)

	// Reversible: all the way down, then up again.
	down, err := m.DownTo(ctx, 0)
	require.NoError(t, err)
	require.Len(t, down, len(res.Applied))
	var left int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'").Scan(&left))
	require.Zero(t, left)
	_, err = m.Up(ctx)
	require.NoError(t, err)
}

func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyURL(t)
	const n = 4
	errs := make(chan error, n)
	applied := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			m, err := postgres.NewMigrator(pool, nil)
			if err != nil {
				errs <- err
				return
			}
			defer m.Close()
			res, err := m.Up(ctx)
			errs <- err
			applied <- len(res.Applied)
		}()
	}
	total := 0
	for i := 0; i < n; i++ {
		require.NoError(t, <-errs)
		total += <-applied
	}
	m := connect(t, url)
	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, len(st.Migrations), total, "each migration applied exactly once")
}

func TestSchemaAheadIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	_, err := pool.Exec(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)")
	require.NoError(t, err)
	_, err = postgres.CheckSchema(ctx, pool)
	var ahead *postgres.SchemaAheadError
	require.True(t, errors.As(err, &ahead), "got %v", err)
}

func TestUnreachableDatabaseFailsFastWithMaskedURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := postgres.Connect(ctx, "postgres://app:s3cret@127.0.0.1:1/db?connect_timeout=1", postgres.PoolOptions{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
	require.Contains(t, err.Error(), "xxxxx")
	var ce *postgres.ConnectError
	require.ErrorAs(t, err, &ce)
	require.True(t, ce.Transient(), "a refused connection is transient: %v", err)
}

// TestUnencodedPasswordIsRefusedWithoutQuotingIt: a password with a raw
// '/' or '@' would otherwise be read partly as the host, port or database
// name, and pgx would quote those parts in its error.
func TestUnencodedPasswordIsRefusedWithoutQuotingIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, u := range []string{
		"postgres://app:12/Qz9vW@127.0.0.1:1/db",       // host "app", port 12, database "Qz9vW@..."
		"postgres://app:Kx7@Qz9vW/Lm4@127.0.0.1:1/db",  // host "Qz9vW", database "Lm4@..."
		"postgresql://app:Ab/Qz9vW+Ef=@127.0.0.1:1/db", // a base64 password
		"postgres://app:12#Qz9vW@127.0.0.1:1/db",       // a fragment
	} {
		_, err := postgres.Connect(ctx, u, postgres.PoolOptions{})
		require.Error(t, err, u)
		require.Contains(t, err.Error(), "connecting to postgres", u)
		require.Contains(t, err.Error(), ":xxxxx@127.0.0.1:1/db", u)
		require.Contains(t, err.Error(), "/ as %2F", u)
		require.NotContains(t, err.Error(), "Qz9vW", u)
		var ce *postgres.ConnectError
		require.ErrorAs(t, err, &ce)
		require.False(t, ce.Transient(), "retrying cannot fix the URL: %v", err)
	}
	// An '@' in the query is not part of the password: the URL is left to pgx.
	_, err := postgres.Connect(ctx, "postgres://app:s3cret@127.0.0.1:1/db?connect_timeout=1&application_name=me@x", postgres.PoolOptions{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "percent-encoded")
	require.NotContains(t, err.Error(), "s3cret")
}

func TestTransactionPoolingModeAndAuthFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := dbtest.URL(t)
	pool, err := postgres.Connect(ctx, u, postgres.PoolOptions{Pooling: postgres.PoolingTransaction})
	require.NoError(t, err)
	defer pool.Close()
	// The same statement twice on different connections works without
	// named prepared statements.
	for i := 0; i < 3; i++ {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT $1::int + 1`, i).Scan(&n))
		require.Equal(t, i+1, n)
	}

	bad, err := url.Parse(u)
	require.NoError(t, err)
	bad.User = url.UserPassword(bad.User.Username(), "rotated-away")
	_, err = postgres.Connect(ctx, bad.String(), postgres.PoolOptions{})
	require.Error(t, err)
	require.True(t, postgres.IsAuthFailure(err), "%v", err)
	require.NotContains(t, err.Error(), "rotated-away")
}

func TestEmbeddedVersionsMatchTheMigrator(t *testing.T) {
	t.Parallel()
	m := connect(t, dbtest.EmptyURL(t))
	versions := postgres.EmbeddedVersions()
	require.Equal(t, m.TargetVersion(), versions[len(versions)-1])
	st, err := m.Status(context.Background())
	require.NoError(t, err)
	require.Len(t, versions, len(st.Migrations))
	for i, ms := range st.Migrations {
		require.Equal(t, ms.Version, versions[i])
		require.True(t, m.HasVersion(ms.Version))
	}
	require.False(t, m.HasVersion(versions[len(versions)-1]+1000))

	// UpTo stops at the version asked for; Version reads it back.
	res, err := m.UpTo(context.Background(), versions[1])
	require.NoError(t, err)
	require.Equal(t, versions[1], res.To)
	v, err := m.Version(context.Background())
	require.NoError(t, err)
	require.Equal(t, versions[1], v)
}

// TestQuarantineMigrationsKeyAndJudgeOldRows: rows quarantined before
// migrations 00018 and 00019 get a record_hash (equal for equal stored
// copies) and are marked altered by the marks their stored copy carries;
// both migrations go down and up again.
func TestQuarantineMigrationsKeyAndJudgeOldRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyURL(t)
	m := connect(t, url)
	_, err := m.UpTo(ctx, 17)
	require.NoError(t, err)
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()
	var run int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO import_runs (kind) VALUES ('manual') RETURNING id`).Scan(&run))
	for i, record := range []string{
		`{"brand": "Acme", "name": "Fine", "year": "1400"}`,
		`{"name": "Fine", "year": "1400", "brand": "Acme"}`,
		`{"brand": "Acme", "name": "Sauv\ufffdage"}`,
		`{"brand": "Acme", "description": "xx…[truncated]"}`,
		`{"_excerpt": "{\"brand\": \"Acme\", \"name\": \"yyyy"}`,
	} {
		_, err := pool.Exec(ctx, `INSERT INTO quarantined_records (import_run_id, record_index, rule, reason, record) VALUES ($1, $2, 'r', 'r', $3::jsonb)`,
			run, i+1, record)
		require.NoError(t, err)
	}
	_, err = m.Up(ctx)
	require.NoError(t, err)

	var hashes []string
	var altered [][]string
	rows, err := pool.Query(ctx, `SELECT record_hash, altered FROM quarantined_records ORDER BY record_index`)
	require.NoError(t, err)
	for rows.Next() {
		var h string
		var a []string
		require.NoError(t, rows.Scan(&h, &a))
		hashes, altered = append(hashes, h), append(altered, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, hashes[0], hashes[1], "the same stored copy, whatever the key order it was written in")
	require.NotEqual(t, hashes[0], hashes[2])
	require.Equal(t, [][]string{{}, {}, {"invalid UTF-8 or NUL bytes replaced"}, {"text over 64 KiB truncated"}, {"too large: only an excerpt kept"}}, altered)

	_, err = m.DownTo(ctx, 17)
	require.NoError(t, err)
	var cols int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'quarantined_records' AND column_name IN ('record_hash', 'altered')`).Scan(&cols))
	require.Zero(t, cols)
	var kept int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM quarantined_records`).Scan(&kept))
	require.Equal(t, 5, kept, "going down keeps the rows")
	_, err = m.Up(ctx)
	require.NoError(t, err)
}
