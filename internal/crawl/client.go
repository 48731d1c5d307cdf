package crawl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/temoto/robotstxt"
	"golang.org/x/time/rate"

	"github.com/scentmatch/pipeline/internal/settings"
)

// Options are a Client's collaborators. All are optional.
type Options struct {
	// Cache keeps validators and parsed pages (nil: no conditional requests).
	Cache  Cache
	Logger *slog.Logger
	// Now stamps cache entries and stats (time.Now by default). Spacing and
	// backoff always run on real timers: they are what the upstream sees.
	Now func() time.Time
	// Jitter returns a number in [0, 1) for full-jitter backoff (math/rand/v2 by default).
	Jitter func() float64
	// Transport replaces http.DefaultTransport.
	Transport http.RoundTripper
	// NotBefore holds every request until then (at most backoff_max_ms
	// from now): a Retry-After that an earlier client of the same cycle
	// received (Stats.RetryAfterUntil of the detect step).
	NotBefore time.Time
	// Spent is how many requests earlier clients of the same cycle already
	// sent to this source (the detect step's Stats.Requests): they count
	// against max_requests_per_cycle, which bounds the cycle, not each
	// client.
	Spent int
}

// Stats counts what a Client did. It is the "crawl" object of the detect
// step's result.
type Stats struct {
	Source string `json:"source"`
	// Requests sent, robots.txt and retries included.
	Requests    int `json:"requests"`
	NotModified int `json:"not_modified"`
	Status429   int `json:"status_429"`
	Retries     int `json:"retries"`
	// RobotsBlocked counts URLs not requested because robots.txt disallows them.
	RobotsBlocked int `json:"robots_blocked"`
	// Errors counts pages skipped: failed for good, too large, or unparsable.
	Errors int `json:"errors"`
	// ItemsSkipped counts items dropped from pages that were kept (no
	// source_id, a wrong-typed field).
	ItemsSkipped        int     `json:"items_skipped"`
	EffectiveRatePerMin float64 `json:"effective_rate_per_min"`
	CircuitOpen         bool    `json:"circuit_open"`
	CircuitReason       string  `json:"circuit_reason,omitempty"`
	BudgetExhausted     bool    `json:"budget_exhausted"`
	// Blocked is set when robots.txt shuts us out of the whole catalog.
	Blocked       bool   `json:"blocked"`
	BlockedReason string `json:"blocked_reason,omitempty"`
	// Degraded is set when the crawl got less than it asked for: the
	// circuit opened, the budget ran out, or pages were skipped after
	// errors. The step went on with what it had; DegradedReason says why.
	Degraded       bool   `json:"degraded"`
	DegradedReason string `json:"degraded_reason,omitempty"`
	// RetryAfterUntil is when the last Retry-After the upstream sent ends,
	// while it has not ended yet: the next step's client holds its
	// requests until then (Options.NotBefore).
	RetryAfterUntil *time.Time `json:"retry_after_until,omitempty"`
}

// assess sets Degraded and DegradedReason from the counters.
func (s *Stats) assess() {
	var why []string
	if s.CircuitOpen {
		why = append(why, "circuit open: "+s.CircuitReason)
	}
	if s.BudgetExhausted {
		why = append(why, "request budget spent (max_requests_per_cycle)")
	}
	if s.Errors > 0 {
		why = append(why, fmt.Sprintf("%d page(s) skipped after errors", s.Errors))
	}
	s.Degraded, s.DegradedReason = len(why) > 0, strings.Join(why, "; ")
}

// Client is a polite HTTP client for one source and one cycle. It is safe
// for concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client
	cache  Cache
	logger *slog.Logger
	now    func() time.Time
	jitter func() float64

	limiter *rate.Limiter
	sem     chan struct{}

	robotsMu     sync.Mutex
	robotsDone   bool
	robots       *robotstxt.RobotsData
	robotsReason string // why robots is disallow-all, when it is
	// token is the user agent's product token that robots.txt groups are
	// matched against (RFC 9309 §2.2.1), not the whole User-Agent string.
	token string

	mu          sync.Mutex
	stats       Stats
	notBefore   time.Time     // Retry-After holds every request until then
	spacing     time.Duration // least time between request starts
	failures    int           // consecutive failed attempts
	reserved    int           // budget slots taken
	first, last time.Time     // real times of the first and last request starts
}

// New returns a Client for cfg.
func New(cfg Config, opts Options) *Client {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if cfg.MaxConcurrency < 1 {
		cfg.MaxConcurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.BackoffInitial <= 0 {
		cfg.BackoffInitial = 500 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffInitial {
		cfg.BackoffMax = cfg.BackoffInitial
	}
	if cfg.CircuitThreshold < 1 {
		cfg.CircuitThreshold = 5
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 5 << 20
	}
	c := &Client{
		cfg: cfg,
		http: &http.Client{
			Transport: opts.Transport,
			// A redirect is a page of its own: it would have to pass
			// robots.txt, the spacing and the budget; the source's base_url
			// should name the final location instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache:   opts.Cache,
		logger:  opts.Logger,
		now:     opts.Now,
		jitter:  opts.Jitter,
		limiter: rate.NewLimiter(limitFor(cfg.interval()), 1),
		sem:     make(chan struct{}, cfg.MaxConcurrency),
	}
	c.stats.Source = cfg.Source
	c.token = settings.ProductToken(cfg.UserAgent)
	c.spacing = cfg.interval()
	if opts.Spent > 0 {
		c.reserved = opts.Spent
	}
	if limit := time.Now().Add(cfg.BackoffMax); opts.NotBefore.After(limit) {
		c.notBefore = limit
	} else {
		c.notBefore = opts.NotBefore
	}
	return c
}

func limitFor(interval time.Duration) rate.Limit {
	if interval <= 0 {
		return rate.Inf
	}
	return rate.Every(interval)
}

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	if s.Requests > 1 {
		if span := c.last.Sub(c.first); span > 0 {
			s.EffectiveRatePerMin = math.Round(float64(s.Requests-1)/span.Minutes()*10) / 10
		}
	}
	s.assess()
	if now := time.Now(); c.notBefore.After(now) {
		until := c.notBefore.UTC()
		s.RetryAfterUntil = &until
	}
	return s
}

// CountError counts a page the caller skipped for a reason found after the
// fetch (e.g. a next_page loop).
func (c *Client) CountError() {
	c.mu.Lock()
	c.stats.Errors++
	c.mu.Unlock()
}

// CountItemsSkipped counts items the caller dropped from a page it kept.
func (c *Client) CountItemsSkipped(n int) {
	c.mu.Lock()
	c.stats.ItemsSkipped += n
	c.mu.Unlock()
}

// Result is a fetched page.
type Result struct {
	URL    string
	Status int
	// Payload is what parse returned for a fresh page, or the stored
	// payload when the upstream answered 304.
	Payload     []byte
	NotModified bool
	Attempts    int
}

// ParseFunc turns a 200 body into the payload to return and to store
// with the validators. An error skips the page (a *PageError, counted).
type ParseFunc func(body []byte, header http.Header) ([]byte, error)

// Fetch GETs path (relative to the base URL, query included), politely:
// allowed by robots.txt, spaced, within the budget, retried, and
// conditional on the validators the cache holds for it.
func (c *Client) Fetch(ctx context.Context, path string, parse ParseFunc) (*Result, error) {
	u, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	if err := c.ensureRobots(ctx); err != nil {
		return nil, err
	}
	if ok, reason := c.allowed(u); !ok {
		c.mu.Lock()
		c.stats.RobotsBlocked++
		c.mu.Unlock()
		c.logger.InfoContext(ctx, "upstream URL not requested", "source", c.cfg.Source, "url", u.String(), "reason", reason)
		return nil, &BlockedError{URL: u.String(), Reason: reason}
	}
	key := u.RequestURI()
	var cached Entry
	var haveCached bool
	if c.cache != nil {
		if cached, haveCached, err = c.cache.Get(ctx, c.cfg.Source, key); err != nil {
			c.logger.WarnContext(ctx, "crawl cache unavailable; fetching unconditionally", "source", c.cfg.Source, "err", err)
			haveCached = false
		}
	}
	header := http.Header{}
	header.Set("Accept", "application/json")
	if haveCached {
		if cached.ETag != "" {
			header.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			header.Set("If-Modified-Since", cached.LastModified)
		}
	}
	resp, err := c.do(ctx, u, header)
	if err != nil {
		return nil, err
	}
	res := &Result{URL: u.String(), Status: resp.status, Attempts: resp.attempts}
	switch {
	case resp.status == http.StatusNotModified && haveCached:
		c.mu.Lock()
		c.stats.NotModified++
		c.mu.Unlock()
		if c.cache != nil {
			if err := c.cache.Touch(ctx, c.cfg.Source, key, c.now()); err != nil {
				c.logger.WarnContext(ctx, "crawl cache not updated", "source", c.cfg.Source, "err", err)
			}
		}
		res.Payload, res.NotModified = cached.Payload, true
		return res, nil
	case resp.status == http.StatusOK:
		payload, err := parse(resp.body, resp.header)
		if err != nil {
			return nil, c.pageError(ctx, u, resp.status, err.Error())
		}
		res.Payload = payload
		if c.cache != nil && (resp.header.Get("ETag") != "" || resp.header.Get("Last-Modified") != "") {
			e := Entry{ETag: resp.header.Get("ETag"), LastModified: resp.header.Get("Last-Modified"), Payload: payload}
			if err := c.cache.Put(ctx, c.cfg.Source, key, e, c.now()); err != nil {
				c.logger.WarnContext(ctx, "crawl cache not updated", "source", c.cfg.Source, "err", err)
			}
		}
		return res, nil
	case resp.status == http.StatusNotModified:
		return nil, c.pageError(ctx, u, resp.status, "304 Not Modified for a request that was not conditional")
	case resp.status >= 300 && resp.status < 400:
		return nil, c.pageError(ctx, u, resp.status, "redirect to "+resp.header.Get("Location")+" not followed (set base_url to the final location)")
	default:
		return nil, c.pageError(ctx, u, resp.status, "unexpected status")
	}
}

func (c *Client) pageError(ctx context.Context, u *url.URL, status int, reason string) error {
	c.CountError()
	c.logger.WarnContext(ctx, "upstream page skipped", "source", c.cfg.Source, "url", u.String(), "status", status, "reason", reason)
	return &PageError{URL: u.String(), Status: status, Reason: reason}
}

func (c *Client) resolve(path string) (*url.URL, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("upstream path %q: %w", path, err)
	}
	if ref.IsAbs() || ref.Host != "" {
		return nil, fmt.Errorf("upstream path %q: must be relative to the base URL", path)
	}
	u := *c.cfg.BaseURL
	u.Path = strings.TrimRight(u.Path, "/") + "/" + strings.TrimLeft(ref.Path, "/")
	u.RawQuery = ref.RawQuery
	return &u, nil
}

// response is one attempt's outcome that ended the retry loop.
type response struct {
	status   int
	header   http.Header
	body     []byte
	attempts int
}

// do sends one GET with retries. It returns a response for any final
// status (2xx, 3xx, 4xx other than 429) and an error when the request
// failed for good, the budget is spent or the circuit is open.
func (c *Client) do(ctx context.Context, u *url.URL, header http.Header) (*response, error) {
	for attempt := 1; ; attempt++ {
		status, h, body, err := c.attempt(ctx, u, header, attempt)
		if err != nil && (errors.Is(err, ErrBudgetExhausted) || isCircuit(err) || ctx.Err() != nil) {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("fetching %s: %w", u, ctx.Err())
			}
			return nil, err
		}
		var tooLarge *PageError
		if errors.As(err, &tooLarge) {
			c.recordSuccess()
			return nil, c.pageError(ctx, u, tooLarge.Status, tooLarge.Reason)
		}
		retryable := err != nil || status == http.StatusTooManyRequests || status >= 500
		if !retryable {
			c.recordSuccess()
			return &response{status: status, header: h, body: body, attempts: attempt}, nil
		}
		reason := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			reason = err.Error()
		}
		retryAfter, hasRetryAfter := parseRetryAfter(h, time.Now())
		if hasRetryAfter {
			// The upstream's wish holds whether or not we retry: the next
			// step of the cycle reads it from Stats.RetryAfterUntil.
			c.holdUntil(time.Now().Add(retryAfter))
		}
		if open := c.recordFailure(reason); open {
			return nil, c.failed(ctx, u, status, &CircuitOpenError{Reason: c.circuitReason()})
		}
		if hasRetryAfter && retryAfter > c.cfg.BackoffMax {
			c.openCircuit(fmt.Sprintf("%s asked us to wait %s (Retry-After), longer than backoff_max_ms", c.cfg.BaseURL.Host, retryAfter.Round(time.Second)))
			return nil, c.failed(ctx, u, status, &CircuitOpenError{Reason: c.circuitReason()})
		}
		if attempt > c.cfg.MaxRetries {
			return nil, c.failed(ctx, u, status, &PageError{URL: u.String(), Status: status, Reason: fmt.Sprintf("gave up after %d attempt(s): %s", attempt, reason)})
		}
		wait := c.backoff(attempt)
		if hasRetryAfter {
			if retryAfter > wait {
				wait = retryAfter
			}
		}
		c.mu.Lock()
		c.stats.Retries++
		c.mu.Unlock()
		c.logger.InfoContext(ctx, "upstream request will be retried", "source", c.cfg.Source, "url", u.String(), "attempt", attempt,
			"reason", reason, "wait_ms", wait.Milliseconds())
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("fetching %s: %w", u, err)
		}
	}
}

// failed counts a request that failed for good and returns err.
func (c *Client) failed(ctx context.Context, u *url.URL, status int, err error) error {
	c.CountError()
	c.logger.WarnContext(ctx, "upstream request failed", "source", c.cfg.Source, "url", u.String(), "status", status, "err", err)
	return err
}

func isCircuit(err error) bool {
	var ce *CircuitOpenError
	return errors.As(err, &ce)
}

// backoff is the full-jitter exponential backoff before retry number attempt.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := float64(c.cfg.BackoffInitial) * math.Pow(2, float64(attempt-1))
	if ceiling > float64(c.cfg.BackoffMax) {
		ceiling = float64(c.cfg.BackoffMax)
	}
	return time.Duration(c.jitter() * ceiling)
}

// attempt sends one request once its turn comes: within the budget, after
// any Retry-After hold, spaced by the limiter, with at most max_concurrency
// in flight.
func (c *Client) attempt(ctx context.Context, u *url.URL, header http.Header, attempt int) (int, http.Header, []byte, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := c.reserve(); err != nil {
		return 0, nil, nil, err
	}
	start, err := c.waitTurn(ctx)
	if err != nil {
		return 0, nil, nil, err
	}

	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		c.logRequest(ctx, u, 0, start, attempt, err)
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		return 0, nil, nil, describe(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		c.mu.Lock()
		c.stats.Status429++
		c.mu.Unlock()
	}
	var body []byte
	if resp.StatusCode == http.StatusOK {
		if resp.ContentLength > c.cfg.MaxBodyBytes {
			c.logRequest(ctx, u, resp.StatusCode, start, attempt, nil)
			return resp.StatusCode, resp.Header, nil, &PageError{URL: u.String(), Status: resp.StatusCode,
				Reason: fmt.Sprintf("body of %d bytes is larger than max_body_bytes (%d); not read", resp.ContentLength, c.cfg.MaxBodyBytes)}
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
		if err != nil {
			c.logRequest(ctx, u, resp.StatusCode, start, attempt, err)
			if ctx.Err() != nil {
				return 0, nil, nil, ctx.Err()
			}
			return 0, resp.Header, nil, describe(err)
		}
		if int64(len(body)) > c.cfg.MaxBodyBytes {
			c.logRequest(ctx, u, resp.StatusCode, start, attempt, nil)
			return resp.StatusCode, resp.Header, nil, &PageError{URL: u.String(), Status: resp.StatusCode,
				Reason: fmt.Sprintf("body larger than max_body_bytes (%d); reading stopped there", c.cfg.MaxBodyBytes)}
		}
	} else {
		// Error bodies are small or irrelevant; read a little so the
		// connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	c.logRequest(ctx, u, resp.StatusCode, start, attempt, nil)
	return resp.StatusCode, resp.Header, body, nil
}

func (c *Client) logRequest(ctx context.Context, u *url.URL, status int, start time.Time, attempt int, err error) {
	attrs := []any{"source", c.cfg.Source, "url", u.String(), "status", status,
		"latency_ms", float64(time.Since(start).Microseconds()) / 1000, "attempt", attempt}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	c.logger.InfoContext(ctx, "upstream request", attrs...)
}

// describe names a transport failure; timeouts say so.
func describe(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

// reserve takes one request from the budget.
func (c *Client) reserve() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats.CircuitOpen {
		return &CircuitOpenError{Reason: c.stats.CircuitReason}
	}
	if c.cfg.MaxRequests > 0 && c.reserved >= c.cfg.MaxRequests {
		c.stats.BudgetExhausted = true
		return ErrBudgetExhausted
	}
	c.reserved++
	return nil
}

// waitTurn waits for the rate limiter, then for the spacing gate: the
// previous request's actual start plus the spacing, and any Retry-After
// hold. The gate re-checks against real start times because the limiter's
// reservations, made in advance, would all come due at once after a stall
// (a frozen Lambda, a long GC pause). It claims the slot and returns the
// request's start time; a circuit opened meanwhile refuses it.
func (c *Client) waitTurn(ctx context.Context) (time.Time, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return time.Time{}, err
	}
	for {
		c.mu.Lock()
		if c.stats.CircuitOpen {
			reason := c.stats.CircuitReason
			c.mu.Unlock()
			return time.Time{}, &CircuitOpenError{Reason: reason}
		}
		next := c.notBefore
		if !c.last.IsZero() && c.last.Add(c.spacing).After(next) {
			next = c.last.Add(c.spacing)
		}
		now := time.Now()
		if !now.Before(next) {
			if c.first.IsZero() {
				c.first = now
			}
			c.last = now
			c.stats.Requests++
			c.mu.Unlock()
			return now, nil
		}
		c.mu.Unlock()
		if err := sleep(ctx, next.Sub(now)); err != nil {
			return time.Time{}, err
		}
	}
}

func (c *Client) holdUntil(t time.Time) {
	c.mu.Lock()
	if t.After(c.notBefore) {
		c.notBefore = t
	}
	c.mu.Unlock()
}

func (c *Client) recordSuccess() {
	c.mu.Lock()
	c.failures = 0
	c.mu.Unlock()
}

// recordFailure counts a failed attempt and opens the circuit at the
// threshold; it reports whether the circuit is open.
func (c *Client) recordFailure(reason string) bool {
	c.mu.Lock()
	c.failures++
	n := c.failures
	open := c.stats.CircuitOpen
	c.mu.Unlock()
	if !open && n >= c.cfg.CircuitThreshold {
		c.openCircuit(fmt.Sprintf("%d consecutive failed attempts (last: %s)", n, reason))
		return true
	}
	return open
}

func (c *Client) openCircuit(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats.CircuitOpen {
		return
	}
	c.stats.CircuitOpen, c.stats.CircuitReason = true, reason
	c.logger.Warn("upstream circuit opened: no more requests this cycle", "source", c.cfg.Source, "reason", reason)
}

func (c *Client) circuitReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats.CircuitReason
}

// parseRetryAfter reads Retry-After in seconds or as an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
