package cli

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
)

// TestHealthReportsThePoolingMode runs `health` through PgBouncer in
// transaction mode: declared direct, the database component warns (exit 0,
// WARN in the text, severity in the JSON) and says what to set; declared
// transaction, every component is healthy with no warning.
func TestHealthReportsThePoolingMode(t *testing.T) {
	t.Parallel()
	pooled, _ := dbtest.URLVia(t, dbtest.PgBouncer)
	u, err := url.Parse(pooled)
	require.NoError(t, err)
	password, _ := u.User.Password()
	require.NotEmpty(t, password)

	type poolingJSON struct {
		Components map[string]struct {
			Healthy  bool   `json:"healthy"`
			Severity string `json:"severity"`
			Detail   string `json:"detail"`
			Pooling  *struct {
				Mode     string   `json:"mode"`
				Detected string   `json:"detected"`
				Signals  []string `json:"signals"`
				Warning  string   `json:"warning"`
			} `json:"pooling"`
		} `json:"components"`
	}

	direct := map[string]string{"DATABASE_URL": pooled}
	r := run(t, direct, "health", "--component", "database", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr+r.stdout)
	require.NotContains(t, r.stdout+r.stderr, password)
	db := decode[poolingJSON](t, r.stdout).Components["database"]
	require.True(t, db.Healthy, db.Detail)
	require.Equal(t, "warn", db.Severity)
	require.NotNil(t, db.Pooling)
	require.Equal(t, "direct", db.Pooling.Mode)
	require.Equal(t, "transaction", db.Pooling.Detected)
	require.Contains(t, db.Pooling.Warning, "SCENTMATCH_DB_POOLING=transaction")
	require.Contains(t, db.Pooling.Warning, "DATABASE_MIGRATION_URL")
	require.Contains(t, db.Detail, db.Pooling.Warning)

	r = run(t, direct, "health", "--component", "database")
	require.Equal(t, ExitOK, r.code, r.stderr+r.stdout)
	require.Regexp(t, `database\s+WARN\s+.*connection mode direct, detected transaction; WARNING: .*SCENTMATCH_DB_POOLING=transaction`, r.stdout)
	require.NotContains(t, r.stdout+r.stderr, password)

	pooledEnv := map[string]string{"DATABASE_URL": pooled, "SCENTMATCH_DB_POOLING": "transaction"}
	r = run(t, pooledEnv, "health", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr+r.stdout)
	db = decode[poolingJSON](t, r.stdout).Components["database"]
	require.True(t, db.Healthy, db.Detail)
	require.Empty(t, db.Severity, db.Detail)
	require.Equal(t, "transaction", db.Pooling.Mode)
	require.Equal(t, "transaction", db.Pooling.Detected)
	require.Empty(t, db.Pooling.Warning)
	require.NotContains(t, r.stdout+r.stderr, password)

	r = run(t, pooledEnv, "health", "--component", "database")
	require.Equal(t, ExitOK, r.code, r.stderr+r.stdout)
	require.Regexp(t, `database\s+ok\s+.*connection mode transaction, detected transaction \(`, r.stdout)
	require.NotContains(t, r.stdout, "WARN")
}
