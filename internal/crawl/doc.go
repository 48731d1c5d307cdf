// Package crawl is the polite HTTP client every HTTP upstream is read
// through. One Client serves one source for one cycle and guarantees, for
// every request it sends:
//
//   - robots.txt is fetched first and obeyed for the configured user agent
//     (a disallowed URL is never requested; Crawl-delay raises the spacing);
//   - request starts are spaced by at least the largest of delay_ms,
//     Crawl-delay and 60s / rate_limit (a golang.org/x/time/rate limiter
//     with a burst of one), and at most max_concurrency are in flight;
//   - 429, 5xx, timeouts and connection errors are retried up to
//     max_retries times with exponential backoff and full jitter, waiting at
//     least what Retry-After asks (seconds or an HTTP date), which also holds
//     back every other request;
//   - after circuit_breaker_failures consecutive failed attempts (or a
//     Retry-After longer than backoff_max_ms) the circuit opens and no
//     further request is sent this cycle;
//   - no more than max_requests_per_cycle requests are sent, robots.txt and
//     retries included;
//   - validators (ETag, Last-Modified) and the parsed page are kept in a
//     Cache (the crawl_cache table), so an unchanged page costs a 304 and
//     still yields its content;
//   - a body larger than max_body_bytes is not read past the limit; a page
//     the caller cannot parse is skipped and counted as an error;
//   - every request is logged (URL, status, latency, attempt) and counted
//     in Stats.
package crawl
