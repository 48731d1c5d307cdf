package faultinject_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/pglocal"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/steps"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// serverFault breaks the server while the import's backend (pid) waits
// inside its batch transaction, and returns once the server accepts
// connections again.
type serverFault func(ctx context.Context, c *pglocal.Cluster, pid int) error

// fastRestart is pg_ctl stop -m fast, then start: every session is sent
// 57P01 "terminating connection due to administrator command".
func fastRestart(ctx context.Context, c *pglocal.Cluster, _ int) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	again, err := pglocal.Ensure(ctx, pglocal.Options{Home: c.Home(), Ephemeral: true})
	if err != nil {
		return err
	}
	if again.Port != c.Port {
		return fmt.Errorf("the cluster came back on port %d, not %d", again.Port, c.Port)
	}
	return nil
}

// backendCrash kills the import's backend with SIGKILL: the postmaster
// then ends every other session, recovers and accepts connections again
// (restart_after_crash), as after a crash of the server.
func backendCrash(ctx context.Context, c *pglocal.Cluster, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing backend %d: %w", pid, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		time.Sleep(200 * time.Millisecond)
		conn, err := postgres.ConnectOne(ctx, c.URL("postgres"), postgres.PoolOptions{})
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			conn.Close(ctx)
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not come back after the crash: %w", err)
		}
	}
}

// holdCatalog locks the tables the import's batch reads, in a transaction
// of its own (as a long-running statement of another session would), and
// returns the pid of the first backend that waits on it.
func holdCatalog(ctx context.Context, url string) (release func(), waiter int, err error) {
	holder, err := postgres.ConnectOne(ctx, url, postgres.PoolOptions{})
	if err != nil {
		return nil, 0, err
	}
	release = func() { _ = holder.Close(context.Background()) }
	if _, err := holder.Exec(ctx, `BEGIN; LOCK TABLE source_identities, fragrances IN ACCESS EXCLUSIVE MODE`); err != nil {
		release()
		return nil, 0, err
	}
	watch, err := postgres.ConnectOne(ctx, url, postgres.PoolOptions{})
	if err != nil {
		release()
		return nil, 0, err
	}
	defer watch.Close(context.Background())
	deadline := time.Now().Add(time.Minute)
	for {
		err := watch.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1`).Scan(&waiter)
		if err == nil {
			return release, waiter, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) || time.Now().After(deadline) {
			release()
			return nil, 0, fmt.Errorf("waiting for the import to block: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostgresRestartMidCycle breaks a throwaway cluster while the
// cycle's Import step is inside its batch transaction: the step fails
// with *cycle.TransientError, the executor's Retry runs it again on the
// restarted server, and the catalog holds the cycle's new fragrances
// exactly once.
func TestPostgresRestartMidCycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault serverFault
	}{
		{"fast restart", fastRestart},
		{"backend crash", backendCrash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cluster := dbtest.NewCluster(t)
			require.NoError(t, cluster.EnsureDatabase(ctx, "catalog"))
			url := cluster.URL("catalog")
			migrate(t, url)

			p := newPipeline(t, url, tempHome(t), nil)
			fns := p.steps.Functions()
			real := fns[definitions.ImportFunction]
			var calls atomic.Int32
			var firstErr, faultErr error
			fns[definitions.ImportFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
				if calls.Add(1) > 1 {
					return real(ctx, in)
				}
				done := make(chan error, 1)
				go func() {
					release, pid, err := holdCatalog(ctx, url)
					if err != nil {
						done <- err
						return
					}
					defer release()
					done <- tc.fault(ctx, cluster, pid)
				}()
				out, err := real(ctx, in)
				faultErr, firstErr = <-done, err
				return out, err
			}
			start := time.Now()
			sum, err := p.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0200", MaxFragrances: 10, Options: p.options(), Functions: fns})
			require.NoError(t, err)
			require.NoError(t, faultErr)

			require.Error(t, firstErr, "the Import attempt under the fault failed")
			require.IsType(t, &cycle.TransientError{}, firstErr, "the failed attempt's type is the one the Retry names: %v", firstErr)
			require.True(t, postgres.IsTransient(errors.Unwrap(firstErr)) || errors.Is(firstErr, context.DeadlineExceeded), "%v", firstErr)
			require.Contains(t, p.retried(), "Import: TransientError")
			require.Equal(t, "succeeded", sum.Outcome, "%+v", sum)
			require.Positive(t, sum.NewFragrancesImported)

			db := connect(t, url)
			require.Equal(t, sum.NewFragrancesImported, scalar(t, db, `SELECT count(*) FROM fragrances`), "nothing lost, nothing doubled")
			require.Equal(t, sum.NewFragrancesImported, scalar(t, db, `SELECT count(DISTINCT match_key) FROM fragrances`), "no duplicate match keys")
			require.Equal(t, sum.NewFragrancesImported, scalar(t, db, `SELECT count(*) FROM fragrances WHERE created_cycle_id = $1`, sum.CycleID))
			require.Equal(t, 1, scalar(t, db, `SELECT count(*) FROM import_runs WHERE cycle_id = $1 AND status = 'succeeded'`, sum.CycleID))
			requireIntegrity(t, db)
			t.Logf("%s: first attempt %T (%v); retries %v; %d new fragrances; cycle %s",
				tc.name, firstErr, firstErr, p.retried(), sum.NewFragrancesImported, time.Since(start).Round(time.Millisecond))
		})
	}
}

// migrate brings a throwaway cluster's database to the current schema.
func migrate(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	m, err := postgres.NewMigrator(pool, nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Up(ctx)
	require.NoError(t, err)
}
