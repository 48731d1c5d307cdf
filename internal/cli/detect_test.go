package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/config"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/sandbox"
)

// fastSandbox is a configuration directory whose sandbox source spaces
// requests by 10 ms instead of 100.
func fastSandbox(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data, err := config.Files.ReadFile("scraping_ethics.json")
	require.NoError(t, err)
	fast := strings.Replace(string(data), `"delay_ms": 100`, `"delay_ms": 5`, 1)
	fast = strings.Replace(fast, `"rate_limit": 600,`, `"rate_limit": 6000,`, 1)
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

func TestHealthReportsTheSandboxUpstream(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": home}
	r := run(t, env, "health", "--json")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	h := decode[healthJSON](t, r.stdout)
	require.True(t, h.Components["upstream"].Healthy)
	require.Contains(t, h.Components["upstream"].Detail, "not running")
	require.Contains(t, r.stdout, `"skipped": true`)

	srv, err := sandbox.New(sandbox.Options{})
	require.NoError(t, err)
	running, err := sandbox.Start(srv, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = running.Close() })
	require.NoError(t, os.WriteFile(sandbox.URLFile(home), []byte(running.URL+"\n"), 0o644))
	r = run(t, env, "health")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Regexp(t, `upstream\s+ok`, r.stdout)
}

func TestSandboxServeUntilInterrupted(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	var out, errOut bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return map[string]string{"SCENTMATCH_HOME": home}[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- c.Run(ctx, []string{"sandbox", "serve", "--week", "2026-W48"}) }()
	var url string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(sandbox.URLFile(home))
		url = strings.TrimSpace(string(data))
		return err == nil && url != ""
	}, time.Minute, 20*time.Millisecond) // decoding the demo catalog under -race on a busy machine takes a while
	resp, err := http.Get(url + "/api/v1/trending?page=1")
	require.NoError(t, err)
	var page struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	resp.Body.Close()
	require.Len(t, page.Items, sandbox.TrendingPageSize)
	cancel()
	require.Equal(t, ExitOK, <-done, errOut.String())
	require.Equal(t, url+"\n", out.String(), "the URL on stdout")
	require.NoFileExists(t, sandbox.URLFile(home))

	r := run(t, nil, "sandbox", "serve", "--week", "someday")
	require.Equal(t, ExitUsage, r.code)
}

// No enabled source is what the step treats as success with a warning:
// the CLI exits 0 and prints the warning, human and JSON.
func TestDetectWithNoSourceEnabledSucceedsWithAWarning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, err := config.Files.ReadFile("scraping_ethics.json")
	require.NoError(t, err)
	off := strings.ReplaceAll(string(data), `"enabled": true`, `"enabled": false`)
	require.NotEqual(t, string(data), off)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scraping_ethics.json"), []byte(off), 0o644))
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": t.TempDir(), "SCENTMATCH_CONFIG_DIR": dir}

	r := run(t, env, "detect")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "Warning: "+detect.NoSourceEnabled+":")
	require.Contains(t, r.stdout, "No source crawled")

	r = run(t, env, "detect", "--json")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	res := decode[detect.Result](t, r.stdout)
	require.Zero(t, res.CandidateCount)
	require.Len(t, res.Warnings, 1)
	require.True(t, strings.HasPrefix(res.Warnings[0], detect.NoSourceEnabled), res.Warnings[0])

	// Naming a source that is disabled is still bad input.
	r = run(t, env, "detect", "--source", "sandbox")
	require.Equal(t, ExitUsage, r.code)
}
