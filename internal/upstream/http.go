package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/settings"
)

// API paths of the catalog API (docs/upstream.md).
const (
	PathFragrances = "/api/v1/fragrances"
	PathTrending   = "/api/v1/trending"
)

// HTTP reads the JSON catalog API through the polite crawl client.
type HTTP struct {
	name   string
	client *crawl.Client
	logger *slog.Logger
	now    func() time.Time
}

var _ Source = (*HTTP)(nil)

// NewHTTP returns the HTTP source for a scraping_ethics.json entry.
func NewHTTP(name string, s settings.Source, deps Deps) (*HTTP, error) {
	cfg, err := crawl.ConfigFrom(name, s, deps.BaseURL)
	if err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	client := crawl.New(cfg, crawl.Options{Cache: deps.Cache, Logger: deps.Logger, Now: deps.Now, Transport: deps.Transport, NotBefore: deps.NotBefore, Spent: deps.Spent})
	return &HTTP{name: name, client: client, logger: deps.Logger, now: deps.Now}, nil
}

// Name implements Source.
func (h *HTTP) Name() string { return h.name }

// Stats implements Source.
func (h *HTTP) Stats() crawl.Stats { return h.client.Stats() }

// Ready implements Source: the catalog API must be allowed by robots.txt
// (the listing and the trending list; either is enough to detect).
func (h *HTTP) Ready(ctx context.Context) error {
	var reasons []string
	for _, p := range []string{PathFragrances + "?page=1", PathTrending + "?page=1"} {
		ok, reason, err := h.client.Allowed(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		reasons = append(reasons, p+": "+reason)
	}
	reason := strings.Join(reasons, "; ")
	h.client.MarkBlocked(reason)
	return &crawl.BlockedError{URL: h.client.Config().BaseURL.String(), Reason: reason}
}

// List implements Source. It follows next_page from page 1; a next_page
// that does not move forward (an endless loop) ends the listing as an
// error. An unreadable page is skipped for the next number, up to three
// in a row; a 4xx answer ends the listing (the next page will not exist
// either).
func (h *HTTP) List(ctx context.Context, l Listing, maxPages int, fn func(*Page) error) error {
	seen := map[int]bool{}
	page, failed := 1, 0
	for fetched := 0; fetched < maxPages; fetched++ {
		seen[page] = true
		p, err := h.page(ctx, l, page)
		var pe *crawl.PageError
		var be *crawl.BlockedError
		switch {
		case errors.As(err, &pe):
			failed++
			if failed >= 3 || pe.Status >= 400 && pe.Status < 500 {
				h.logger.WarnContext(ctx, "upstream listing abandoned", "source", h.name, "listing", l.String(), "page", page, "reason", pe.Reason)
				return nil
			}
			page++ // skipped and counted; the next page may be fine
			continue
		case errors.As(err, &be):
			return nil // counted as robots_blocked
		case err != nil:
			return err
		}
		failed = 0
		if err := fn(p); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
		if p.NextPage == nil {
			return nil
		}
		next := *p.NextPage
		if next <= page || seen[next] {
			h.client.CountError()
			h.logger.WarnContext(ctx, "upstream listing stopped: next_page does not move forward", "source", h.name,
				"listing", l.String(), "page", page, "next_page", next)
			return nil
		}
		page = next
	}
	return nil
}

func (h *HTTP) page(ctx context.Context, l Listing, page int) (*Page, error) {
	path := PathFragrances
	if l.Trending {
		path = PathTrending
	}
	raw := "page=" + strconv.Itoa(page)
	if !l.Trending && l.Brand != "" {
		raw += "&brand=" + url.QueryEscape(l.Brand)
	}
	res, err := h.client.Fetch(ctx, path+"?"+raw, func(body []byte, header http.Header) ([]byte, error) {
		p, skipped, err := parsePage(body, header, l.Trending)
		if err != nil {
			return nil, err
		}
		if skipped > 0 {
			h.client.CountItemsSkipped(skipped)
			h.logger.WarnContext(ctx, "upstream items skipped", "source", h.name, "listing", l.String(), "page", page, "skipped", skipped)
		}
		return json.Marshal(p)
	})
	if err != nil {
		return nil, err
	}
	var p Page
	if err := json.Unmarshal(res.Payload, &p); err != nil {
		return nil, fmt.Errorf("reading the stored %s page %d: %w", l, page, err)
	}
	p.Number, p.ObservedAt, p.NotModified = page, h.now(), res.NotModified
	return &p, nil
}

// FetchRecord implements Source.
func (h *HTTP) FetchRecord(ctx context.Context, sourceID string) (json.RawMessage, error) {
	if strings.TrimSpace(sourceID) == "" {
		return nil, errors.New("fetching a record: empty source_id")
	}
	res, err := h.client.Fetch(ctx, PathFragrances+"/"+url.PathEscape(sourceID), func(body []byte, header http.Header) ([]byte, error) {
		if err := checkJSON(body, header); err != nil {
			return nil, err
		}
		it, err := parseItem(body, false)
		if err != nil {
			return nil, err
		}
		if it.SourceID != sourceID {
			return nil, fmt.Errorf("asked for %s, got source_id %s", sourceID, it.SourceID)
		}
		return it.Record, nil
	})
	if err != nil {
		return nil, err
	}
	return res.Payload, nil
}

// checkJSON refuses a body that announces another content type (an HTML
// error page served with 200) or is not JSON at all.
func checkJSON(body []byte, header http.Header) error {
	if ct := header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json") {
			return fmt.Errorf("content type %q, expected application/json", ct)
		}
	}
	if !json.Valid(body) {
		return errors.New("the body is not valid JSON")
	}
	return nil
}

// parsePage reads {"items": [...], "next_page": N|null[, "total": N]}.
// Wrong types in the envelope skip the page; an item without a
// source_id, brand or name, or with a wrong-typed field, is dropped and
// counted.
func parsePage(body []byte, header http.Header, trending bool) (*Page, int, error) {
	if err := checkJSON(body, header); err != nil {
		return nil, 0, err
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, 0, fmt.Errorf("expected a JSON object with items and next_page: %v", err)
	}
	itemsRaw, ok := env["items"]
	if !ok {
		return nil, 0, errors.New(`no "items" in the page`)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(itemsRaw, &items); err != nil {
		return nil, 0, fmt.Errorf(`"items" must be an array: %v`, err)
	}
	p := &Page{Items: make([]Item, 0, len(items))}
	if raw, ok := env["next_page"]; ok && string(raw) != "null" {
		n, err := wholeNumber(raw, 1)
		if err != nil {
			return nil, 0, fmt.Errorf(`"next_page" must be a page number or null: %v`, err)
		}
		p.NextPage = &n
	}
	if raw, ok := env["total"]; ok && string(raw) != "null" {
		n, err := wholeNumber(raw, 0)
		if err != nil {
			return nil, 0, fmt.Errorf(`"total" must be a count: %v`, err)
		}
		p.Total = &n
	}
	skipped := 0
	for _, raw := range items {
		it, err := parseItem(raw, trending)
		if err != nil {
			skipped++
			continue
		}
		p.Items = append(p.Items, it)
	}
	return p, skipped, nil
}

// wholeNumber reads a JSON number that is a whole number of at least min.
func wholeNumber(raw json.RawMessage, min int) (int, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < float64(min) || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s is not a whole number from %d", raw, min)
	}
	return int(f), nil
}

// parseItem reads one record: source_id (string or number), brand and
// name are required; votes, rating and rank must be numbers when present.
func parseItem(raw []byte, trending bool) (Item, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return Item{}, errors.New("an item must be a JSON object")
	}
	str := func(k string) (string, error) {
		switch v := m[k].(type) {
		case nil:
			return "", nil
		case string:
			return strings.TrimSpace(v), nil
		case json.Number:
			return v.String(), nil
		}
		return "", fmt.Errorf("%s must be text", k)
	}
	var it Item
	var err error
	if it.SourceID, err = str("source_id"); err != nil {
		return Item{}, err
	}
	if it.Brand, err = str("brand"); err != nil {
		return Item{}, err
	}
	if it.Name, err = str("name"); err != nil {
		return Item{}, err
	}
	if it.SourceID == "" || it.Brand == "" || it.Name == "" {
		return Item{}, errors.New("source_id, brand and name are required")
	}
	if it.Concentration, err = str("concentration"); err != nil {
		return Item{}, err
	}
	if it.Gender, err = str("gender"); err != nil {
		return Item{}, err
	}
	num := func(k string) (*float64, error) {
		switch v := m[k].(type) {
		case nil:
			return nil, nil
		case json.Number:
			f, err := v.Float64()
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s must be a number", k)
			}
			return &f, nil
		}
		return nil, fmt.Errorf("%s must be a number", k)
	}
	votes, err := num("votes")
	if err != nil {
		return Item{}, err
	}
	if votes != nil {
		if *votes < 0 || *votes != math.Trunc(*votes) {
			return Item{}, errors.New("votes must be a whole number, 0 or more")
		}
		v := int64(*votes)
		it.Votes = &v
	}
	if it.Rating, err = num("rating"); err != nil {
		return Item{}, err
	}
	if it.Rating != nil && (*it.Rating < 0 || *it.Rating > 5) {
		return Item{}, errors.New("rating must be within 0-5")
	}
	rank, err := num("rank")
	if err != nil {
		return Item{}, err
	}
	if rank != nil {
		if *rank < 1 || *rank != math.Trunc(*rank) {
			return Item{}, errors.New("rank must be a whole number from 1")
		}
		r := int(*rank)
		it.Rank = &r
	}
	if trending && it.Rank == nil {
		return Item{}, errors.New("a trending item needs its rank")
	}
	if !trending {
		it.Record = append(json.RawMessage(nil), raw...)
	}
	return it, nil
}
