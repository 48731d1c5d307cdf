package backup_test

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/mototest"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
)

// TestBackupAndRestore backs up a catalog built from real data once, and
// restores it, intact and damaged, into other databases.
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL := dbtest.URL(t)
	src := connect(t, srcURL)
	buildCatalog(t, src, 3000, true)
	want := digest(t, src)
	for _, table := range []string{"brands", "fragrances", "source_identities", "fragrance_keys", "embeddings", "merge_log",
		"review_queue", "import_runs", "cycles", "notifications", "source_observations", "pipeline_settings"} {
		require.Positive(t, want[table].Rows, "the source has %s rows", table)
	}

	dir := filepath.Join(t.TempDir(), backup.TimestampName(time.Now()))
	store, err := backup.OpenStore(dir, nil)
	require.NoError(t, err)
	var progressed atomic.Int64
	m, err := backup.Backup(ctx, src, store, backup.Options{Source: redact.URL(srcURL), Progress: func(p backup.Progress) { progressed.Store(p.Rows) }})
	require.NoError(t, err)
	require.Equal(t, m.TotalRows(), progressed.Load(), "progress ends at every row")

	t.Run("manifest", func(t *testing.T) {
		t.Parallel()
		data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		require.NoError(t, err)
		var onDisk backup.Manifest
		require.NoError(t, json.Unmarshal(data, &onDisk))
		require.Equal(t, postgres.EmbeddedVersions()[len(postgres.EmbeddedVersions())-1], onDisk.SchemaVersion)
		require.Contains(t, onDisk.Source, "xxxxx", "the password is masked")
		require.NotContains(t, string(data), strings.Split(strings.Split(srcURL, "@")[0], ":")[2])
		var names []string
		for _, tf := range onDisk.Tables {
			names = append(names, tf.Table)
			require.Equal(t, want[tf.Table].Rows, tf.Rows, tf.Table)
			require.Len(t, tf.SHA256, 64)
			info, err := os.Stat(filepath.Join(dir, tf.File))
			require.NoError(t, err)
			require.Equal(t, info.Size(), tf.Bytes)
		}
		require.Len(t, names, len(want), "every table but goose's")
		require.NotContains(t, names, "goose_db_version")
		pos := func(n string) int {
			for i, x := range names {
				if x == n {
					return i
				}
			}
			return -1
		}
		// Parents before children.
		require.Less(t, pos("brands"), pos("fragrances"))
		require.Less(t, pos("cycles"), pos("import_runs"))
		require.Less(t, pos("import_runs"), pos("fragrances"))
		require.Less(t, pos("fragrances"), pos("source_identities"))
		require.Less(t, pos("fragrances"), pos("embeddings"))
		require.Equal(t, "fragrance_keys", onDisk.Tables[pos("fragrance_keys")].Table)
		latest, ok, err := backup.Latest(ctx, filepath.Dir(dir), nil)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, dir, latest)
	})

	t.Run("restore into an unmigrated database", func(t *testing.T) {
		t.Parallel()
		dst := connect(t, dbtest.EmptyURL(t))
		var last int64
		res, err := backup.Restore(ctx, dst, store, backup.RestoreOptions{Progress: func(p backup.Progress) {
			require.GreaterOrEqual(t, p.Rows, last, "progress never goes back")
			last = p.Rows
		}})
		require.NoError(t, err)
		require.Equal(t, int64(0), res.TargetSchemaBefore)
		require.Equal(t, m.SchemaVersion, res.SchemaVersion)
		require.Equal(t, want, digest(t, dst), "every table identical")
		for _, rt := range res.Tables {
			require.Equal(t, rt.ManifestRows, rt.Rows)
		}
		require.Equal(t, m.TotalRows(), last)
		// Identity sequences continue after the restored ids.
		var maxID, newID int64
		require.NoError(t, dst.QueryRow(ctx, `SELECT max(id) FROM brands`).Scan(&maxID))
		require.NoError(t, dst.QueryRow(ctx, `INSERT INTO brands (name, match_key) VALUES ('New House', 'new house zz') RETURNING id`).Scan(&newID))
		require.Equal(t, maxID+1, newID)
		_, err = postgres.CheckSchema(ctx, dst)
		require.NoError(t, err)
	})

	t.Run("refuses a non-empty target without force, keeps the stop flag with it", func(t *testing.T) {
		t.Parallel()
		dst := connect(t, dbtest.URL(t))
		importFile(t, dst, sliceOf(t, "catalog-37k.csv.gz", 50), "other", catalogMap)
		before := digest(t, dst)
		_, err := backup.Restore(ctx, dst, store, backup.RestoreOptions{KeepSettings: control.SettingKeys})
		var ne *backup.NotEmptyError
		require.ErrorAs(t, err, &ne)
		require.Contains(t, err.Error(), "--force")
		require.Equal(t, int64(50), ne.Rows["fragrances"])
		require.Equal(t, before, digest(t, dst))

		// The operator stopped the pipeline before restoring: the stop survives.
		require.NoError(t, control.SetMonitoringEnabled(ctx, dst, false, "ops", "restoring"))
		res, err := backup.Restore(ctx, dst, store, backup.RestoreOptions{Force: true, KeepSettings: control.SettingKeys})
		require.NoError(t, err)
		require.Equal(t, int64(50), res.Replaced["fragrances"])
		require.ElementsMatch(t, control.SettingKeys, res.KeptSettings)
		on, err := control.MonitoringEnabled(ctx, dst)
		require.NoError(t, err)
		require.False(t, on, "restoring does not restart a stopped pipeline")
		got := digest(t, dst)
		for table, d := range want {
			if table != "pipeline_settings" {
				require.Equal(t, d, got[table], table)
			}
		}
		require.Equal(t, want["pipeline_settings"].Rows+2, got["pipeline_settings"].Rows)
	})

	t.Run("corrupt backups are refused and nothing is touched", func(t *testing.T) {
		t.Parallel()
		dst := connect(t, dbtest.URL(t))
		importFile(t, dst, sliceOf(t, "catalog-37k.csv.gz", 30), "other", catalogMap)
		before := digest(t, dst)
		empty := connect(t, dbtest.EmptyURL(t))

		cases := []struct {
			name, file, reason string
			damage             func(dir string)
		}{
			{"missing file", "embeddings.copy.gz", "embeddings.copy.gz: missing", func(d string) {
				require.NoError(t, os.Remove(filepath.Join(d, "embeddings.copy.gz")))
			}},
			{"truncated gzip", "fragrances.copy.gz", "fragrances.copy.gz: truncated", func(d string) {
				p := filepath.Join(d, "fragrances.copy.gz")
				info, err := os.Stat(p)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(p, info.Size()/2))
			}},
			{"one changed byte", "source_identities.copy.gz", "source_identities.copy.gz: sha256", func(d string) {
				p := filepath.Join(d, "source_identities.copy.gz")
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				data[len(data)/2] ^= 0x01
				require.NoError(t, os.WriteFile(p, data, 0o644))
			}},
			{"newer schema", "manifest.json", "manifest.json: schema version 999 is newer than this build's", func(d string) {
				p := filepath.Join(d, "manifest.json")
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				var raw map[string]any
				require.NoError(t, json.Unmarshal(data, &raw))
				raw["schema_version"] = 999
				data, _ = json.Marshal(raw)
				require.NoError(t, os.WriteFile(p, data, 0o644))
			}},
			{"no manifest", "manifest.json", "manifest.json: missing", func(d string) {
				require.NoError(t, os.Remove(filepath.Join(d, "manifest.json")))
			}},
		}
		for _, c := range cases {
			bad := copyDir(t, dir)
			c.damage(bad)
			badStore, err := backup.OpenStore(bad, nil)
			require.NoError(t, err)

			_, checks, err := backup.Check(ctx, badStore, postgres.EmbeddedVersions())
			var inv *backup.InvalidError
			require.ErrorAs(t, err, &inv, c.name)
			require.Len(t, inv.Problems, 1, "%s: only the damaged file: %v", c.name, inv.Problems)
			require.Equal(t, c.file, inv.Problems[0].File, c.name)
			require.Contains(t, err.Error(), c.reason, c.name)
			for _, fc := range checks {
				require.Equal(t, fc.File != c.file, fc.OK, "%s: %s", c.name, fc.File)
			}

			_, err = backup.Restore(ctx, dst, badStore, backup.RestoreOptions{Force: true})
			require.ErrorAs(t, err, &inv, c.name)
			require.Contains(t, err.Error(), c.reason, c.name)
			require.Contains(t, err.Error(), "untouched")
			require.Equal(t, before, digest(t, dst), "%s: the database is untouched", c.name)

			_, err = backup.Restore(ctx, empty, badStore, backup.RestoreOptions{})
			require.ErrorAs(t, err, &inv, c.name)
			require.Equal(t, int64(-1), schemaVersionOf(t, empty), "%s: not even migrated", c.name)
		}
	})

	t.Run("an interrupted restore leaves the catalog as it was", func(t *testing.T) {
		t.Parallel()
		dst := connect(t, dbtest.URL(t))
		importFile(t, dst, sliceOf(t, "catalog-37k.csv.gz", 40), "other", catalogMap)
		before := digest(t, dst)

		// Cancelled (the process killed) while COPY streams the fragrances.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var sawFragrances bool
		_, err := backup.Restore(cctx, dst, store, backup.RestoreOptions{Force: true, Progress: func(p backup.Progress) {
			if p.Table == "fragrances" && !sawFragrances {
				sawFragrances = true
				cancel()
			}
		}})
		require.Error(t, err)
		require.True(t, sawFragrances)
		require.Equal(t, before, digest(t, dst))

		// The connection lost half way: the server rolls back. (The hook
		// runs on pgx's COPY goroutine: no require in it.)
		var killed int
		var killErr error
		_, err = backup.Restore(ctx, dst, store, backup.RestoreOptions{Force: true, Progress: func(p backup.Progress) {
			if p.Table == "source_identities" && killed == 0 && killErr == nil {
				killErr = dst.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL`).Scan(&killed)
			}
		}})
		require.NoError(t, killErr)
		require.Error(t, err)
		require.Equal(t, 1, killed, "the restore's connection was terminated: %v", err)
		require.Equal(t, before, digest(t, dst))

		// A file that changes after the check is caught while it loads.
		_, err = backup.Restore(ctx, dst, &changingStore{Store: store, file: "merge_log.copy.gz"}, backup.RestoreOptions{Force: true})
		var inv *backup.InvalidError
		require.ErrorAs(t, err, &inv)
		require.True(t, inv.RolledBack)
		require.Equal(t, "merge_log.copy.gz", inv.Problems[0].File)
		require.Contains(t, err.Error(), "rolled back")
		require.Equal(t, before, digest(t, dst))
	})

	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		client, bkt := mototest.S3(t), mototest.Bucket(t)
		s3store, err := backup.OpenStore("s3://"+bkt+"/backups/20260301T030000Z", client)
		require.NoError(t, err)
		m2, err := backup.Backup(ctx, src, s3store, backup.Options{Source: redact.URL(srcURL)})
		require.NoError(t, err)
		keys := keysOf(t, client, bkt)
		require.Contains(t, keys, "backups/20260301T030000Z/manifest.json")
		require.Contains(t, keys, "backups/20260301T030000Z/fragrances.copy.gz")
		require.Len(t, keys, len(m2.Tables)+1)
		for _, tf := range m2.Tables {
			remote, ok := objectOf(t, client, bkt, "backups/20260301T030000Z/"+tf.File)
			require.True(t, ok, tf.File)
			require.Equal(t, int64(len(remote)), tf.Bytes, tf.File)
		}
		latest, ok, err := backup.Latest(ctx, "s3://"+bkt+"/backups/", client)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "s3://"+bkt+"/backups/20260301T030000Z/", latest)

		dst := connect(t, dbtest.URL(t))
		_, err = backup.Restore(ctx, dst, s3store, backup.RestoreOptions{})
		require.NoError(t, err)
		require.Equal(t, want, digest(t, dst))

		_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bkt), Key: aws.String("backups/20260301T030000Z/brands.copy.gz")})
		require.NoError(t, err)
		_, err = backup.Restore(ctx, connect(t, dbtest.URL(t)), s3store, backup.RestoreOptions{})
		require.ErrorContains(t, err, "brands.copy.gz: missing")
	})
}

// changingStore serves one file damaged from its second opening on: the
// check passes, the load finds it changed.
type changingStore struct {
	backup.Store
	file  string
	opens atomic.Int32
}

func (c *changingStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	r, err := c.Store.Open(ctx, name)
	if err != nil || name != c.file || c.opens.Add(1) == 1 {
		return r, err
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, err
	}
	data[len(data)-10] ^= 0xff // inside the gzip trailer: CRC or size
	return io.NopCloser(strings.NewReader(string(data))), nil
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), filepath.Base(from))
	require.NoError(t, os.CopyFS(to, os.DirFS(from)))
	return to
}

// TestS3UploadsLargeFilesInParts: a file past twice the part size goes up
// as a multipart upload, in parts of PartSize. S3 (moto as AWS) gives a
// multipart object the ETag "<md5 of the parts' md5s>-<parts>", and a
// single PutObject a plain MD5, so the ETag says how the file travelled.
func TestS3UploadsLargeFilesInParts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client, bkt := mototest.S3(t), mototest.Bucket(t)
	store := &backup.S3Store{Client: client, Bucket: bkt, Prefix: "p/", PartSize: 5 << 20}
	w, err := store.Create(ctx, "big.copy.gz")
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	for i := 0; i < 13; i++ {
		for j := range chunk {
			chunk[j] = byte(i*7 + j*13)
		}
		_, err := w.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, w.Commit())
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bkt), Key: aws.String("p/big.copy.gz")})
	require.NoError(t, err)
	require.Regexp(t, `^"[0-9a-f]{32}-3"$`, aws.ToString(head.ETag), "one multipart upload of 13 MiB in 5 MiB parts")
	require.Equal(t, int64(13<<20), aws.ToInt64(head.ContentLength))
	got, ok := objectOf(t, client, bkt, "p/big.copy.gz")
	require.True(t, ok)
	require.Len(t, got, 13<<20)
	require.Equal(t, chunk, got[12<<20:], "the last part holds the last MiB written")

	// A file under two parts' worth goes up in one PutObject: its ETag is
	// its MD5, no part count.
	w, err = store.Create(ctx, "small.copy.gz")
	require.NoError(t, err)
	_, err = w.Write(chunk)
	require.NoError(t, err)
	require.NoError(t, w.Commit())
	head, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bkt), Key: aws.String("p/small.copy.gz")})
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf(`"%x"`, md5.Sum(chunk)), aws.ToString(head.ETag))

	// An aborted file leaves no object and no pending upload.
	w, err = store.Create(ctx, "aborted.copy.gz")
	require.NoError(t, err)
	for i := 0; i < 12; i++ {
		_, err := w.Write(chunk)
		require.NoError(t, err)
	}
	w.Abort()
	_, ok = objectOf(t, client, bkt, "p/aborted.copy.gz")
	require.False(t, ok)
	uploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bkt)})
	require.NoError(t, err)
	require.Empty(t, uploads.Uploads, "pending multipart uploads")
}

func TestRestoreOfAnOlderSchemaBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	versions := postgres.EmbeddedVersions()
	const older = 4 // before 00005 filed existing fragrances under their keys
	require.Contains(t, versions, int64(older))

	srcURL := dbtest.EmptyURL(t)
	src := connect(t, srcURL)
	mig, err := postgres.NewMigrator(src, nil)
	require.NoError(t, err)
	defer mig.Close()
	_, err = mig.UpTo(ctx, older)
	require.NoError(t, err)
	_, err = src.Exec(ctx, `INSERT INTO brands (name, match_key) VALUES ('Dior', 'dior'), ('Chanel', 'chanel');
		INSERT INTO fragrances (brand_id, name, match_key, content_hash) VALUES (1, 'Sauvage', 'dior sauvage', 'h1'), (2, 'No 5', 'chanel no 5', 'h2')`)
	require.NoError(t, err)
	dir := t.TempDir()
	store, _ := backup.OpenStore(dir, nil)
	m, err := backup.Backup(ctx, src, store, backup.Options{})
	require.NoError(t, err)
	require.Equal(t, int64(older), m.SchemaVersion)

	check := func(pool *pgxpool.Pool, res *backup.RestoreResult) {
		t.Helper()
		require.Equal(t, versions[len(versions)-1], res.SchemaVersion, "migrated up after the restore")
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM fragrances`).Scan(&n))
		require.Equal(t, 2, n)
		// 00005 ran after the load: the restored fragrances are filed under their keys.
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT fragrance_id) FROM fragrance_keys`).Scan(&n))
		require.Equal(t, 2, n)
	}
	// Into an unmigrated database: migrated up to 4, loaded, migrated up.
	dst := connect(t, dbtest.EmptyURL(t))
	res, err := backup.Restore(ctx, dst, store, backup.RestoreOptions{})
	require.NoError(t, err)
	check(dst, res)

	// Into an empty database at the current schema: reverted to 4 first.
	dst2 := connect(t, dbtest.URL(t))
	res, err = backup.Restore(ctx, dst2, store, backup.RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, versions[len(versions)-1], res.TargetSchemaBefore)
	check(dst2, res)

	// A load that fails after the empty target was reverted puts its schema back.
	dst3 := connect(t, dbtest.URL(t))
	_, err = backup.Restore(ctx, dst3, &changingStore{Store: store, file: "fragrances.copy.gz"}, backup.RestoreOptions{})
	var inv *backup.InvalidError
	require.ErrorAs(t, err, &inv)
	require.Equal(t, versions[len(versions)-1], schemaVersionOf(t, dst3))

	// Into a current database with data: refused, even with --force.
	_, err = backup.Restore(ctx, dst2, store, backup.RestoreOptions{Force: true})
	var sc *backup.SchemaConflictError
	require.ErrorAs(t, err, &sc)
	require.Contains(t, err.Error(), "empty database")
}

func TestBackupOfAnUnmigratedDatabaseFails(t *testing.T) {
	t.Parallel()
	pool := connect(t, dbtest.EmptyURL(t))
	store, _ := backup.OpenStore(t.TempDir(), nil)
	_, err := backup.Backup(context.Background(), pool, store, backup.Options{})
	require.ErrorContains(t, err, "scentmatch db migrate")
}
