package control_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMonitoringFlag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)

	on, err := control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.True(t, on, "enabled until someone says otherwise")
	f, err := control.Monitoring(ctx, pool, false)
	require.NoError(t, err)
	require.Equal(t, control.Flag{Enabled: false}, f, "the caller's default when nothing is stored")

	require.NoError(t, control.SetMonitoringEnabled(ctx, pool, false, "alice"))
	f, err = control.Monitoring(ctx, pool, true)
	require.NoError(t, err)
	require.False(t, f.Enabled)
	require.True(t, f.Stored)
	require.Equal(t, "alice", f.UpdatedBy)
	require.NotNil(t, f.UpdatedAt)

	require.NoError(t, control.SetMonitoringEnabled(ctx, pool, true, "bob"))
	on, err = control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.True(t, on)

	// A bare boolean (written by hand with psql) reads too; garbage is an error.
	_, err = pool.Exec(ctx, `UPDATE pipeline_settings SET value = 'false' WHERE key = 'monitoring_enabled'`)
	require.NoError(t, err)
	on, err = control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.False(t, on)
	_, err = pool.Exec(ctx, `UPDATE pipeline_settings SET value = '"off"' WHERE key = 'monitoring_enabled'`)
	require.NoError(t, err)
	_, err = control.MonitoringEnabled(ctx, pool)
	require.ErrorContains(t, err, "monitoring_enabled")
}
