package faultinject_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

// Sizing of the SIGKILL trials: a slice of the real catalog imported in
// small batches, so that a kill lands between, or inside, many commits.
const (
	killSliceRows   = 3000
	killBatchSize   = 25
	killTrials      = 20
	killDefaultSeed = 20261129
)

// catalogMap maps the 37k catalog's columns to record fields (as in
// docs/dataset-format.md).
const catalogMap = "perfume=name,launch_year=year,main_accords=accords,image=source_id"

// buildCLI builds cmd/scentmatch into a directory of t's: the trials run
// the binary an operator runs.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scentmatch")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/scentmatch/pipeline/cmd/scentmatch").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// catalogSlice writes the header and the first n rows of the real 37k
// catalog to a file of t's.
func catalogSlice(t *testing.T, n int) string {
	t.Helper()
	src, err := shareddata.Path("catalog-37k.csv.gz")
	require.NoError(t, err)
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out bytes.Buffer
	for i := 0; i <= n && sc.Scan(); i++ {
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	require.NoError(t, sc.Err())
	path := filepath.Join(t.TempDir(), "catalog-slice.csv")
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
	return path
}

// importRun is one `scentmatch import` process.
type importRun struct {
	killed   bool // ended by our SIGKILL (not finished before it)
	exitCode int
	elapsed  time.Duration
	stdout   string
	stderr   string
}

// runImport runs the import of path into dbURL; killAfter > 0 sends
// SIGKILL that long after the start.
func runImport(t *testing.T, bin, dbURL, path string, killAfter time.Duration) importRun {
	t.Helper()
	cmd := exec.Command(bin, "import", "--fragrances", path, "--source", "catalog37k", "--map", catalogMap,
		"--batch-size", strconv.Itoa(killBatchSize), "--embedding-timeout", "0", "--json", "--log-level", "warn")
	cmd.Env = []string{"DATABASE_URL=" + dbURL, "SCENTMATCH_HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	require.NoError(t, cmd.Start())
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	r := importRun{elapsed: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.exitCode = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed = true
		}
	default:
		require.NoError(t, err)
	}
	return r
}

// importSummary is the part of `import --json` the trials read.
type importSummary struct {
	Fragrances struct {
		Records int            `json:"records"`
		Counts  map[string]int `json:"counts"`
		Status  string         `json:"status"`
	} `json:"fragrances"`
}

// killSeed is FAULTINJECT_SEED, or a fixed seed: a failing run is
// replayed with the seed it logged.
func killSeed(t *testing.T) uint64 {
	if s := os.Getenv("FAULTINJECT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "FAULTINJECT_SEED")
		return n
	}
	return killDefaultSeed
}

func killTrialCount(t *testing.T) int {
	if s := os.Getenv("FAULTINJECT_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "FAULTINJECT_TRIALS")
		return n
	}
	return killTrials
}

// trialPlan is where one trial kills: fractions of a clean import's
// duration, decided up front from the seed (the second kill, when there
// is one, hits the first rerun).
type trialPlan struct {
	kills []float64
}

// TestImportSurvivesSIGKILL kills the import with SIGKILL at seeded
// random points, reruns it to completion, and compares the catalog with a
// clean single import of the same file in another database: the same
// rows in every catalog table, no duplicates, no orphans.
func TestImportSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	path := catalogSlice(t, killSliceRows)

	cleanURL := dbtest.URL(t)
	clean := runImport(t, bin, cleanURL, path, 0)
	require.Zero(t, clean.exitCode, clean.stderr)
	var cleanSum importSummary
	require.NoError(t, json.Unmarshal([]byte(clean.stdout), &cleanSum), clean.stdout)
	require.Equal(t, killSliceRows, cleanSum.Fragrances.Records)
	cleanPool := connect(t, cleanURL)
	want := digest(t, cleanPool)
	requireIntegrity(t, cleanPool)
	fragrances := scalar(t, cleanPool, `SELECT count(*) FROM fragrances`)
	require.Positive(t, fragrances)

	seed := killSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x5ce2))
	n := killTrialCount(t)
	plans := make([]trialPlan, n)
	for i := range plans {
		plans[i].kills = []float64{0.05 + 0.9*rng.Float64()}
		if i%4 == 3 { // every fourth trial kills the rerun too
			plans[i].kills = append(plans[i].kills, 0.05+0.6*rng.Float64())
		}
	}
	t.Logf("clean import: %d records, %d fragrances, %s; %d trials, seed %d (FAULTINJECT_SEED replays it)",
		cleanSum.Fragrances.Records, fragrances, clean.elapsed.Round(time.Millisecond), n, seed)

	var (
		mu      sync.Mutex
		figures []string
		landed  = map[string]int{}
		kills   int
		stale   int
	)
	t.Cleanup(func() {
		sort.Strings(figures)
		for _, f := range figures {
			t.Log(f)
		}
		t.Logf("%d SIGKILLs over %d trials: %v; %d import run(s) left 'running' by the kills", kills, n, landed, stale)
	})

	for i, plan := range plans {
		t.Run(fmt.Sprintf("trial%02d", i), func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t)
			pool := connect(t, url)
			var notes []string
			for _, frac := range plan.kills {
				delay := time.Duration(frac * float64(clean.elapsed))
				r := runImport(t, bin, url, path, delay)
				at := scalar(t, pool, `SELECT count(*) FROM fragrances`)
				where := "finished before the kill"
				switch {
				case !r.killed && r.exitCode != 0:
					t.Fatalf("the import failed on its own (exit %d): %s", r.exitCode, r.stderr)
				case r.killed && at == 0:
					where = "before the first commit"
				case r.killed && at < fragrances:
					where = "mid-import"
				case r.killed:
					where = "after the last batch"
				}
				mu.Lock()
				if r.killed {
					kills++
				}
				landed[where]++
				mu.Unlock()
				notes = append(notes, fmt.Sprintf("kill at %s: %s, %d/%d fragrances in the catalog just after", delay.Round(time.Millisecond), where, at, fragrances))
			}
			rerun := runImport(t, bin, url, path, 0)
			require.Zero(t, rerun.exitCode, "the rerun completes: %s", rerun.stderr)
			var sum importSummary
			require.NoError(t, json.Unmarshal([]byte(rerun.stdout), &sum), rerun.stdout)
			require.Equal(t, "succeeded", sum.Fragrances.Status)
			require.Equal(t, killSliceRows, sum.Fragrances.Records)

			require.Equal(t, want, digest(t, pool), "the catalog equals a clean single import (%s)", strings.Join(notes, "; "))
			require.Equal(t, fragrances, scalar(t, pool, `SELECT count(*) FROM fragrances`))
			require.Zero(t, scalar(t, pool, `SELECT count(*) FROM (SELECT source, source_id FROM source_identities
				GROUP BY 1, 2 HAVING count(*) > 1) d`))
			requireIntegrity(t, pool)
			left := scalar(t, pool, `SELECT count(*) FROM import_runs WHERE status = 'running'`)
			mu.Lock()
			stale += left
			figures = append(figures, fmt.Sprintf("trial %02d: %s; rerun %s (inserted %d, unchanged %d)", i, strings.Join(notes, "; "),
				rerun.elapsed.Round(time.Millisecond), sum.Fragrances.Counts["inserted"], sum.Fragrances.Counts["unchanged"]))
			mu.Unlock()
		})
	}
}
