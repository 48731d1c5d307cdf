package crawl

import (
	"errors"
	"fmt"
)

// ErrBudgetExhausted is returned once max_requests_per_cycle requests have
// been sent: nothing more is requested this cycle.
var ErrBudgetExhausted = errors.New("the request budget of this cycle is spent (max_requests_per_cycle)")

// BlockedError says robots.txt does not allow the URL for our user agent;
// no request was sent.
type BlockedError struct {
	URL string
	// Reason says why, e.g. "disallowed by robots.txt" or "robots.txt
	// answered 503 (treated as disallow all)".
	Reason string
}

func (e *BlockedError) Error() string { return fmt.Sprintf("%s: %s", e.URL, e.Reason) }

// CircuitOpenError says the circuit is open: the upstream failed too often
// (or asked us to stay away longer than we wait), so nothing more is sent.
type CircuitOpenError struct {
	Reason string
}

func (e *CircuitOpenError) Error() string { return "circuit open: " + e.Reason }

// PageError is a page that was fetched (or failed for good) and skipped:
// an error status, a body too large, or content the caller could not parse.
type PageError struct {
	URL    string
	Status int
	Reason string
}

func (e *PageError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.URL, e.Status, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.URL, e.Reason)
}
