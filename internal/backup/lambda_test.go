package backup_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/s3test"
)

func TestBackupFunction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := connect(t, dbtest.URL(t))
	_, err := pool.Exec(ctx, `INSERT INTO brands (name, match_key) VALUES ('Dior', 'dior')`)
	require.NoError(t, err)
	srv := s3test.New(t)
	h := &backup.Handler{
		Pool: func(context.Context) (*pgxpool.Pool, string, error) {
			return pool, "postgres://app:xxxxx@db/catalog", nil
		},
		S3:   srv.Client(),
		Root: "s3://scentmatch-dev-backups/backups/",
		Now:  func() time.Time { return time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC) },
	}
	invoke := func(file string) (backup.Result, error) {
		payload, err := os.ReadFile("../../events/" + file)
		require.NoError(t, err)
		raw, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
		if err != nil {
			return backup.Result{}, err
		}
		var res backup.Result
		require.NoError(t, json.Unmarshal(raw, &res))
		return res, nil
	}
	res, err := invoke("backup.json")
	require.NoError(t, err)
	require.Equal(t, "s3://scentmatch-dev-backups/backups/20260301T030000Z/", res.Location)
	require.Equal(t, int64(1), res.Rows)
	data, ok := srv.Object("scentmatch-dev-backups", "backups/20260301T030000Z/manifest.json")
	require.True(t, ok)
	var m backup.Manifest
	require.NoError(t, json.Unmarshal(data, &m))
	require.Equal(t, "postgres://app:xxxxx@db/catalog", m.Source)
	require.Equal(t, time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC), m.CreatedAt)

	res, err = invoke("backup-to.json")
	require.NoError(t, err)
	require.Equal(t, "s3://scentmatch-dev-backups/backups/manual-before-reimport/", res.Location)

	h.Root = ""
	_, err = invoke("backup.json")
	require.ErrorContains(t, err, "BACKUP_LOCATION")
}
