package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/config"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/detect"
)

// fastSandbox is a configuration directory whose sandbox source waits 5 ms
// between requests instead of 100.
func fastSandbox(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data, err := config.Files.ReadFile("scraping_ethics.json")
	require.NoError(t, err)
	fast := strings.Replace(string(data), `"delay_ms": 100`, `"delay_ms": 5`, 1)
	require.NotEqual(t, string(data), fast)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scraping_ethics.json"), []byte(fast), 0o644))
	return dir
}

func TestDetectAgainstTheSandbox(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": t.TempDir(), "SCENTMATCH_CONFIG_DIR": fastSandbox(t)}
	r := run(t, env, "detect", "--max-fragrances", "7", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	res := decode[detect.Result](t, r.stdout)
	require.Equal(t, 7, res.CandidateCount)
	require.Len(t, res.Candidates, 7)
	reasons := map[string]int{}
	for i, c := range res.Candidates {
		reasons[c.Reason]++
		require.Equal(t, "sandbox", c.Source)
		require.NotEmpty(t, c.SourceID)
		if i > 0 {
			require.LessOrEqual(t, c.Score, res.Candidates[i-1].Score)
		}
	}
	require.Positive(t, reasons[detect.ReasonTrending], "trending candidates: %v", reasons)
	require.Positive(t, reasons[detect.ReasonCoverageGap], "coverage gaps: %v", reasons)
	require.Equal(t, "sandbox", res.Crawl.Source)
	require.Positive(t, res.Crawl.Requests)
	require.LessOrEqual(t, res.Crawl.Requests, 200, "max_requests_per_cycle")
	require.Zero(t, res.Crawl.Errors)
	require.Equal(t, 100, res.Trends.Listed)
	require.True(t, res.Trends.Fallback)
	require.NotNil(t, res.Coverage.MarketLeaders.Value)
	require.Contains(t, r.stderr, `"msg":"upstream request"`, "every request is logged")

	// The human form, and a second run that the validators make cheap.
	r = run(t, env, "detect", "--max-fragrances", "3")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "Source sandbox:")
	require.Contains(t, r.stdout, "3 candidate(s)")
	require.Regexp(t, `[1-9]\d* not modified`, r.stdout)

	r = run(t, env, "detect", "--source", "nope")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `no source "nope"`)
	r = run(t, env, "detect", "--source", "fragrantica")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "disabled")
}
