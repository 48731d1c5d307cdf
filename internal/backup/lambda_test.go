package backup_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/mototest"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestBackupFunction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := connect(t, dbtest.URL(t))
	_, err := pool.Exec(ctx, `INSERT INTO brands (name, match_key) VALUES ('Dior', 'dior')`)
	require.NoError(t, err)
	// The sample events name scentmatch-dev-backups; this test's bucket
	// stands in for it.
	client, bkt := mototest.S3(t), mototest.Bucket(t)
	h := &backup.Handler{
		Pool: func(context.Context) (*pgxpool.Pool, string, error) {
			return pool, "postgres://app:xxxxx@db/catalog", nil
		},
		S3:   client,
		Root: "s3://" + bkt + "/backups/",
		Now:  func() time.Time { return time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC) },
	}
	invoke := func(file string) (backup.Result, error) {
		payload, err := os.ReadFile("../../events/" + file)
		require.NoError(t, err)
		payload = []byte(strings.ReplaceAll(string(payload), "scentmatch-dev-backups", bkt))
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
	require.Equal(t, "s3://"+bkt+"/backups/20260301T030000Z/", res.Location)
	require.Equal(t, int64(1), res.Rows)
	data, ok := objectOf(t, client, bkt, "backups/20260301T030000Z/manifest.json")
	require.True(t, ok)
	var m backup.Manifest
	require.NoError(t, json.Unmarshal(data, &m))
	require.Equal(t, "postgres://app:xxxxx@db/catalog", m.Source)
	require.Equal(t, time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC), m.CreatedAt)

	res, err = invoke("backup-to.json")
	require.NoError(t, err)
	require.Equal(t, "s3://"+bkt+"/backups/manual-before-reimport/", res.Location)

	h.Root = ""
	_, err = invoke("backup.json")
	require.ErrorContains(t, err, "BACKUP_LOCATION")
}

// TestBackupsPastRetentionArePruned: after a backup to the root, only the
// newest Keep timestamped backups stay, in a directory and in S3; a backup
// named by hand and an incomplete one (no manifest) are never deleted.
func TestBackupsPastRetentionArePruned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := connect(t, dbtest.URL(t))
	client, bkt := mototest.S3(t), mototest.Bucket(t)
	dir := t.TempDir()
	for name, root := range map[string]string{"s3": "s3://" + bkt + "/backups/", "directory": dir} {
		t.Run(name, func(t *testing.T) {
			// The other kinds of backup under the root.
			if root == dir {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "manual-before-reimport"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "manual-before-reimport", backup.ManifestFile), []byte("{}"), 0o644))
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "20260101T030000Z"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "20260101T030000Z", "brands.copy.gz"), []byte("partial"), 0o644))
			} else {
				putObject(t, client, bkt, "backups/manual-before-reimport/"+backup.ManifestFile, []byte("{}"))
				putObject(t, client, bkt, "backups/20260101T030000Z/brands.copy.gz", []byte("partial"))
			}
			var now time.Time
			h := &backup.Handler{
				Pool: func(context.Context) (*pgxpool.Pool, string, error) {
					return pool, "postgres://app:xxxxx@db/catalog", nil
				},
				S3: client, Root: root, Now: func() time.Time { return now },
				Keep: func(context.Context) (int, error) { return 2, nil },
			}
			var pruned [][]string
			for month := time.February; month <= time.May; month++ {
				now = time.Date(2026, month, 1, 3, 0, 0, 0, time.UTC)
				res, err := h.Handle(ctx, backup.Event{})
				require.NoError(t, err)
				pruned = append(pruned, res.Pruned)
			}
			// A backup with its own location prunes nothing.
			res, err := h.Handle(ctx, backup.Event{To: backup.Join(root, "manual-20260502")})
			require.NoError(t, err)
			pruned = append(pruned, res.Pruned)
			require.Equal(t, [][]string{nil, nil, {backup.Join(root, "20260201T030000Z")}, {backup.Join(root, "20260301T030000Z")}, nil}, pruned)

			left := map[string]bool{}
			if root == dir {
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				for _, e := range entries {
					left[e.Name()] = true
				}
			} else {
				for _, k := range keysOf(t, client, bkt) {
					name, _, _ := strings.Cut(strings.TrimPrefix(k, "backups/"), "/")
					left[name] = true
				}
			}
			require.Equal(t, map[string]bool{"manual-before-reimport": true, "manual-20260502": true, "20260101T030000Z": true,
				"20260401T030000Z": true, "20260501T030000Z": true}, left)
			// What is left restores: the newest backup's files all check.
			store, err := backup.OpenStore(backup.Join(root, "20260501T030000Z"), client)
			require.NoError(t, err)
			_, files, err := backup.Check(ctx, store, postgres.EmbeddedVersions())
			require.NoError(t, err)
			require.NotEmpty(t, files)
		})
	}
}
