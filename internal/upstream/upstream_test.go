package upstream

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func politeSource(baseURL string) settings.Source {
	return settings.Source{Enabled: true, Kind: "http", BaseURL: baseURL, UserAgent: "ScentMatchBot/1.0 (+mailto:ops@scentmatch.local)",
		RespectRobotsTxt: true, TermsReviewed: true, RateLimit: 6000, DelayMS: 1, MaxConcurrency: 1, TimeoutMS: 2000,
		MaxRetries: 1, MaxRequestsPerCycle: 50, BackoffInitialMS: 1, BackoffMaxMS: 10}
}

// api serves the catalog API from a handler per page and logs the paths.
type api struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
}

func newAPI(t *testing.T, robots string, h http.HandlerFunc) *api {
	t.Helper()
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.uris = append(a.uris, r.URL.RequestURI())
		a.mu.Unlock()
		if r.URL.Path == "/robots.txt" {
			fmt.Fprint(w, robots)
			return
		}
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.uris...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func collect(t *testing.T, src Source, l Listing, maxPages int) []Item {
	t.Helper()
	var items []Item
	err := src.List(context.Background(), l, maxPages, func(p *Page) error {
		items = append(items, p.Items...)
		return nil
	})
	require.NoError(t, err)
	return items
}

func TestHTTPListingSkipsBadPagesAndKeepsGoing(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		item := func(id string) map[string]any {
			return map[string]any{"source_id": id, "brand": "Acme", "name": "Scent " + id, "votes": 10, "rating": 4.1}
		}
		switch page {
		case 1:
			writeJSON(w, map[string]any{"items": []any{item("1"), map[string]any{"brand": "Acme", "name": "no id"},
				map[string]any{"source_id": "x", "brand": "Acme", "name": "bad votes", "votes": "many"}}, "next_page": 2})
		case 2:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>maintenance</html>")
		case 3:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"items": [{"source_id": "3"`)
		case 4:
			writeJSON(w, map[string]any{"items": []any{item("4")}, "next_page": 5})
		case 5:
			writeJSON(w, map[string]any{"items": []any{item("5")}, "next_page": "six"})
		case 6:
			writeJSON(w, map[string]any{"items": []any{item("6")}, "next_page": 7})
		case 7:
			writeJSON(w, map[string]any{"items": []any{item("7")}, "next_page": 4}) // a loop back
		default:
			t.Errorf("page %d requested", page)
		}
	})
	src, err := NewHTTP("acme", politeSource(a.URL), Deps{})
	require.NoError(t, err)
	require.NoError(t, src.Ready(context.Background()))
	items := collect(t, src, Listing{}, 20)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.SourceID)
		require.NotEmpty(t, it.Record)
	}
	require.Equal(t, []string{"1", "4", "6", "7"}, ids)
	st := src.Stats()
	require.Equal(t, 4, st.Errors, "HTML page, truncated JSON, a wrong-typed next_page, the loop")
	require.Equal(t, 2, st.ItemsSkipped)
	require.Equal(t, 8, st.Requests)
	require.Len(t, a.requests(), 8)
}

func TestHTTPListingThatDoesNotExistIsAbandoned(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("brand") != "" {
			http.NotFound(w, r) // no brand filter on this site
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"items": "broken"`)
	})
	src, err := NewHTTP("acme", politeSource(a.URL), Deps{})
	require.NoError(t, err)
	require.Empty(t, collect(t, src, Listing{Brand: "Acme"}, 50))
	require.Empty(t, collect(t, src, Listing{}, 50))
	require.Equal(t, []string{"/robots.txt", PathFragrances + "?page=1&brand=Acme",
		PathFragrances + "?page=1", PathFragrances + "?page=2", PathFragrances + "?page=3"}, a.requests(),
		"a 404 ends a listing at once; broken pages after three in a row")
	require.Equal(t, 4, src.Stats().Errors)
}

func TestHTTPEndlessListingStopsAtBudget(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		writeJSON(w, map[string]any{"items": []any{map[string]any{"source_id": strconv.Itoa(page), "brand": "A", "name": "B", "rank": page}},
			"next_page": page + 1})
	})
	cfg := politeSource(a.URL)
	cfg.MaxRequestsPerCycle = 10
	src, err := NewHTTP("acme", cfg, Deps{})
	require.NoError(t, err)
	var pages int
	err = src.List(context.Background(), Listing{Trending: true}, 1000, func(p *Page) error {
		pages++
		return nil
	})
	require.True(t, Exhausted(err), "%v", err)
	require.Equal(t, 9, pages)
	require.Len(t, a.requests(), 10, "robots.txt and nine pages: the budget")
	require.True(t, src.Stats().BudgetExhausted)
}

func TestHTTPSourceBlockedByRobots(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "User-agent: *\nDisallow: /api/\n", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("%s requested", r.URL)
	})
	src, err := NewHTTP("acme", politeSource(a.URL), Deps{})
	require.NoError(t, err)
	err = src.Ready(context.Background())
	var be *crawl.BlockedError
	require.ErrorAs(t, err, &be)
	st := src.Stats()
	require.True(t, st.Blocked)
	require.Contains(t, st.BlockedReason, "robots.txt")
	require.Equal(t, []string{"/robots.txt"}, a.requests())
}

func TestHTTPFetchRecordAndConditionalListing(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	a := newAPI(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathFragrances + "/o.42":
			writeJSON(w, map[string]any{"source_id": "o.42", "brand": "Acme", "name": "Answer", "notes": []string{"Oud"}, "votes": 7})
		case PathFragrances + "/o.43":
			writeJSON(w, map[string]any{"source_id": "o.99", "brand": "Acme", "name": "Wrong"})
		case PathFragrances:
			if r.Header.Get("If-None-Match") == `"p1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"p1"`)
			writeJSON(w, map[string]any{"items": []any{map[string]any{"source_id": "o.42", "brand": "Acme", "name": "Answer", "votes": 7}},
				"next_page": nil, "total": 1})
		default:
			http.NotFound(w, r)
		}
	})
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	deps := Deps{Cache: crawl.PGCache{DB: pool}, Now: func() time.Time { return now }}
	src, err := NewHTTP("acme", politeSource(a.URL), deps)
	require.NoError(t, err)
	rec, err := src.FetchRecord(context.Background(), "o.42")
	require.NoError(t, err)
	require.JSONEq(t, `{"source_id": "o.42", "brand": "Acme", "name": "Answer", "notes": ["Oud"], "votes": 7}`, string(rec))
	_, err = src.FetchRecord(context.Background(), "o.43")
	require.Error(t, err)
	_, err = src.FetchRecord(context.Background(), "missing")
	require.Error(t, err)

	first := collect(t, src, Listing{Brand: "Acme"}, 5)
	// The next cycle: a new source on the same cache gets a 304 and the same items.
	src2, err := NewHTTP("acme", politeSource(a.URL), deps)
	require.NoError(t, err)
	var notModified bool
	var second []Item
	require.NoError(t, src2.List(context.Background(), Listing{Brand: "Acme"}, 5, func(p *Page) error {
		notModified = p.NotModified
		require.Equal(t, now, p.ObservedAt)
		require.Equal(t, 1, *p.Total)
		second = append(second, p.Items...)
		return nil
	}))
	require.True(t, notModified)
	require.Len(t, second, len(first))
	for i := range first {
		require.JSONEq(t, string(first[i].Record), string(second[i].Record), "the stored page (jsonb) holds the same record")
		first[i].Record, second[i].Record = nil, nil
	}
	require.Equal(t, first, second)
	require.Equal(t, 1, src2.Stats().NotModified)
	require.Contains(t, a.requests(), PathFragrances+"?page=1&brand=Acme")
}

func TestSnapshotServesTheLatestStampNotAfterNow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("2026-11-15_trending.jsonl", `{"source_id": "1", "brand": "Acme", "name": "Old", "rank": 1, "votes": 5}`+"\n")
	write("2026-11-22T0200Z_trending.jsonl", `{"source_id": "2", "brand": "Acme", "name": "Two", "rank": 2, "votes": 50}
{"source_id": "1", "brand": "Acme", "name": "One", "rank": 1, "votes": 40}
{"source_id": "3", "brand": "Acme", "name": "No rank"}
`)
	write("2026-12-06_trending.jsonl", `{"source_id": "9", "brand": "Acme", "name": "Future", "rank": 1}`+"\n")
	write("notes.txt", "not a snapshot")
	f, err := os.Create(filepath.Join(dir, "2026-11-22_catalog.csv.gz"))
	require.NoError(t, err)
	gz := gzip.NewWriter(f)
	fmt.Fprint(gz, "source_id,brand,name,votes,rating,notes\n")
	for i := 1; i <= 150; i++ {
		brand := "Acme"
		if i%3 == 0 {
			brand = "ACMÉ"
		}
		if i%5 == 0 {
			brand = "Other"
		}
		fmt.Fprintf(gz, "%d,%s,Scent %d,\"1,%03d\",4.2,\"[\"\"Rose\"\"]\"\n", i, brand, i, i)
	}
	require.NoError(t, gz.Close())
	require.NoError(t, f.Close())

	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	src := NewSnapshot("files", dir, Deps{Now: func() time.Time { return now }})
	require.NoError(t, src.Ready(context.Background()))

	var trending []Item
	require.NoError(t, src.List(context.Background(), Listing{Trending: true}, 10, func(p *Page) error {
		require.Equal(t, time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), p.ObservedAt)
		trending = append(trending, p.Items...)
		return nil
	}))
	require.Len(t, trending, 2)
	require.Equal(t, "1", trending[0].SourceID, "ordered by rank")
	require.Equal(t, int64(40), *trending[0].Votes)
	require.Equal(t, 1, src.Stats().ItemsSkipped)

	var pages, total int
	var acme []Item
	require.NoError(t, src.List(context.Background(), Listing{Brand: "acme"}, 10, func(p *Page) error {
		pages++
		total = *p.Total
		acme = append(acme, p.Items...)
		return nil
	}))
	require.Equal(t, 120, total, "brand matched folded: Acme and ACMÉ, not Other")
	require.Len(t, acme, 120)
	require.Equal(t, 2, pages)
	require.Equal(t, int64(1001), *acme[0].Votes, "the CSV's 1,001 is a number")

	rec, err := src.FetchRecord(context.Background(), "7")
	require.NoError(t, err)
	require.JSONEq(t, `{"source_id": "7", "brand": "Acme", "name": "Scent 7", "votes": "1,007", "rating": "4.2", "notes": "[\"Rose\"]"}`, string(rec))
	_, err = src.FetchRecord(context.Background(), "999")
	require.Error(t, err)

	empty := NewSnapshot("files", t.TempDir(), Deps{Now: func() time.Time { return now }})
	require.Error(t, empty.Ready(context.Background()))
}

func TestOpenRefusesTheSandboxWithoutAnAddress(t *testing.T) {
	t.Parallel()
	cfg := settings.Default()
	_, err := Open("sandbox", cfg.Sources["sandbox"], Deps{})
	require.ErrorContains(t, err, "runs only on this machine")
	src, err := Open("sandbox", cfg.Sources["sandbox"], Deps{BaseURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	require.Equal(t, "sandbox", src.Name())
}

func TestCheckHealth(t *testing.T) {
	t.Parallel()
	cfg := settings.Default()
	sb := cfg.Sources["sandbox"]
	h := CheckHealth(context.Background(), "sandbox", sb, "", nil)
	require.Equal(t, HealthSkipped, h.Status)

	a := newAPI(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {})
	h = CheckHealth(context.Background(), "sandbox", sb, a.URL, nil)
	require.Equal(t, HealthOK, h.Status, h.Detail)
	require.NotNil(t, h.LatencyMS)

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	h = CheckHealth(context.Background(), "sandbox", sb, dead.URL, nil)
	require.Equal(t, HealthSkipped, h.Status, "a sandbox that stopped is not running: skipped")

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	t.Cleanup(broken.Close)
	h = CheckHealth(context.Background(), "site", politeSource(broken.URL), "", nil)
	require.Equal(t, HealthUnhealthy, h.Status)
	require.Contains(t, h.Detail, "502")
	h = CheckHealth(context.Background(), "site", politeSource(dead.URL), "", nil)
	require.Equal(t, HealthUnhealthy, h.Status)

	h = CheckHealth(context.Background(), "files", settings.Source{Kind: "snapshot", SnapshotDir: t.TempDir()}, "", nil)
	require.Equal(t, HealthUnhealthy, h.Status)
}

// The health check fetches robots.txt as detect does: through the crawl
// client (its user agent, robots.txt's redirects), so the two agree.
func TestCheckHealthFollowsRobotsRedirectsLikeDetect(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.UserAgent())
		mu.Unlock()
		switch r.URL.Path {
		case "/robots.txt":
			http.Redirect(w, r, "/site/robots.txt", http.StatusMovedPermanently)
		case "/site/robots.txt":
			fmt.Fprint(w, "User-agent: *\nAllow: /\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	src := politeSource(srv.URL)
	h := CheckHealth(context.Background(), "site", src, "", nil)
	require.Equal(t, HealthOK, h.Status, h.Detail)
	require.Contains(t, h.Detail, "/site/robots.txt answered 200 after 1 redirect(s)")
	mu.Lock()
	require.Equal(t, []string{"/robots.txt " + src.UserAgent, "/site/robots.txt " + src.UserAgent}, seen)
	mu.Unlock()

	// detect reads the same robots.txt and crawls.
	client := crawl.New(mustConfig(t, src), crawl.Options{})
	ok, reason, err := client.Allowed(context.Background(), "/api/v1/fragrances")
	require.NoError(t, err)
	require.True(t, ok, reason)

	// A robots.txt that redirects without end is unhealthy, as detect
	// would be blocked.
	loop := httptest.NewServer(http.RedirectHandler("/loop", http.StatusFound))
	t.Cleanup(loop.Close)
	h = CheckHealth(context.Background(), "site", politeSource(loop.URL), "", nil)
	require.Equal(t, HealthUnhealthy, h.Status, h.Detail)
	require.Contains(t, h.Detail, "after 5 redirect(s)")
}

func mustConfig(t *testing.T, s settings.Source) crawl.Config {
	t.Helper()
	cfg, err := crawl.ConfigFrom("site", s, "")
	require.NoError(t, err)
	return cfg
}
