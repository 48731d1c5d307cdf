package status_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/statemachine"
	"github.com/scentmatch/pipeline/internal/status"
)

// statusFunction is the status function as functions/status wires it
// (event.Strict around the handler, the pool opened by the reporter),
// over pool.
func statusFunction(pool func(ctx context.Context) (*pgxpool.Pool, error)) lambda.Handler {
	h := &status.Handler{
		Reporter: func(ctx context.Context) (*status.Reporter, error) {
			p, err := pool(ctx)
			if err != nil {
				return nil, err
			}
			return &status.Reporter{Pool: p, Config: settings.Default(), Now: func() time.Time { return now }}, nil
		},
		HealthInputs: func(context.Context) health.Inputs { return health.Inputs{} },
	}
	return lambda.NewHandler(event.Strict(h.Handle))
}

// errorType invokes fn as the Lambda runtime does and returns the
// errorType it would report (the Go type name of the returned error).
func errorType(t *testing.T, fn lambda.Handler) (string, error) {
	t.Helper()
	_, err := fn.Invoke(context.Background(), []byte(`{}`))
	if err == nil {
		return "", nil
	}
	return statemachine.ErrorName(err), err
}

func connect(t *testing.T, u string, pooling postgres.Pooling) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), u, postgres.PoolOptions{MaxConns: 1, Pooling: pooling})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestTransientFailuresReachStepFunctionsTyped produces for real the
// failures a retry cures and checks the errorType the Lambda runtime
// reports for them: TransientError, the name the state machines' Retry
// matches, never wrapError.
func TestTransientFailuresReachStepFunctionsTyped(t *testing.T) {
	t.Parallel()

	t.Run("PgBouncer killed, then restarted", func(t *testing.T) {
		t.Parallel()
		srv := dbtest.StartPgBouncer(t, dbtest.PgBouncer)
		pool := connect(t, srv.PooledURL(dbtest.URL(t)), postgres.PoolingTransaction)
		fn := statusFunction(func(context.Context) (*pgxpool.Pool, error) { return pool, nil })
		name, err := errorType(t, fn)
		require.NoError(t, err, "through the pooler before the fault")
		require.Empty(t, name)

		srv.Kill()
		name, err = errorType(t, fn)
		require.Equal(t, "TransientError", name, "%v", err)

		require.NoError(t, srv.Restart(context.Background()))
		name, err = errorType(t, fn)
		require.NoError(t, err, "the retry after the pooler restarted succeeds")
		require.Empty(t, name)
	})

	t.Run("backend terminated (57P01)", func(t *testing.T) {
		t.Parallel()
		pool := connect(t, dbtest.URL(t), postgres.PoolingDirect)
		admin := dbtest.Pool(t)
		fn := statusFunction(func(ctx context.Context) (*pgxpool.Pool, error) {
			// The pool's one connection is terminated just before the
			// handler uses it (within pgxpool's 1s no-ping window).
			var pid int
			if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return nil, err
			}
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil {
				return nil, fmt.Errorf("terminating: %w", err)
			}
			return pool, nil
		})
		name, err := errorType(t, fn)
		require.Equal(t, "TransientError", name, "%v", err)
	})

	t.Run("too many connections (53300)", func(t *testing.T) {
		t.Parallel()
		direct := dbtest.URL(t)
		admin := dbtest.Pool(t)
		ctx := context.Background()
		role := fmt.Sprintf("limited_%d", time.Now().UnixNano())
		_, err := admin.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD 'limited' CONNECTION LIMIT 0`, role))
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP ROLE IF EXISTS `+role) })
		u, err := url.Parse(direct)
		require.NoError(t, err)
		u.User = url.UserPassword(role, "limited")
		fn := statusFunction(func(ctx context.Context) (*pgxpool.Pool, error) {
			return postgres.Connect(ctx, u.String(), postgres.PoolOptions{MaxConns: 1})
		})
		name, err := errorType(t, fn)
		require.Equal(t, "TransientError", name, "%v", err)
		require.True(t, strings.Contains(err.Error(), "53300"), "%v", err)
	})

	t.Run("a rejected password is not retried", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(dbtest.URL(t))
		require.NoError(t, err)
		u.User = url.UserPassword(u.User.Username(), "wrong")
		fn := statusFunction(func(ctx context.Context) (*pgxpool.Pool, error) {
			return postgres.Connect(ctx, u.String(), postgres.PoolOptions{MaxConns: 1})
		})
		name, err := errorType(t, fn)
		require.Error(t, err)
		require.Equal(t, "ConnectError", name, "%v", err)
	})
}
