// Package sandbox is a local stand-in for the upstream catalog: a loopback
// HTTP server with the catalog API of docs/upstream.md, serving the
// bundled demo catalog (data/README.md) with popularity that moves from
// week to week. `scentmatch sandbox serve` runs it alone; the detect step
// starts one in-process when the configured source is the sandbox and
// crawls it through the same polite HTTP client a deployment uses.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Page sizes of the API.
const (
	CatalogPageSize  = 50
	TrendingPageSize = 25
)

// DefaultRobotsTxt allows the catalog API to every crawler.
const DefaultRobotsTxt = "User-agent: *\nAllow: /api/\nDisallow: /admin/\n"

// Options configure a Server.
type Options struct {
	// Catalog is served (the demo catalog when nil).
	Catalog *Catalog
	// Now decides the week served (time.Now by default); a request may
	// name another with ?week=2026-W48.
	Now func() time.Time
	// Week, when not empty, pins the week served (an ISO week).
	Week string
	// RobotsTxt replaces DefaultRobotsTxt.
	RobotsTxt string
	Logger    *slog.Logger
}

// Server serves the catalog API.
type Server struct {
	cat    *Catalog
	now    func() time.Time
	pinned *Week
	robots string
	logger *slog.Logger

	mu    sync.Mutex
	weeks map[Week]*weekData
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Catalog == nil {
		c, err := Demo()
		if err != nil {
			return nil, err
		}
		opts.Catalog = c
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RobotsTxt == "" {
		opts.RobotsTxt = DefaultRobotsTxt
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cat: opts.Catalog, now: opts.Now, robots: opts.RobotsTxt, logger: opts.Logger, weeks: map[Week]*weekData{}}
	if opts.Week != "" {
		w, err := ParseWeek(opts.Week)
		if err != nil {
			return nil, err
		}
		s.pinned = &w
	}
	return s, nil
}

// week returns the popularity of week w, computed once.
func (s *Server) week(w Week) *weekData {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.weeks[w]; ok {
		return d
	}
	d := computeWeek(s.cat, w)
	if len(s.weeks) >= 8 {
		clear(s.weeks)
	}
	s.weeks[w] = d
	return d
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/robots.txt" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, s.robots)
		return
	}
	wk := WeekOf(s.now())
	if s.pinned != nil {
		wk = *s.pinned
	}
	if q := r.URL.Query().Get("week"); q != "" {
		var err error
		if wk, err = ParseWeek(q); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	// Validators: the data changes once a week.
	sum := sha256.Sum256([]byte(wk.String() + "\x00" + r.URL.RequestURI()))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", wk.Start().Format(http.TimeFormat))
	w.Header().Set("Cache-Control", "max-age=3600")
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	switch {
	case r.URL.Path == "/api/v1/fragrances":
		s.list(w, r, wk)
	case strings.HasPrefix(r.URL.Path, "/api/v1/fragrances/"):
		s.record(w, strings.TrimPrefix(r.URL.Path, "/api/v1/fragrances/"), wk)
	case r.URL.Path == "/api/v1/trending":
		s.trending(w, r, wk)
	default:
		apiError(w, http.StatusNotFound, "no such endpoint: see docs/upstream.md")
	}
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("ETag")
	w.Header().Del("Last-Modified")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func pageParam(r *http.Request) (int, error) {
	p := r.URL.Query().Get("page")
	if p == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("page %q: a page number from 1", p)
	}
	return n, nil
}

type listPage struct {
	Items    []map[string]any `json:"items"`
	NextPage *int             `json:"next_page"`
	Total    int              `json:"total"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, wk Week) {
	page, err := pageParam(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	var idx []int
	if b := strings.TrimSpace(r.URL.Query().Get("brand")); b != "" {
		idx = s.cat.Brand(b)
	} else {
		idx = make([]int, len(s.cat.Fragrances))
		for i := range idx {
			idx[i] = i
		}
	}
	d := s.week(wk)
	out := listPage{Items: []map[string]any{}, Total: len(idx)}
	lo := (page - 1) * CatalogPageSize
	for i := lo; i < len(idx) && i < lo+CatalogPageSize; i++ {
		out.Items = append(out.Items, s.recordOf(idx[i], d))
	}
	if lo+CatalogPageSize < len(idx) {
		next := page + 1
		out.NextPage = &next
	}
	writeJSON(w, out)
}

func (s *Server) record(w http.ResponseWriter, id string, wk Week) {
	i, ok := s.cat.byID[id]
	if !ok {
		apiError(w, http.StatusNotFound, "no fragrance "+id)
		return
	}
	writeJSON(w, s.recordOf(i, s.week(wk)))
}

// recordOf renders a fragrance in the import record format.
func (s *Server) recordOf(i int, d *weekData) map[string]any {
	f := s.cat.Fragrances[i]
	rec := map[string]any{"source_id": f.SourceID, "brand": f.Brand, "name": f.Name,
		"votes": d.votes[i], "rating": d.rating[i]}
	if f.Year > 0 {
		rec["year"] = f.Year
	}
	if len(f.Accords) > 0 {
		rec["accords"] = f.Accords
	}
	if len(f.Notes) > 0 {
		rec["notes"] = f.Notes
	} else if len(f.NotesFlat) > 0 {
		rec["notes"] = f.NotesFlat
	}
	return rec
}

func (s *Server) trending(w http.ResponseWriter, r *http.Request, wk Week) {
	page, err := pageParam(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	d := s.week(wk)
	out := listPage{Items: []map[string]any{}, Total: len(d.trending)}
	lo := (page - 1) * TrendingPageSize
	for n := lo; n < len(d.trending) && n < lo+TrendingPageSize; n++ {
		i := d.trending[n]
		f := s.cat.Fragrances[i]
		out.Items = append(out.Items, map[string]any{"source_id": f.SourceID, "brand": f.Brand, "name": f.Name,
			"rank": n + 1, "votes": d.votes[i], "rating": d.rating[i]})
	}
	if lo+TrendingPageSize < len(d.trending) {
		next := page + 1
		out.NextPage = &next
	}
	writeJSON(w, out)
}

// URLFile is where a running `scentmatch sandbox serve` leaves its URL
// in the home directory (the health check reads it).
func URLFile(home string) string { return filepath.Join(home, "sandbox.url") }

// Running is a started sandbox.
type Running struct {
	// URL is the base URL, e.g. http://127.0.0.1:38111.
	URL  string
	srv  *http.Server
	done chan error
}

// Start serves s on addr (127.0.0.1:0 picks a free port) until Close.
func Start(s *Server, addr string) (*Running, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting the sandbox on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	run := &Running{URL: "http://" + l.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		run.done <- err
	}()
	return run, nil
}

// Close stops the server, letting requests in flight finish.
func (r *Running) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		return err
	}
	return <-r.done
}
