package faultinject_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// runPooledImport runs `scentmatch import` of path through PgBouncer
// (dbURL is the pooled URL, the mode declared transaction as template.yaml
// declares it). When during is set it runs alongside the import.
func runPooledImport(t *testing.T, bin, dbURL, path string, during func()) importRun {
	t.Helper()
	cmd := exec.Command(bin, "import", "--fragrances", path, "--source", "catalog37k", "--map", catalogMap,
		"--batch-size", strconv.Itoa(killBatchSize), "--embedding-timeout", "0", "--json", "--log-level", "warn")
	cmd.Env = []string{"DATABASE_URL=" + dbURL, postgres.EnvPooling + "=transaction", "SCENTMATCH_HOME=" + t.TempDir(),
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	require.NoError(t, cmd.Start())
	if during != nil {
		during()
	}
	err := cmd.Wait()
	r := importRun{elapsed: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if err != nil {
		require.True(t, errors.As(err, &exit), "%v", err)
		r.exitCode = exit.ExitCode()
	}
	return r
}

// TestImportSurvivesAPoolerKill kills PgBouncer (SIGKILL: every client and
// server connection dropped mid-flight) while an import through it is
// between its first committed batch and its last: the import exits 1 and
// says the connection failed and to rerun; the batch in flight rolled
// back; after the pooler is back the rerun completes, and the catalog
// equals a clean direct import of the same file: nothing lost, nothing
// twice.
func TestImportSurvivesAPoolerKill(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	path := catalogSlice(t, killSliceRows)

	cleanURL := dbtest.URL(t)
	clean := runImport(t, bin, cleanURL, path, 0)
	require.Zero(t, clean.exitCode, clean.stderr)
	cleanPool := connect(t, cleanURL)
	want := digest(t, cleanPool)
	fragrances := scalar(t, cleanPool, `SELECT count(*) FROM fragrances`)
	require.Positive(t, fragrances)

	direct := dbtest.URL(t)
	srv := dbtest.StartPgBouncer(t, dbtest.PgBouncer)
	pooled := srv.PooledURL(direct)
	pool := connect(t, direct) // checks go around the pooler
	var at int
	r := runPooledImport(t, bin, pooled, path, func() {
		// Kill once some batches are committed and most are still to come.
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			var n int
			require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM fragrances`).Scan(&n))
			if n > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		srv.Kill()
		at = scalar(t, pool, `SELECT count(*) FROM fragrances`)
	})
	require.Positive(t, at, "the kill landed after the first commit")
	require.Less(t, at, fragrances, "the kill landed before the last commit")
	require.Equal(t, 1, r.exitCode, "an operational failure exits 1: %s", r.stderr)
	t.Logf("the killed import said: %s", r.stderr)
	require.Contains(t, r.stderr, "the database connection failed")
	require.Contains(t, r.stderr, "rerun the same command")
	// Only whole batches are in the catalog: the one in flight rolled back.
	require.Equal(t, at, scalar(t, pool, `SELECT count(*) FROM fragrances`), "nothing committed after the kill")
	requireIntegrity(t, pool)

	require.NoError(t, srv.Restart(context.Background()))
	rerun := runPooledImport(t, bin, pooled, path, nil)
	require.Zero(t, rerun.exitCode, "the rerun completes: %s", rerun.stderr)
	var sum importSummary
	require.NoError(t, json.Unmarshal([]byte(rerun.stdout), &sum), rerun.stdout)
	require.Equal(t, "succeeded", sum.Fragrances.Status)
	require.Equal(t, killSliceRows, sum.Fragrances.Records)

	require.Equal(t, want, digest(t, pool), "the catalog equals a clean direct import (killed at %d/%d fragrances)", at, fragrances)
	require.Equal(t, fragrances, scalar(t, pool, `SELECT count(*) FROM fragrances`))
	require.Zero(t, scalar(t, pool, `SELECT count(*) FROM (SELECT source, source_id FROM source_identities
		GROUP BY 1, 2 HAVING count(*) > 1) d`))
	requireIntegrity(t, pool)
	t.Logf("PgBouncer killed at %d/%d fragrances; clean import %s, rerun %s (inserted %d, unchanged %d)", at, fragrances,
		clean.elapsed.Round(time.Millisecond), rerun.elapsed.Round(time.Millisecond), sum.Fragrances.Counts["inserted"], sum.Fragrances.Counts["unchanged"])
}
