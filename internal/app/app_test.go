package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func envOf(vars map[string]string) *Env {
	return &Env{Getenv: func(k string) string { return vars[k] }, Logger: logging.Discard()}
}

// secretsManager answers GetSecretValue like the real service.
func secretsManager(t *testing.T, secrets map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "secretsmanager.GetSecretValue", r.Header.Get("X-Amz-Target"))
		var in struct{ SecretId string }
		body, _ := io.ReadAll(r.Body)
		require.NoError(t, json.Unmarshal(body, &in))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		s, ok := secrets[in.SecretId]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "db", "SecretString": s})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDatabaseFromSecretsManager goes through the real SDK client, pointed
// at a local endpoint by AWS_ENDPOINT_URL_SECRETS_MANAGER.
func TestDatabaseFromSecretsManager(t *testing.T) {
	dbURL := dbtest.URL(t)
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:scentmatch/db"
	const rdsARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds"
	srv := secretsManager(t, map[string]string{
		arn:    dbURL,
		rdsARN: `{"username":"app","password":"p@ss","host":"db.internal","port":5432,"dbname":"catalog","engine":"postgres"}`,
	})
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	ctx := context.Background()
	e := envOf(map[string]string{"DATABASE_SECRET_ARN": arn, "AWS_LAMBDA_FUNCTION_NAME": "scentmatch-dev-migrate"})
	pool, db, err := e.Connect(ctx, postgres.PoolOptions{MaxConns: 1})
	require.NoError(t, err)
	defer pool.Close()
	require.Nil(t, db.Local)
	require.Equal(t, dbURL, db.URL)

	db, err = envOf(map[string]string{"DATABASE_SECRET_ARN": rdsARN}).ResolveDatabase(ctx, false)
	require.NoError(t, err)
	require.Equal(t, "postgres://app:p%40ss@db.internal:5432/catalog?sslmode=require", db.URL)

	_, err = envOf(map[string]string{"DATABASE_SECRET_ARN": arn + "-missing"}).ResolveDatabase(ctx, false)
	require.ErrorContains(t, err, "ResourceNotFoundException")
}

func TestLambdaWithoutDatabaseIsAnError(t *testing.T) {
	t.Parallel()
	_, err := envOf(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "fn"}).ResolveDatabase(context.Background(), true)
	require.ErrorIs(t, err, postgres.ErrNoDatabaseConfigured)
}

func TestOpenRefusesSchemaBehindAndBadConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	_, err := envOf(map[string]string{"DATABASE_URL": dbtest.EmptyURL(t)}).Open(ctx, postgres.PoolOptions{})
	var behind *postgres.SchemaBehindError
	require.ErrorAs(t, err, &behind)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, settings.BrandsFile), []byte(`{"brands": "none"}`), 0o644))
	_, err = envOf(map[string]string{"DATABASE_URL": dbtest.URL(t), settings.EnvConfigDir: dir}).Open(ctx, postgres.PoolOptions{})
	var invalid *settings.InvalidError
	require.ErrorAs(t, err, &invalid)
	require.Contains(t, err.Error(), "$.brands")

	deps, err := envOf(map[string]string{"DATABASE_URL": dbtest.URL(t)}).Open(ctx, postgres.PoolOptions{})
	require.NoError(t, err)
	defer deps.Pool.Close()
	require.Equal(t, 20, deps.Config.Monitoring.Cycle.MaxFragrances)
}

func TestMissingConfigDirIsUsageError(t *testing.T) {
	t.Parallel()
	_, _, err := envOf(map[string]string{settings.EnvConfigDir: "/nonexistent/config"}).CheckConfig(context.Background())
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
}
