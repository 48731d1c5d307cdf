package crawl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// tolerance absorbs loopback and scheduling jitter between the client's
// request start and the server's handler start (up to 15 ms seen under
// -race on two busy cores, 22 ms while make test also runs the
// fault-injection suite), so the spacings tested are 100 ms and more: a
// limiter that did not space requests would show gaps near zero.
const tolerance = 50 * time.Millisecond

const userAgent = "ScentMatchBot/1.0 (+mailto:ops@scentmatch.local)"

// hit is one request as the upstream saw it.
type hit struct {
	at          time.Time
	uri         string
	userAgent   string
	ifNoneMatch string
	ifModified  string
}

// upstream is an httptest server that logs every request it receives.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newUpstream(t *testing.T, robots string, handler http.HandlerFunc) *upstream {
	t.Helper()
	up := &upstream{}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		up.hits = append(up.hits, hit{at: time.Now(), uri: r.URL.RequestURI(), userAgent: r.UserAgent(),
			ifNoneMatch: r.Header.Get("If-None-Match"), ifModified: r.Header.Get("If-Modified-Since")})
		up.mu.Unlock()
		if r.URL.Path == "/robots.txt" && robots != "" {
			fmt.Fprint(w, robots)
			return
		}
		handler(w, r)
	}))
	t.Cleanup(up.Close)
	return up
}

func (u *upstream) log() []hit {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]hit(nil), u.hits...)
}

func (u *upstream) uris() []string {
	var out []string
	for _, h := range u.log() {
		out = append(out, h.uri)
	}
	return out
}

func (u *upstream) dump() string {
	var b strings.Builder
	hs := u.log()
	for _, h := range hs {
		fmt.Fprintf(&b, "%s %s\n", h.at.Sub(hs[0].at), h.uri)
	}
	return b.String()
}

// gaps returns the spacing between consecutive request arrivals.
func (u *upstream) gaps() []time.Duration {
	hs := u.log()
	var out []time.Duration
	for i := 1; i < len(hs); i++ {
		out = append(out, hs[i].at.Sub(hs[i-1].at))
	}
	return out
}

func okJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"items": [], "path": %q}`, r.URL.RequestURI())
}

// parseJSON accepts any JSON document.
func parseJSON(body []byte, _ http.Header) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errors.New("not JSON")
	}
	return body, nil
}

func testConfig(t *testing.T, base string) Config {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	return Config{Source: "test", BaseURL: u, UserAgent: userAgent, RespectRobots: true, MaxConcurrency: 1,
		Timeout: 2 * time.Second, MaxRetries: 2, BackoffInitial: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		CircuitThreshold: 10, MaxBodyBytes: 1 << 20}
}

func TestRobotsTxtIsObeyedForOurUserAgent(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, `User-agent: *
Disallow: /

User-agent: ScentMatchBot
Disallow: /api/v1/private
Disallow: /*?sort=
Allow: /api/v1/
`, okJSON)
	c := New(testConfig(t, up.URL), Options{})
	ctx := context.Background()
	paths := []string{"/api/v1/fragrances?page=1", "/api/v1/private/x", "/api/v1/fragrances?sort=votes", "/api/v1/trending?page=2", "/api/v1/private"}
	var blocked []string
	for _, p := range paths {
		_, err := c.Fetch(ctx, p, parseJSON)
		var be *BlockedError
		if errors.As(err, &be) {
			blocked = append(blocked, p)
			continue
		}
		require.NoError(t, err, p)
	}
	require.Equal(t, []string{"/api/v1/private/x", "/api/v1/fragrances?sort=votes", "/api/v1/private"}, blocked)
	// The server saw robots.txt first, then only the allowed URLs, each with our user agent.
	require.Equal(t, []string{"/robots.txt", "/api/v1/fragrances?page=1", "/api/v1/trending?page=2"}, up.uris())
	for _, h := range up.log() {
		require.Equal(t, userAgent, h.userAgent)
	}
	st := c.Stats()
	require.Equal(t, 3, st.RobotsBlocked)
	require.Equal(t, 3, st.Requests)
	require.Zero(t, st.Errors)
}

func TestRobotsTxtThatDisallowsEverythingMeansNoCatalogRequest(t *testing.T) {
	t.Parallel()
	for name, robots := range map[string]func(w http.ResponseWriter){
		"disallow all": func(w http.ResponseWriter) { fmt.Fprint(w, "User-agent: *\nDisallow: /\n") },
		"5xx":          func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, "", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/robots.txt" {
					robots(w)
					return
				}
				okJSON(w, r)
			})
			c := New(testConfig(t, up.URL), Options{})
			ok, reason, err := c.Allowed(context.Background(), "/api/v1/fragrances")
			require.NoError(t, err)
			require.False(t, ok)
			require.NotEmpty(t, reason)
			_, err = c.Fetch(context.Background(), "/api/v1/fragrances?page=1", parseJSON)
			var be *BlockedError
			require.ErrorAs(t, err, &be)
			for _, u := range up.uris() {
				require.Equal(t, "/robots.txt", u, "only robots.txt may be requested")
			}
		})
	}
}

func TestRobotsTxtMissingAllowsEverything(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		okJSON(w, r)
	})
	c := New(testConfig(t, up.URL), Options{})
	_, err := c.Fetch(context.Background(), "/api/v1/fragrances?page=1", parseJSON)
	require.NoError(t, err)
	require.Equal(t, []string{"/robots.txt", "/api/v1/fragrances?page=1"}, up.uris())
}

// TestSpacingNeverBelowDelayCrawlDelayOrRate is not parallel with the
// package's other tests: their load would only add measurement jitter.
func TestSpacingNeverBelowDelayCrawlDelayOrRate(t *testing.T) {
	cases := []struct {
		name        string
		robots      string
		delay       time.Duration
		perMinute   float64
		concurrency int
		want        time.Duration
	}{
		{name: "delay_ms", robots: "User-agent: *\nAllow: /\n", delay: 100 * time.Millisecond, want: 100 * time.Millisecond},
		{name: "rate_limit", robots: "User-agent: *\nAllow: /\n", perMinute: 500, want: 120 * time.Millisecond},
		{name: "Crawl-delay", robots: "User-agent: scentmatchbot\nCrawl-delay: 0.11\nAllow: /\n", delay: 10 * time.Millisecond, want: 110 * time.Millisecond},
		{name: "concurrent", robots: "User-agent: *\nAllow: /\n", delay: 100 * time.Millisecond, concurrency: 4, want: 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, tc.robots, func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(5 * time.Millisecond) // in flight long enough for concurrent requests to overlap
				okJSON(w, r)
			})
			cfg := testConfig(t, up.URL)
			cfg.Delay, cfg.RatePerMinute = tc.delay, tc.perMinute
			if tc.concurrency > 0 {
				cfg.MaxConcurrency = tc.concurrency
			}
			c := New(cfg, Options{})
			var wg sync.WaitGroup
			for i := 1; i <= 6; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.Fetch(context.Background(), fmt.Sprintf("/api/v1/fragrances?page=%d", i), parseJSON)
					require.NoError(t, err)
				}()
			}
			wg.Wait()
			require.Len(t, up.log(), 7)
			for i, g := range up.gaps() {
				require.GreaterOrEqual(t, g, tc.want-tolerance, "gap %d: %s < %s\n%s", i, g, tc.want, up.dump())
			}
			st := c.Stats()
			require.Positive(t, st.EffectiveRatePerMin)
			require.LessOrEqual(t, st.EffectiveRatePerMin, float64(time.Minute)/float64(tc.want-tolerance))
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	for name, header := range map[string]func() string{
		"seconds":   func() string { return "1" },
		"HTTP date": func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var notBefore atomic.Value
			up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					v := header()
					at := time.Now().Add(time.Second)
					if v != "1" {
						at, _ = http.ParseTime(v)
					}
					notBefore.Store(at)
					w.Header().Set("Retry-After", v)
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				okJSON(w, r)
			})
			cfg := testConfig(t, up.URL)
			cfg.BackoffMax = 5 * time.Second
			c := New(cfg, Options{})
			_, err := c.Fetch(context.Background(), "/api/v1/trending?page=1", parseJSON)
			require.NoError(t, err)
			log := up.log()
			require.Len(t, log, 3) // robots.txt, the 429, the retry
			require.False(t, log[2].at.Before(notBefore.Load().(time.Time).Add(-tolerance)), "retried at %s, Retry-After said %s", log[2].at, notBefore.Load())
			st := c.Stats()
			require.Equal(t, 1, st.Status429)
			require.Equal(t, 1, st.Retries)
			require.Zero(t, st.Errors)
		})
	}
}

func TestServerErrorsAndTimeoutsAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusBadGateway)
		case 2:
			time.Sleep(300 * time.Millisecond) // longer than the timeout
			okJSON(w, r)
		default:
			okJSON(w, r)
		}
	})
	cfg := testConfig(t, up.URL)
	cfg.Timeout = 100 * time.Millisecond
	cfg.MaxRetries = 3
	c := New(cfg, Options{Jitter: func() float64 { return 0.999 }})
	res, err := c.Fetch(context.Background(), "/api/v1/fragrances?page=1", parseJSON)
	require.NoError(t, err)
	require.Equal(t, 3, res.Attempts)
	log := up.log()
	require.Len(t, log, 4)
	// Full jitter with the ceiling doubling: about 5 ms, then 10 ms (plus the timeout).
	require.GreaterOrEqual(t, log[2].at.Sub(log[1].at), 5*time.Millisecond-tolerance)
	require.GreaterOrEqual(t, log[3].at.Sub(log[2].at), 100*time.Millisecond+10*time.Millisecond-tolerance)
	st := c.Stats()
	require.Equal(t, 2, st.Retries)
	require.Zero(t, st.Errors)
	require.Zero(t, st.Status429)
	require.False(t, st.Degraded, "retries that end in success are not a degraded crawl")
	require.Empty(t, st.DegradedReason)
}

func TestBudgetIsNeverExceeded(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // retries count against the budget too
			return
		}
		okJSON(w, r)
	})
	cfg := testConfig(t, up.URL)
	cfg.MaxRequests = 7
	c := New(cfg, Options{})
	var exhausted int
	for i := 1; i <= 10; i++ {
		_, err := c.Fetch(context.Background(), fmt.Sprintf("/api/v1/fragrances?page=%d", i), parseJSON)
		if errors.Is(err, ErrBudgetExhausted) {
			exhausted++
			continue
		}
		require.NoError(t, err)
	}
	require.Len(t, up.log(), 7, "robots.txt, pages and retries together stay within max_requests_per_cycle")
	require.Positive(t, exhausted)
	st := c.Stats()
	require.Equal(t, 7, st.Requests)
	require.True(t, st.BudgetExhausted)
	require.True(t, st.Degraded)
	require.Contains(t, st.DegradedReason, "request budget spent")
}

// TestBudgetIsSharedWithAnEarlierClientOfTheCycle: a client told that the
// cycle's detect step already sent 5 of 7 requests sends 2 (robots.txt
// and one page), so the cycle as a whole stays within
// max_requests_per_cycle.
func TestBudgetIsSharedWithAnEarlierClientOfTheCycle(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "User-agent: *\nAllow: /\n", okJSON)
	cfg := testConfig(t, up.URL)
	cfg.MaxRequests = 7
	c := New(cfg, Options{Spent: 5})
	var fetched, exhausted int
	for i := 1; i <= 4; i++ {
		_, err := c.Fetch(context.Background(), fmt.Sprintf("/api/v1/fragrances?page=%d", i), parseJSON)
		if errors.Is(err, ErrBudgetExhausted) {
			exhausted++
			continue
		}
		require.NoError(t, err)
		fetched++
	}
	require.Len(t, up.log(), 2, "robots.txt and one page: 5 + 2 = max_requests_per_cycle")
	require.Equal(t, 1, fetched)
	require.Equal(t, 3, exhausted)
	require.True(t, c.Stats().BudgetExhausted)

	spent := New(cfg, Options{Spent: 7})
	_, err := spent.Fetch(context.Background(), "/api/v1/fragrances?page=1", parseJSON)
	require.ErrorIs(t, err, ErrBudgetExhausted)
	require.Len(t, up.log(), 2, "a spent budget sends nothing, not even robots.txt")
}

func TestMalformedAndOversizedPagesAreSkippedAndCounted(t *testing.T) {
	t.Parallel()
	var sentBig atomic.Int64
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>Service temporarily unavailable</body></html>")
		case "/big":
			// 50 MB streamed without a Content-Length: the client stops at its limit.
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			w.Header().Set("Content-Type", "application/json")
			for i := 0; i < 800; i++ {
				n, err := w.Write(chunk)
				sentBig.Add(int64(n))
				if err != nil {
					return
				}
			}
		case "/big-declared":
			w.Header().Set("Content-Length", fmt.Sprint(50<<20))
			w.WriteHeader(http.StatusOK)
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
		default:
			okJSON(w, r)
		}
	})
	cfg := testConfig(t, up.URL)
	cfg.MaxBodyBytes = 256 << 10
	c := New(cfg, Options{})
	for _, p := range []string{"/html", "/big", "/big-declared", "/gone"} {
		_, err := c.Fetch(context.Background(), p, parseJSON)
		var pe *PageError
		require.ErrorAs(t, err, &pe, p)
		require.NotEmpty(t, pe.Reason)
	}
	_, err := c.Fetch(context.Background(), "/fine", parseJSON)
	require.NoError(t, err, "the crawl goes on after bad pages")
	st := c.Stats()
	require.Equal(t, 4, st.Errors)
	require.Zero(t, st.Retries, "bad content is not retried")
	require.Less(t, sentBig.Load(), int64(50<<20), "the 50 MB body was not read to its end")
}

func TestCircuitOpensAfterRepeatedFailures(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	cfg := testConfig(t, up.URL)
	cfg.MaxRetries, cfg.CircuitThreshold = 1, 3
	c := New(cfg, Options{})
	var circuit int
	for i := 1; i <= 5; i++ {
		_, err := c.Fetch(context.Background(), fmt.Sprintf("/api/v1/fragrances?page=%d", i), parseJSON)
		require.Error(t, err)
		var ce *CircuitOpenError
		if errors.As(err, &ce) {
			circuit++
		}
	}
	// Page 1: two attempts, page 2: the third failure opens the circuit;
	// pages 3-5 send nothing.
	require.Equal(t, []string{"/robots.txt", "/api/v1/fragrances?page=1", "/api/v1/fragrances?page=1", "/api/v1/fragrances?page=2"}, up.uris())
	require.Equal(t, 4, circuit)
	st := c.Stats()
	require.True(t, st.CircuitOpen)
	require.Contains(t, st.CircuitReason, "3 consecutive failed attempts")
	require.Equal(t, 2, st.Errors)
	require.True(t, st.Degraded)
	require.Equal(t, "circuit open: "+st.CircuitReason+"; 2 page(s) skipped after errors", st.DegradedReason)
}

func TestRetryAfterLongerThanWeWaitOpensTheCircuit(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c := New(testConfig(t, up.URL), Options{})
	_, err := c.Fetch(context.Background(), "/api/v1/trending?page=1", parseJSON)
	var ce *CircuitOpenError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Reason, "Retry-After")
	_, err = c.Fetch(context.Background(), "/api/v1/trending?page=2", parseJSON)
	require.ErrorAs(t, err, &ce)
	require.Len(t, up.log(), 2, "robots.txt and the one 429")
}

// TestRetryAfterHoldsTheNextClientOfTheCycle: a 429 whose Retry-After
// comes with the attempt that opens the circuit still holds the upstream's
// wish in the stats, and a later client of the same cycle (the import
// step's fetch) sends nothing before it ends.
func TestRetryAfterHoldsTheNextClientOfTheCycle(t *testing.T) {
	t.Parallel()
	var throttled atomic.Bool
	throttled.Store(true)
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		if throttled.Load() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		okJSON(w, r)
	})
	cfg := testConfig(t, up.URL)
	cfg.CircuitThreshold, cfg.BackoffMax = 1, 5*time.Second
	first := New(cfg, Options{})
	_, err := first.Fetch(context.Background(), "/api/v1/trending?page=1", parseJSON)
	var ce *CircuitOpenError
	require.ErrorAs(t, err, &ce)
	st := first.Stats()
	require.NotNil(t, st.RetryAfterUntil, "the Retry-After of the attempt that opened the circuit")
	until := *st.RetryAfterUntil
	answered := up.log()[1].at
	require.WithinDuration(t, answered.Add(time.Second), until, 500*time.Millisecond)

	throttled.Store(false)
	next := New(cfg, Options{NotBefore: until})
	_, err = next.Fetch(context.Background(), "/api/v1/trending?page=1", parseJSON)
	require.NoError(t, err)
	log := up.log()
	require.Len(t, log, 4) // robots.txt and the 429; then robots.txt and the page
	require.False(t, log[2].at.Before(until.Add(-tolerance)), "the next client started at %s, before %s", log[2].at, until)
	require.Nil(t, next.Stats().RetryAfterUntil, "the hold has passed")

	// A hold longer than backoff_max_ms is cut to it: a client never waits
	// longer for a Retry-After than its own retries would.
	cfg.BackoffMax = 100 * time.Millisecond
	capped := New(cfg, Options{NotBefore: time.Now().Add(time.Hour)})
	st = capped.Stats()
	require.NotNil(t, st.RetryAfterUntil)
	require.False(t, st.RetryAfterUntil.After(time.Now().Add(cfg.BackoffMax)))
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "User-agent: *\nDisallow: /private\n", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/private/page", http.StatusFound)
	})
	c := New(testConfig(t, up.URL), Options{})
	_, err := c.Fetch(context.Background(), "/api/v1/fragrances?page=1", parseJSON)
	var pe *PageError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Reason, "redirect")
	require.NotContains(t, up.uris(), "/private/page")
}

func TestUnchangedPageCostsA304AndYieldsTheStoredPayload(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	const etag = `"v1"`
	lastModified := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	up := newUpstream(t, "User-agent: *\nAllow: /\n", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/etag":
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
		case "/date":
			if r.Header.Get("If-Modified-Since") == lastModified {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Last-Modified", lastModified)
		}
		fmt.Fprintf(w, `{"items": [{"source_id": %q}], "next_page": null}`, r.URL.Path)
	})
	parsed := 0
	parse := func(body []byte, h http.Header) ([]byte, error) {
		parsed++
		var page struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		return json.Marshal(page.Items)
	}
	cache := PGCache{DB: pool}
	first := map[string][]byte{}
	// Two cycles: two clients on the same cache.
	for cycle := 1; cycle <= 2; cycle++ {
		c := New(testConfig(t, up.URL), Options{Cache: cache})
		for _, p := range []string{"/etag", "/date"} {
			res, err := c.Fetch(context.Background(), p, parse)
			require.NoError(t, err)
			if cycle == 1 {
				require.False(t, res.NotModified)
				first[p] = res.Payload
				continue
			}
			require.True(t, res.NotModified, p)
			require.JSONEq(t, string(first[p]), string(res.Payload))
		}
		if cycle == 2 {
			require.Equal(t, 2, c.Stats().NotModified)
		}
	}
	require.Equal(t, 2, parsed, "the 304s were not parsed again")
	var conditional int
	for _, h := range up.log() {
		if h.ifNoneMatch == etag || h.ifModified == lastModified {
			conditional++
		}
	}
	require.Equal(t, 2, conditional)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM crawl_cache WHERE source = 'test' AND validated_at > fetched_at`).Scan(&n))
	require.Equal(t, 2, n)
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120":                           2 * time.Minute,
		"Sun, 29 Nov 2026 02:00:30 GMT": 30 * time.Second,
		"Sun, 29 Nov 2026 01:00:00 GMT": 0,
	} {
		h := http.Header{}
		h.Set("Retry-After", v)
		got, ok := parseRetryAfter(h, now)
		require.True(t, ok, v)
		require.Equal(t, want, got, v)
	}
	for _, v := range []string{"", "soon", "-5"} {
		h := http.Header{}
		h.Set("Retry-After", v)
		_, ok := parseRetryAfter(h, now)
		require.False(t, ok, v)
	}
}
