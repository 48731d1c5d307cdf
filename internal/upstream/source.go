// Package upstream reads fragrance catalogs the pipeline does not own.
// Every source sits behind the Source interface: the HTTP source reads the
// JSON catalog API (docs/upstream.md) through the polite crawl client, the
// snapshot source reads the same data from files stamped with their
// observation time (offline runs, backfills, benchmarks). The local
// sandbox is an HTTP source whose base URL is a loopback server.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Item is one fragrance as an upstream lists it, with the popularity it
// showed when observed.
type Item struct {
	SourceID      string   `json:"source_id"`
	Brand         string   `json:"brand"`
	Name          string   `json:"name"`
	Concentration string   `json:"concentration,omitempty"`
	Gender        string   `json:"gender,omitempty"`
	Votes         *int64   `json:"votes,omitempty"`
	Rating        *float64 `json:"rating,omitempty"`
	// Rank is the place in the trending list (1 = first); catalog
	// listings carry none.
	Rank *int `json:"rank,omitempty"`
	// Record is the item as the upstream sent it, in the import record
	// format (catalog listings; trending items carry only the summary).
	Record json.RawMessage `json:"record,omitempty"`
}

// Page is one page of a listing.
type Page struct {
	Number   int    `json:"page"`
	Items    []Item `json:"items"`
	NextPage *int   `json:"next_page"`
	// Total is the listing's size when the upstream says it.
	Total *int `json:"total,omitempty"`
	// ObservedAt is when the data was current: the fetch time for HTTP
	// (a 304 confirms the stored page is current), the file's stamp for a
	// snapshot.
	ObservedAt  time.Time `json:"-"`
	NotModified bool      `json:"-"`
}

// Listing names what to list.
type Listing struct {
	// Trending lists the upstream's trending fragrances, best first;
	// otherwise the catalog, restricted to Brand when not empty.
	Trending bool
	Brand    string
}

func (l Listing) String() string {
	switch {
	case l.Trending:
		return "trending list"
	case l.Brand != "":
		return "catalog of " + l.Brand
	}
	return "catalog"
}

// ErrLocalOnly says a source is the local sandbox, which runs only on a
// developer's machine: a deployment cannot crawl it.
var ErrLocalOnly = errors.New("the local sandbox runs only on this machine")

// ErrStop, returned by a List callback, ends the listing without error.
var ErrStop = errors.New("stop listing")

// Source is an upstream catalog.
type Source interface {
	// Name is the source's key in scraping_ethics.json, also the source
	// of the identities and observations it yields.
	Name() string
	// Ready checks that the source may be read at all; for HTTP it
	// fetches robots.txt and returns a *crawl.BlockedError when the
	// catalog is disallowed.
	Ready(ctx context.Context) error
	// List calls fn for each page of the listing, at most maxPages, until
	// the listing ends or fn returns ErrStop. Pages that cannot be read are
	// skipped and counted in Stats. It returns crawl.ErrBudgetExhausted or
	// a *crawl.CircuitOpenError when the crawl must stop (see Exhausted),
	// and the context's error when cancelled.
	List(ctx context.Context, l Listing, maxPages int, fn func(*Page) error) error
	// FetchRecord returns one fragrance in the import record format
	// (GET /api/v1/fragrances/{source_id}): what the import step fetches
	// for each candidate.
	FetchRecord(ctx context.Context, sourceID string) (json.RawMessage, error)
	// Stats counts the requests made and the pages skipped.
	Stats() crawl.Stats
}

// Exhausted reports whether err means no more requests may be sent this
// cycle (budget spent, circuit open): the caller goes on with what it has.
func Exhausted(err error) bool {
	var ce *crawl.CircuitOpenError
	return errors.Is(err, crawl.ErrBudgetExhausted) || errors.As(err, &ce)
}

// Deps are what opening a source may need.
type Deps struct {
	// Cache keeps HTTP validators and parsed pages (nil: unconditional requests).
	Cache  crawl.Cache
	Logger *slog.Logger
	Now    func() time.Time
	// BaseURL replaces the configured base_url (the sandbox's address).
	BaseURL   string
	Transport http.RoundTripper
	// NotBefore holds the source's first request until then (at most
	// backoff_max_ms): the Retry-After the cycle's detect step received.
	NotBefore time.Time
	// Spent is the requests the cycle's detect step already sent to this
	// source; they count against its max_requests_per_cycle.
	Spent int
}

// Open returns the configured source name. A sandbox source needs
// deps.BaseURL: the caller starts the sandbox (it runs only locally).
func Open(name string, s settings.Source, deps Deps) (Source, error) {
	switch s.Kind {
	case "http":
		return NewHTTP(name, s, deps)
	case "sandbox":
		if deps.BaseURL == "" {
			return nil, fmt.Errorf("source %s is the local sandbox: %w (scentmatch detect starts it; scentmatch sandbox serve runs it alone)", name, ErrLocalOnly)
		}
		return NewHTTP(name, s, deps)
	case "snapshot":
		return NewSnapshot(name, s.SnapshotDir, deps), nil
	}
	return nil, fmt.Errorf("source %s: unknown kind %q (http, snapshot or sandbox)", name, s.Kind)
}
