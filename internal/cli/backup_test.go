package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/verify"
)

func TestBackupVerifyRestoreCommands(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	src := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": home}
	data := filepath.Join(t.TempDir(), "cat.csv")
	require.NoError(t, os.WriteFile(data, []byte("perfume,brand,launch_year,image,main_accords\n"+
		"Sauvage,Dior,2015,o.1.jpg,\"[\"\"fresh\"\"]\"\nNo 5,Chanel,1921,o.2.jpg,\"[\"\"aldehydic\"\"]\"\nShalimar,Guerlain,1925,o.3.jpg,\"[\"\"amber\"\"]\"\n"), 0o644))
	r := run(t, src, "import", "--fragrances", data, "--source", "cat", "--map", "perfume=name,launch_year=year,main_accords=accords,image=source_id", "--embedding-timeout", "30s")
	require.Equal(t, ExitOK, r.code, r.stderr)

	// No backup yet: verify passes and says so.
	r = run(t, src, "verify")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "No backup found")
	require.Contains(t, r.stdout, "Integrity: OK")

	r = run(t, src, "backup", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	out := decode[struct {
		Location string          `json:"location"`
		Manifest backup.Manifest `json:"manifest"`
	}](t, r.stdout)
	require.Equal(t, filepath.Join(home, "backups"), filepath.Dir(out.Location), "the default is $SCENTMATCH_HOME/backups/<timestamp>")
	require.FileExists(t, filepath.Join(out.Location, "manifest.json"))
	f, ok := out.Manifest.Table("fragrances")
	require.True(t, ok)
	require.Equal(t, int64(3), f.Rows)

	// A second backup into the same place is refused.
	r = run(t, src, "backup", "--to", out.Location)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "already holds a backup")

	// verify compares counts with the latest backup, for information.
	r = run(t, src, "verify", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	vr := decode[struct {
		OK     bool                `json:"ok"`
		Backup string              `json:"backup"`
		Counts []verify.TableCount `json:"counts"`
	}](t, r.stdout)
	require.True(t, vr.OK)
	require.Equal(t, out.Location, vr.Backup)
	for _, c := range vr.Counts {
		require.NotNil(t, c.BackupRows, c.Table)
		require.Equal(t, c.Rows, *c.BackupRows, c.Table)
	}

	r = run(t, src, "restore", "--from", out.Location, "--verify-only")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "is intact")
	require.Contains(t, r.stdout, "fragrances.copy.gz")

	// The source is not empty: refused without --force.
	r = run(t, src, "restore", "--from", out.Location)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--force")

	// Into a fresh, unmigrated database.
	dst := map[string]string{"DATABASE_URL": dbtest.EmptyURL(t), "SCENTMATCH_HOME": home}
	r = run(t, dst, "restore", "--from", out.Location)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "Restored")
	require.Regexp(t, `fragrances\s+3\s+3\s+\+0`, r.stdout)
	require.Contains(t, r.stdout, "Integrity: OK")

	// A damaged file: refused, named, exit 2.
	require.NoError(t, os.Truncate(filepath.Join(out.Location, "fragrances.copy.gz"), 20))
	r = run(t, dst, "restore", "--from", out.Location, "--force", "--json")
	require.Equal(t, ExitUsage, r.code, r.stderr)
	rep := decode[restoreReport](t, r.stdout)
	require.False(t, rep.Valid)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, "fragrances.copy.gz", rep.Problems[0].File)
	require.True(t, strings.HasPrefix(rep.Problems[0].Reason, "truncated"), rep.Problems[0].Reason)
	r = run(t, dst, "restore", "--from", out.Location, "--verify-only")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stdout, "FAILED: truncated")
	require.Contains(t, r.stderr, "fragrances.copy.gz: truncated")

	r = run(t, dst, "restore")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--from")
}

func TestVerifyCommandListsViolations(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "SCENTMATCH_HOME": t.TempDir()}
	pool := connectTest(t, url)
	_, err := pool.Exec(t.Context(), `INSERT INTO brands (name, match_key) VALUES ('Dior', 'dior');
		INSERT INTO fragrances (brand_id, name, match_key, content_hash) VALUES (1, 'Sauvage', 'dior|sauvage||', 'a'), (1, 'Sauvage', 'dior|sauvage||', 'b');
		INSERT INTO fragrance_keys (key, fragrance_id) VALUES (fragrance_key_hash('dior|sauvage||'), 1), (fragrance_key_hash('dior|sauvage||'), 2)`)
	require.NoError(t, err)
	r := run(t, env, "verify")
	require.Equal(t, ExitFailure, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "VIOLATION duplicate_match_keys: 1")
	require.Contains(t, r.stdout, "fragrances 1 and 2: dior|sauvage||")
}

func TestStopAndStartLocally(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "USER": "alice"}
	pool := connectTest(t, url)
	_, err := pool.Exec(t.Context(), `INSERT INTO cycles (id, trigger) VALUES ('manual-20260314T0900', 'manual')`)
	require.NoError(t, err)

	r := run(t, env, "stop", "--reason", "drill", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	rep := decode[control.Report](t, r.stdout)
	require.False(t, rep.MonitoringEnabled)
	require.True(t, rep.Flag.Changed)
	require.Equal(t, "manual-20260314T0900", rep.RunningCycle)
	stop, err := control.StopRequested(t.Context(), pool)
	require.NoError(t, err)
	require.True(t, stop)
	ch, ok, err := control.LastChange(t.Context(), pool)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "alice", ch.By)
	require.Equal(t, "drill", ch.Reason)

	r = run(t, env, "stop")
	require.Equal(t, ExitOK, r.code)
	require.Contains(t, r.stdout, "already false")
	require.Contains(t, r.stdout, "monitoring_enabled: false")

	r = run(t, env, "start")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "set to true")
	require.Contains(t, r.stdout, "monitoring_enabled: true")

	// An unmigrated database: the flag cannot be stored, exit 1 saying so.
	r = run(t, map[string]string{"DATABASE_URL": dbtest.EmptyURL(t)}, "stop")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stdout, "FAILED")
}

func connectTest(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(t.Context(), url, postgres.PoolOptions{})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestBackupKeepsTheConfiguredNumber: a backup to the default root keeps
// the newest retention.backups_keep timestamped backups there.
func TestBackupKeepsTheConfiguredNumber(t *testing.T) {
	t.Parallel()
	home, cfgDir := t.TempDir(), t.TempDir()
	def, err := os.ReadFile(filepath.Join("..", "..", "config", "monitoring_config.json"))
	require.NoError(t, err)
	require.Contains(t, string(def), `"backups_keep": 12`)
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "monitoring_config.json"),
		[]byte(strings.Replace(string(def), `"backups_keep": 12`, `"backups_keep": 1`, 1)), 0o644))
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": home, "SCENTMATCH_CONFIG_DIR": cfgDir}

	r := run(t, env, "backup", "--to", filepath.Join(home, "backups", "20200101T000000Z"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "backup", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	out := decode[struct {
		Location string   `json:"location"`
		Pruned   []string `json:"pruned"`
	}](t, r.stdout)
	require.Equal(t, []string{filepath.Join(home, "backups", "20200101T000000Z")}, out.Pruned)
	require.NoDirExists(t, out.Pruned[0])
	require.FileExists(t, filepath.Join(out.Location, backup.ManifestFile))
}
