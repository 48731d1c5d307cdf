// Package dbtest is the one place tests get a real PostgreSQL from.
//
// Tests share one server: SCENTMATCH_TEST_DATABASE_URL when set (a URL with
// the right to create databases), else the embedded cluster of a test home
// ($SCENTMATCH_TEST_HOME, default /tmp/scentmatch-test-<uid>), started on
// first use and reused by every test process. Each test gets a database of
// its own, cloned from a template migrated once per schema, so packages run
// in parallel without seeing each other's rows. A package's TestMain calls
// Main, which stops the shared cluster when the last test process using it
// finishes. Tests that stop or restart PostgreSQL use NewCluster instead.
package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/pgbouncer"
	"github.com/scentmatch/pipeline/internal/pglocal"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
)

// Environment variables the helper reads.
const (
	EnvURL  = "SCENTMATCH_TEST_DATABASE_URL"
	EnvHome = "SCENTMATCH_TEST_HOME"
)

var (
	setupOnce sync.Once
	setupErr  error
	adminURL  string
	tmplName  string
	usersLock *os.File
	cluster   *pglocal.Cluster
	dbCounter atomic.Int64
)

// Main runs m, then each of after (such as mototest.Stop) and, when this
// process was the last user of the shared embedded cluster, stops it.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	release()
	os.Exit(code)
}

// TestHome returns the home directory of the shared test cluster.
func TestHome() string {
	if dir := os.Getenv(EnvHome); dir != "" {
		abs, err := filepath.Abs(dir)
		if err == nil {
			return abs
		}
	}
	return filepath.Join(os.TempDir(), "scentmatch-test-"+strconv.Itoa(os.Getuid()))
}

func setup() error {
	setupOnce.Do(func() { setupErr = doSetup() })
	return setupErr
}

func doSetup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		adminURL = u
	} else {
		home := TestHome()
		if err := os.MkdirAll(filepath.Join(home, "db"), 0o755); err != nil {
			return fmt.Errorf("creating test home: %w", err)
		}
		// A shared lock for as long as this process may use the cluster:
		// release() stops the cluster only when it can take it exclusively.
		f, err := os.OpenFile(filepath.Join(home, "db", "users.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return fmt.Errorf("opening test users lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
			f.Close()
			return fmt.Errorf("locking test users lock: %w", err)
		}
		usersLock = f
		c, err := pglocal.Ensure(ctx, pglocal.Options{Home: home, Ephemeral: true})
		if err != nil {
			return fmt.Errorf("starting the test database cluster in %s: %w", home, err)
		}
		cluster = c
		adminURL = c.URL("postgres")
	}
	name, err := ensureTemplate(ctx)
	if err != nil {
		return err
	}
	tmplName = name
	return nil
}

// release gives up this process's use of the shared cluster and stops the
// cluster when no other process is using it.
func release() {
	if usersLock == nil {
		return
	}
	fd := int(usersLock.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err == nil && cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: stopping the test cluster: %v\n", err)
		}
	}
	_ = syscall.Flock(fd, syscall.LOCK_UN)
	usersLock.Close()
	usersLock = nil
}

// schemaHash names the template after the migrations it holds, so a
// changed migration gets a fresh template.
func schemaHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(postgres.MigrationsFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(postgres.MigrationsFS(), path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(data)
		return nil
	})
	// Go migrations have no file to hash: their revision stands in.
	fmt.Fprintf(h, "go-migrations:%s", postgres.GoMigrationsRevision)
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

func ensureTemplate(ctx context.Context) (string, error) {
	hash, err := schemaHash()
	if err != nil {
		return "", fmt.Errorf("hashing migrations: %w", err)
	}
	name := "scentmatch_tmpl_" + hash
	conn, err := postgres.ConnectOne(ctx, adminURL, postgres.PoolOptions{})
	if err != nil {
		return "", fmt.Errorf("connecting to the test server %s: %w", redact.URL(adminURL), err)
	}
	defer conn.Close(context.Background())
	// One process builds the template; the others wait and reuse it.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7205001)"); err != nil {
		return "", fmt.Errorf("locking template creation: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7205001)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("looking up template: %w", err)
	}
	if exists {
		return name, nil
	}
	build := name + "_build"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{build}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("dropping half-built template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{build}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating template: %w", err)
	}
	if err := migrate(ctx, withDB(adminURL, build)); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{build}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("publishing template: %w", err)
	}
	return name, nil
}

func migrate(ctx context.Context, dbURL string) error {
	pool, err := postgres.Connect(ctx, dbURL, postgres.PoolOptions{MaxConns: postgres.MigrationPoolConns})
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := postgres.NewMigrator(pool, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer m.Close()
	if _, err := m.Up(ctx); err != nil {
		return fmt.Errorf("migrating template: %w", err)
	}
	return nil
}

func withDB(u, db string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		panic(fmt.Sprintf("dbtest: bad admin URL: %v", err))
	}
	parsed.Path = "/" + db
	return parsed.String()
}

// URL returns the URL of a new database for t alone, migrated to the
// current schema and dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyURL returns the URL of a new, unmigrated database for t alone.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

// Pool returns a pool on a new migrated database for t alone.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Connect(ctx, u, postgres.PoolOptions{MaxConns: 8})
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// AdminURL returns the URL of the shared test server's maintenance database.
func AdminURL(t testing.TB) string {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return adminURL
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := postgres.ConnectOne(ctx, adminURL, postgres.PoolOptions{})
	if err != nil {
		t.Fatalf("dbtest: connecting to %s: %v", redact.URL(adminURL), err)
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, dbCounter.Add(1))
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if migrated {
		stmt += " TEMPLATE " + pgx.Identifier{tmplName}.Sanitize()
	}
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		// 55006: another session is still connected to the template.
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < 50 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		t.Fatalf("dbtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := postgres.ConnectOne(ctx, adminURL, postgres.PoolOptions{})
		if err != nil {
			t.Logf("dbtest: dropping %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dbtest: dropping %s: %v", name, err)
		}
	})
	return withDB(adminURL, name)
}

// NewCluster starts a throwaway cluster of t's own, for tests that stop,
// restart or break PostgreSQL. It is destroyed when t ends.
func NewCluster(t testing.TB) *pglocal.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Ensure(ctx, pglocal.Options{Home: t.TempDir(), Ephemeral: true})
	if err != nil {
		t.Fatalf("dbtest: starting a throwaway cluster: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Destroy(ctx); err != nil {
			t.Logf("dbtest: destroying throwaway cluster: %v", err)
		}
	})
	return c
}

// Via is how a test reaches its database.
type Via string

const (
	// Direct connects to the test server itself.
	Direct Via = "direct"
	// PgBouncer goes through PgBouncer in transaction mode
	// (max_prepared_statements unset, as Debian's 1.18 ships it).
	PgBouncer Via = "pgbouncer"
	// PgBouncerBusy goes through PgBouncer in transaction mode with a pool
	// of two server connections handed out in turn: a client's consecutive
	// statements outside a transaction always run on different server
	// connections, so any session state between them breaks.
	PgBouncerBusy Via = "pgbouncer-busy"
)

// URLVia returns a new migrated database for t alone, reached as via says:
// the URL to use, and the direct URL of the same database (for migrations
// and for checks that must not go through the pooler). PgBouncer is
// started for t and stopped when t ends.
func URLVia(t testing.TB, via Via) (databaseURL, directURL string) {
	t.Helper()
	directURL = URL(t)
	if via == Direct || via == "" {
		return directURL, directURL
	}
	srv := StartPgBouncer(t, via)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if via == PgBouncerBusy {
		if err := srv.Warm(ctx, directURL); err != nil {
			t.Fatalf("dbtest: %v", err)
		}
	}
	return srv.PooledURL(directURL), directURL
}

// StartPgBouncer starts PgBouncer in transaction mode in front of the
// shared test server for t (PgBouncer or PgBouncerBusy), stopped when t
// ends. Its PooledURL maps any test database URL through it.
func StartPgBouncer(t testing.TB, via Via) *pgbouncer.Server {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	opts := pgbouncer.Options{UpstreamURL: adminURL, Dir: t.TempDir(), PoolSize: 10}
	if via == PgBouncerBusy {
		opts.PoolSize, opts.RoundRobin = 2, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := pgbouncer.Start(ctx, opts)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}
