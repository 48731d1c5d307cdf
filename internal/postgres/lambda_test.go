package postgres_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// TestMigrateFunctionEvents feeds the sample events to the handler at the
// JSON boundary, as Lambda would.
func TestMigrateFunctionEvents(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyURL(t)
	h := &postgres.MigrateHandler{
		Logger: logging.Discard(),
		Connect: func(ctx context.Context) (*pgxpool.Pool, error) {
			return postgres.Connect(ctx, url, postgres.PoolOptions{MaxConns: postgres.MigrationPoolConns})
		},
	}
	invoke := func(file string) postgres.MigrateOutput {
		payload, err := os.ReadFile("../../events/" + file)
		require.NoError(t, err)
		raw, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
		require.NoError(t, err)
		var out postgres.MigrateOutput
		require.NoError(t, json.Unmarshal(raw, &out))
		return out
	}

	before := invoke("migrate-status.json")
	require.Empty(t, before.Applied)
	require.Positive(t, before.Status.Pending)

	first := invoke("migrate.json")
	require.NotEmpty(t, first.Applied)
	require.Zero(t, first.Status.Pending)
	require.Equal(t, first.Status.Target, first.To)

	again := invoke("migrate.json")
	require.Empty(t, again.Applied, "a second deploy applies nothing")
}

func TestRequireTLS(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://u:p@db:5432/x?sslmode=require", postgres.RequireTLS("postgres://u:p@db:5432/x"))
	require.Equal(t, "postgres://u:p@db/x?sslmode=verify-full", postgres.RequireTLS("postgres://u:p@db/x?sslmode=verify-full"))
	require.Equal(t, "host=db user=u", postgres.RequireTLS("host=db user=u"), "a keyword/value DSN is left to say its own mode")
}
