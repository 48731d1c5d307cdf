package control_test

import (
	"context"
	"testing"
	"time"

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
	require.True(t, on, "no row means enabled")
	_, ok, err := control.LastChange(ctx, pool)
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, control.SetMonitoringEnabled(ctx, pool, false, "alice", "bad import"))
	on, err = control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.False(t, on)
	stop, err := control.StopRequested(ctx, pool)
	require.NoError(t, err)
	require.True(t, stop)
	ch, ok, err := control.LastChange(ctx, pool)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "alice", ch.By)
	require.Equal(t, "bad import", ch.Reason)
	require.False(t, ch.Enabled)
	require.WithinDuration(t, time.Now(), ch.At, time.Hour)

	// The stored value is a plain JSON boolean, readable by anyone.
	var raw string
	require.NoError(t, pool.QueryRow(ctx, `SELECT value::text FROM pipeline_settings WHERE key = 'monitoring_enabled'`).Scan(&raw))
	require.Equal(t, "false", raw)

	require.NoError(t, control.SetMonitoringEnabled(ctx, pool, true, "bob", ""))
	stop, err = control.StopRequested(ctx, pool)
	require.NoError(t, err)
	require.False(t, stop)

	// An object with "enabled" is read too; anything else is an error naming the key.
	_, err = pool.Exec(ctx, `UPDATE pipeline_settings SET value = '{"enabled": false}' WHERE key = 'monitoring_enabled'`)
	require.NoError(t, err)
	on, err = control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.False(t, on)
	_, err = pool.Exec(ctx, `UPDATE pipeline_settings SET value = '"yes"' WHERE key = 'monitoring_enabled'`)
	require.NoError(t, err)
	_, err = control.MonitoringEnabled(ctx, pool)
	require.ErrorContains(t, err, "monitoring_enabled")
}

func TestLocalStopMarksTheRunningCycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	_, err := pool.Exec(ctx, `INSERT INTO cycles (id, trigger, status) VALUES ('manual-20260301T0200', 'manual', 'succeeded'), ('schedule-20260308T0200', 'schedule', 'running')`)
	require.NoError(t, err)

	op := &control.Operator{DB: pool, By: "ops"}
	r := op.Stop(ctx, "drill")
	require.True(t, r.OK(), "%+v", r)
	require.False(t, r.MonitoringEnabled)
	require.True(t, r.Flag.Changed)
	require.Equal(t, "schedule-20260308T0200", r.RunningCycle)
	require.Nil(t, r.Schedule, "no schedule configured locally")
	stop, err := control.StopRequested(ctx, pool)
	require.NoError(t, err)
	require.True(t, stop, "the running cycle sees the request between states")

	again := op.Stop(ctx, "drill")
	require.False(t, again.Flag.Changed, "stopping twice changes nothing")

	r = op.Start(ctx, "")
	require.True(t, r.OK())
	require.True(t, r.Flag.Changed)
	on, err := control.MonitoringEnabled(ctx, pool)
	require.NoError(t, err)
	require.True(t, on)
}

func TestOperatorWithoutDatabaseStillReports(t *testing.T) {
	t.Parallel()
	op := &control.Operator{By: "ops"}
	r := op.Stop(context.Background(), "")
	require.False(t, r.OK())
	require.Contains(t, r.Flag.Error, "unreachable")
}

func TestMonitoringFlagForStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)

	f, err := control.Monitoring(ctx, pool, false)
	require.NoError(t, err)
	require.Equal(t, control.Flag{Enabled: false}, f, "the caller's default when nothing is stored")

	require.NoError(t, control.SetMonitoringEnabled(ctx, pool, false, "alice", "incident 42"))
	f, err = control.Monitoring(ctx, pool, true)
	require.NoError(t, err)
	require.False(t, f.Enabled)
	require.True(t, f.Stored)
	require.Equal(t, "alice", f.UpdatedBy)
	require.Equal(t, "incident 42", f.Reason)
	require.NotNil(t, f.UpdatedAt)
}
