package health_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestHostRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host        string
		port        uint16
		pooler      string
		transaction bool
	}{
		{"pipeline.proxy-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com", 5432, "RDS Proxy", true},
		{"PIPELINE.PROXY-C1A2B3.US-EAST-1.RDS.AMAZONAWS.COM.", 5432, "RDS Proxy", true},
		{"pipeline-ro.proxy-c1a2b3.us-east-1.rds.amazonaws.com", 6432, "RDS Proxy", true},
		// The RDS instance or cluster itself is direct.
		{"catalog.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com", 5432, "", false},
		{"catalog.cluster-c1a2b3.eu-west-1.rds.amazonaws.com", 5432, "", false},
		// A look-alike outside AWS is not RDS Proxy.
		{"db.proxy-1.rds.amazonaws.com.example.org", 5432, "", false},
		{"aws-0-eu-central-1.pooler.supabase.com", 6543, "Supavisor", true},
		{"aws-0-eu-central-1.pooler.supabase.com", 5432, "Supavisor", false}, // session mode
		{"db.abcdefghijklmnop.supabase.co", 5432, "", false},                 // Supabase direct
		{"db.abcdefghijklmnop.supabase.co", 6543, "Supavisor", true},         // dedicated pooler
		{"10.0.3.17", 6543, "Supavisor", true},
		{"127.0.0.1", 6432, "", false}, // PgBouncer's usual port: only the server can tell
		{"/var/run/postgresql", 5432, "", false},
	} {
		got := health.HostRule(tc.host, tc.port)
		require.Equal(t, tc.pooler, got.Pooler, "%s:%d", tc.host, tc.port)
		require.Equal(t, tc.transaction, got.Transaction, "%s:%d", tc.host, tc.port)
		if tc.pooler != "" {
			require.NotEmpty(t, got.Detail)
		}
	}
}

// TestPoolingDetected checks the connection mode against real servers, in
// each declared mode: a plain PostgreSQL and PgBouncer in transaction
// mode. A mismatch is a warning (healthy, severity warn) naming what to set.
func TestPoolingDetected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		via      dbtest.Via
		mode     postgres.Pooling
		detected string
		warn     string
	}{
		{dbtest.Direct, postgres.PoolingDirect, health.DetectedDirect, ""},
		{dbtest.Direct, postgres.PoolingTransaction, health.DetectedDirect, "unset SCENTMATCH_DB_POOLING"},
		{dbtest.PgBouncer, postgres.PoolingDirect, health.DetectedTransaction, "set SCENTMATCH_DB_POOLING=transaction, and DATABASE_MIGRATION_URL"},
		{dbtest.PgBouncer, postgres.PoolingTransaction, health.DetectedTransaction, ""},
		// Two server connections handed out in turn: detected all the same.
		{dbtest.PgBouncerBusy, postgres.PoolingDirect, health.DetectedTransaction, "set SCENTMATCH_DB_POOLING=transaction"},
		{dbtest.PgBouncerBusy, postgres.PoolingTransaction, health.DetectedTransaction, ""},
	} {
		t.Run(string(tc.via)+"/"+string(tc.mode), func(t *testing.T) {
			t.Parallel()
			dbURL, _ := dbtest.URLVia(t, tc.via)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pool, err := app.Database{URL: dbURL, Pooling: tc.mode}.Connect(ctx, postgres.PoolOptions{MaxConns: 2})
			require.NoError(t, err)
			t.Cleanup(pool.Close)

			rep := health.Check(ctx, health.Inputs{Pool: pool, Only: []string{health.Database}})
			c := rep.Components[health.Database]
			t.Log(c.Detail)
			require.True(t, c.Healthy, c.Detail)
			require.True(t, rep.Healthy)
			require.NotNil(t, c.Pooling)
			require.Equal(t, tc.mode, c.Pooling.Mode, c.Detail)
			require.Equal(t, tc.detected, c.Pooling.Detected, c.Detail)
			require.Contains(t, c.Detail, "connection mode "+string(tc.mode))
			if tc.warn == "" {
				require.Empty(t, c.Severity, c.Detail)
				require.Empty(t, c.Pooling.Warning)
				require.NotContains(t, c.Detail, "WARNING")
			} else {
				require.Equal(t, health.SeverityWarn, c.Severity, c.Detail)
				require.Contains(t, c.Pooling.Warning, tc.warn)
				require.Contains(t, c.Detail, "WARNING: "+c.Pooling.Warning)
			}
			// The JSON report carries the same.
			b, err := json.Marshal(rep)
			require.NoError(t, err)
			var back struct {
				Components map[string]struct {
					Severity string         `json:"severity"`
					Pooling  health.Pooling `json:"pooling"`
				} `json:"components"`
			}
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, c.Severity, back.Components[health.Database].Severity)
			require.Equal(t, *c.Pooling, back.Components[health.Database].Pooling)
		})
	}
}
