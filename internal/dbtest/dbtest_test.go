package dbtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// TestDatabasesAreIsolated shows two tests never see each other's rows.
func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := Pool(t), Pool(t)
	_, err := a.Exec(ctx, "INSERT INTO pipeline_settings (key, value) VALUES ('only-in-a', 'true')")
	require.NoError(t, err)
	var n int
	require.NoError(t, b.QueryRow(ctx, "SELECT count(*) FROM pipeline_settings").Scan(&n))
	require.Zero(t, n)
	require.NoError(t, a.QueryRow(ctx, "SELECT count(*) FROM pipeline_settings").Scan(&n))
	require.Equal(t, 1, n)
}
