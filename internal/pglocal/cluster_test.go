package pglocal_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/pglocal"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func exec(t *testing.T, c *pglocal.Cluster, sql string) {
	t.Helper()
	conn, err := postgres.ConnectOne(context.Background(), c.URL("postgres"), postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql)
	require.NoError(t, err)
}

func TestStopRestartKeepsDataAndReuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := dbtest.NewCluster(t)
	require.True(t, c.Running())
	exec(t, c, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)")

	again, err := pglocal.Ensure(ctx, pglocal.Options{Home: c.Home()})
	require.NoError(t, err)
	require.Equal(t, c.Port, again.Port, "a running cluster is reused, not started twice")

	require.NoError(t, c.Stop(ctx))
	require.False(t, c.Running())
	require.NoError(t, c.Stop(ctx), "stopping a stopped cluster is fine")

	// Someone else takes the old port while we are stopped.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)))
	require.NoError(t, err)
	defer l.Close()

	restarted, err := pglocal.Ensure(ctx, pglocal.Options{Home: c.Home(), Ephemeral: true})
	require.NoError(t, err)
	require.NotEqual(t, c.Port, restarted.Port, "a taken port is replaced by a free one")
	conn, err := postgres.ConnectOne(ctx, restarted.URL("postgres"), postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT id FROM kept").Scan(&v))
	require.Equal(t, 42, v)

	// The state file holds the password: only its owner may read it.
	info, err := os.Stat(filepath.Join(c.Home(), "db", "cluster.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestDataDirectoryPlacement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A home with a very long path, under a 0700 directory (t.TempDir).
	private := t.TempDir()
	home := filepath.Join(private, strings.Repeat("a-rather-long-directory-name-", 5), "home")
	c, err := pglocal.Ensure(ctx, pglocal.Options{Home: home, Ephemeral: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Destroy(context.Background()) })

	require.Less(t, len(filepath.Join(c.SocketDir, ".s.PGSQL.65535")), 100, "socket path fits sun_path")
	if os.Geteuid() == 0 {
		require.Equal(t, "postgres", c.OSUser, "root hands the server to the postgres user")
		require.True(t, strings.HasPrefix(c.DataDir, "/tmp/scentmatch-pg-"), "the postgres user cannot reach a home under a 0700 directory: %s", c.DataDir)
	} else {
		require.True(t, strings.HasPrefix(c.DataDir, home), c.DataDir)
	}

	// A reachable home keeps its data inside.
	if os.Geteuid() == 0 {
		open := filepath.Join(private, "open")
		require.NoError(t, os.MkdirAll(open, 0o755))
		require.NoError(t, os.Chmod(private, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(private), 0o755))
		c2, err := pglocal.Ensure(ctx, pglocal.Options{Home: open, Ephemeral: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c2.Destroy(context.Background()) })
		require.Equal(t, filepath.Join(open, "db", "data"), c2.DataDir)
	}
}

func TestOpenWithoutClusterSaysSo(t *testing.T) {
	t.Parallel()
	_, err := pglocal.Open(t.TempDir(), nil)
	require.ErrorIs(t, err, pglocal.ErrNotInitialized)
}

func TestMissingServerMessageSaysWhatToDo(t *testing.T) {
	t.Parallel()
	err := &pglocal.ServerMissingError{Searched: []string{"/usr/lib/postgresql/*/bin"}}
	require.Contains(t, err.Error(), "apt-get install postgresql")
	require.Contains(t, err.Error(), "DATABASE_URL")
	require.Contains(t, err.Error(), pglocal.BinDirEnv)
}
