package faultinject_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/sandbox"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/steps"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// hit is one API request the throttle saw.
type hit struct {
	n      int
	path   string
	status int
	at     time.Time
}

// throttle stands in front of the sandbox: API requests number from..to
// (counted from 1; robots.txt passes) answer 429 with Retry-After: 1 and
// 503 in turn, the rest reach the sandbox.
type throttle struct {
	next     http.Handler
	from, to int

	mu   sync.Mutex
	n    int
	hits []hit
}

func (th *throttle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		th.next.ServeHTTP(w, r)
		return
	}
	th.mu.Lock()
	th.n++
	n := th.n
	status := http.StatusOK
	if n >= th.from && n <= th.to {
		status = http.StatusTooManyRequests
		if (n-th.from)%2 == 1 {
			status = http.StatusServiceUnavailable
		}
	}
	th.hits = append(th.hits, hit{n: n, path: r.URL.RequestURI(), status: status, at: time.Now()})
	th.mu.Unlock()
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", status)
	case http.StatusServiceUnavailable:
		http.Error(w, "overloaded", status)
	default:
		th.next.ServeHTTP(w, r)
	}
}

func (th *throttle) log() []hit {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]hit(nil), th.hits...)
}

// TestThrottledUpstreamDegradesTheCrawl runs a cycle against an upstream
// that answers only 429 and 503 for a while: the crawl backs off (the
// Retry-After is a floor), stays within its budget, opens its circuit and
// goes on with what it has; the cycle succeeds with the candidates found,
// and detect reports a degraded crawl, as does the weekly report.
func TestThrottledUpstreamDegradesTheCrawl(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := sandbox.New(sandbox.Options{Now: sandboxWeek, Logger: logging.Discard()})
	require.NoError(t, err)
	cfg := settings.Default()
	src := cfg.Sources["sandbox"]
	// Trending pages 1-3 answer; then as many failed attempts as open the
	// circuit, and one more that the import step meets (and retries).
	th := &throttle{next: srv, from: 4, to: 4 + src.CircuitBreakerFailures}
	up := httptest.NewServer(th)
	t.Cleanup(up.Close)
	open := func(ctx context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error) {
		deps.BaseURL = up.URL
		source, err := upstream.Open(name, s, deps)
		return source, func() {}, err
	}

	url := dbtest.URL(t)
	home := tempHome(t)
	p := newPipeline(t, url, home, open)
	start := time.Now()
	sum, err := p.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0200", MaxFragrances: 5, Options: p.options()})
	require.NoError(t, err)
	elapsed := time.Since(start)
	require.Equal(t, "succeeded", sum.Outcome, "%+v", sum)

	db := connect(t, url)
	crawl := detectCrawl(t, db, sum.CycleID)
	require.Equal(t, true, crawl["degraded"], "%v", crawl)
	require.Contains(t, crawl["degraded_reason"], "circuit open")
	require.Equal(t, true, crawl["circuit_open"])
	require.Positive(t, crawl["status_429"])
	require.Positive(t, crawl["retries"])
	require.Positive(t, crawl["errors"])
	require.LessOrEqual(t, crawl["requests"], float64(src.MaxRequestsPerCycle), "within the budget")
	cands := crawl["candidate_count"].(int)
	require.Positive(t, cands, "detection went on with what it had")

	// Backing off: after a 429 the next API request waited out its
	// Retry-After (a loose lower bound: one second, less a margin).
	hits := th.log()
	var throttled, unavailable int
	for i, h := range hits {
		switch h.status {
		case http.StatusTooManyRequests:
			throttled++
			if i+1 < len(hits) {
				require.GreaterOrEqual(t, hits[i+1].at.Sub(h.at), 900*time.Millisecond, "request %d came too soon after a 429", hits[i+1].n)
			}
		case http.StatusServiceUnavailable:
			unavailable++
		}
	}
	require.Equal(t, src.CircuitBreakerFailures+1, throttled+unavailable, "the whole window was answered")

	// The import met the last failure, retried it and fetched every candidate.
	rec, err := (&cycle.Store{DB: db}).Get(ctx, sum.CycleID)
	require.NoError(t, err)
	var imp struct {
		Candidates  int               `json:"candidates"`
		Fetched     int               `json:"fetched"`
		FetchErrors []json.RawMessage `json:"fetch_errors"`
	}
	require.NoError(t, json.Unmarshal(rec.StepResults[cycle.StepImport], &imp))
	require.Equal(t, cands, imp.Candidates)
	require.Equal(t, cands, imp.Fetched, "fetch errors: %s", imp.FetchErrors)
	require.Equal(t, sum.NewFragrancesImported, scalar(t, db, `SELECT count(*) FROM fragrances`))
	requireIntegrity(t, db)

	// The weekly report carries the flag.
	reports, err := filepath.Glob(filepath.Join(home, "outbox", "*-weekly_report-*.eml"))
	require.NoError(t, err)
	require.Len(t, reports, 1)
	body, err := os.ReadFile(reports[0])
	require.NoError(t, err)
	require.Regexp(t, `degraded\s+true`, string(body))

	t.Logf("%d API requests (%d answered 429, %d answered 503), crawl %v requests, %v retries, degraded: %q; %d candidates, %d new fragrances; cycle %s",
		len(hits), throttled, unavailable, crawl["requests"], crawl["retries"], crawl["degraded_reason"], cands, sum.NewFragrancesImported,
		elapsed.Round(time.Millisecond))
}

// TestCycleSharesOneRequestBudget: max_requests_per_cycle bounds the
// cycle, not each step's client. A first cycle with the default budget
// counts what detect and the import's fetch send; a second, on a fresh
// database, gets a budget of detect's requests plus two: the fetch sends
// robots.txt and one record, the upstream sees no more than the budget,
// and the candidates left over are reported as fetch errors, not fetched
// behind the budget's back.
func TestCycleSharesOneRequestBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := func(budget int) (hits int, crawl map[string]any, imp importResult, outcome string) {
		srv, err := sandbox.New(sandbox.Options{Now: sandboxWeek, Logger: logging.Discard()})
		require.NoError(t, err)
		var requests atomic.Int32 // robots.txt included
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			srv.ServeHTTP(w, r)
		}))
		t.Cleanup(up.Close)
		open := func(ctx context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error) {
			deps.BaseURL = up.URL
			if budget > 0 {
				s.MaxRequestsPerCycle = budget
			}
			source, err := upstream.Open(name, s, deps)
			return source, func() {}, err
		}
		url := dbtest.URL(t)
		p := newPipeline(t, url, tempHome(t), open)
		sum, err := p.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0200", MaxFragrances: 5, Options: p.options()})
		require.NoError(t, err)
		db := connect(t, url)
		rec, err := (&cycle.Store{DB: db}).Get(ctx, sum.CycleID)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(rec.StepResults[cycle.StepImport], &imp))
		return int(requests.Load()), detectCrawl(t, db, sum.CycleID), imp, sum.Outcome
	}

	free, crawl, imp, outcome := run(0)
	require.Equal(t, "succeeded", outcome)
	detected := int(crawl["requests"].(float64))
	require.Equal(t, imp.Candidates, imp.Fetched)
	require.Greater(t, free, detected+2, "the fetch needs more than robots.txt and one record")

	budget := detected + 2
	hits, crawl, imp, outcome := run(budget)
	require.Equal(t, detected, int(crawl["requests"].(float64)), "detect crawls the same within the smaller budget")
	require.LessOrEqual(t, hits, budget, "detect and the import's fetch together stay within max_requests_per_cycle")
	require.Equal(t, 1, imp.Fetched, "robots.txt and one record were all the budget left")
	require.Equal(t, imp.Candidates-1, imp.FetchErrorsCount, "every candidate past the budget is a fetch error")
	require.Len(t, imp.FetchErrors, min(imp.FetchErrorsCount, importer.MaxInlineFetchErrors), "the first ones inline")
	t.Logf("default budget: %d requests (detect %d); budget %d: %d requests, %d of %d candidates fetched, cycle %s",
		free, detected, budget, hits, imp.Fetched, imp.Candidates, outcome)
}

type importResult struct {
	Candidates       int               `json:"candidates"`
	Fetched          int               `json:"fetched"`
	FetchErrors      []json.RawMessage `json:"fetch_errors"`
	FetchErrorsCount int               `json:"fetch_errors_count"`
}
