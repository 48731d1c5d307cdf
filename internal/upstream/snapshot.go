package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/dataset"
)

// SnapshotPageSize is how many items a snapshot listing page holds.
const SnapshotPageSize = 100

// snapshotName matches <stamp>_<kind>.<json|jsonl|csv>[.gz], the stamp
// being the observation time: 2026-11-22, 2026-11-22T0200Z or
// 2026-11-22T020000Z (UTC).
var snapshotName = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}(?:T\d{4}(?:\d{2})?Z)?)_(trending|catalog)\.(json|jsonl|csv)(\.gz)?$`)

// SnapshotFile is one file of a snapshot directory.
type SnapshotFile struct {
	Path string
	// Kind is trending or catalog.
	Kind string
	// ObservedAt is the file's stamp.
	ObservedAt time.Time
}

// ParseSnapshotName reads a snapshot file name; ok is false for other files.
func ParseSnapshotName(name string) (kind string, observedAt time.Time, ok bool) {
	m := snapshotName.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, false
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T1504Z", "2006-01-02T150405Z"} {
		if t, err := time.Parse(layout, m[1]); err == nil {
			return m[2], t.UTC(), true
		}
	}
	return "", time.Time{}, false
}

// Snapshot reads a directory of files stamped with their observation time:
// <stamp>_trending.jsonl (items with rank, votes, rating) and
// <stamp>_catalog.csv.gz (records in the import format, with votes and
// rating), in JSON, JSON Lines or CSV, gzipped or not. It serves the
// latest stamp of each kind that is not after now.
type Snapshot struct {
	name, dir string
	now       func() time.Time
	logger    *slog.Logger

	mu     sync.Mutex
	loaded map[string]*snapshotData // by file path
	stats  crawl.Stats
}

type snapshotData struct {
	file  SnapshotFile
	items []Item
}

var _ Source = (*Snapshot)(nil)

// NewSnapshot returns the snapshot source for dir.
func NewSnapshot(name, dir string, deps Deps) *Snapshot {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Snapshot{name: name, dir: dir, now: deps.Now, logger: deps.Logger, loaded: map[string]*snapshotData{}, stats: crawl.Stats{Source: name}}
}

// Name implements Source.
func (s *Snapshot) Name() string { return s.name }

// Stats implements Source: no requests; errors are unreadable files and rows.
func (s *Snapshot) Stats() crawl.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Files lists the snapshot files, oldest first.
func (s *Snapshot) Files() ([]SnapshotFile, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot source %s: %w", s.name, err)
	}
	var out []SnapshotFile
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		kind, at, ok := ParseSnapshotName(e.Name())
		if !ok {
			continue
		}
		out = append(out, SnapshotFile{Path: filepath.Join(s.dir, e.Name()), Kind: kind, ObservedAt: at})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ObservedAt.Before(out[j].ObservedAt) })
	return out, nil
}

// current returns the latest file of kind stamped at or before now.
func (s *Snapshot) current(kind string) (*SnapshotFile, error) {
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	now := s.now()
	var best *SnapshotFile
	for i := range files {
		f := files[i]
		if f.Kind == kind && !f.ObservedAt.After(now) {
			best = &f
		}
	}
	if best == nil {
		return nil, fmt.Errorf("snapshot source %s: no %s file stamped at or before %s in %s (names like 2026-11-22_%s.jsonl)",
			s.name, kind, now.UTC().Format(time.RFC3339), s.dir, kind)
	}
	return best, nil
}

// Ready implements Source: the directory holds a trending or a catalog file.
func (s *Snapshot) Ready(context.Context) error {
	_, errT := s.current("trending")
	_, errC := s.current("catalog")
	if errT != nil && errC != nil {
		return errors.Join(errT, errC)
	}
	return nil
}

// load reads a file once.
func (s *Snapshot) load(f *SnapshotFile) *snapshotData {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.loaded[f.Path]; ok {
		return d
	}
	d := &snapshotData{file: *f}
	s.loaded[f.Path] = d
	known := append(append([]string(nil), catalog.Fields...), "rank")
	r, err := dataset.Open(f.Path, known, dataset.Options{})
	if err != nil {
		s.stats.Errors++
		s.logger.Warn("snapshot file skipped", "source", s.name, "file", f.Path, "reason", err)
		return d
	}
	defer r.Close()
	skipped := 0
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.stats.Errors++
			s.logger.Warn("snapshot file read in part", "source", s.name, "file", f.Path, "reason", err, "items", len(d.items))
			break
		}
		it, err := itemFromFields(raw.Fields, f.Kind == "trending")
		if err != nil {
			skipped++
			continue
		}
		d.items = append(d.items, it)
	}
	if skipped > 0 {
		s.stats.ItemsSkipped += skipped
		s.logger.Warn("snapshot items skipped", "source", s.name, "file", f.Path, "skipped", skipped)
	}
	if f.Kind == "trending" {
		sort.SliceStable(d.items, func(i, j int) bool { return *d.items[i].Rank < *d.items[j].Rank })
	}
	return d
}

// List implements Source.
func (s *Snapshot) List(ctx context.Context, l Listing, maxPages int, fn func(*Page) error) error {
	kind := "catalog"
	if l.Trending {
		kind = "trending"
	}
	f, err := s.current(kind)
	if err != nil {
		s.mu.Lock()
		s.stats.Errors++
		s.mu.Unlock()
		s.logger.WarnContext(ctx, "snapshot listing unavailable", "source", s.name, "listing", l.String(), "reason", err)
		return nil
	}
	d := s.load(f)
	items := d.items
	if !l.Trending && l.Brand != "" {
		key := catalog.Fold(l.Brand)
		items = nil
		for _, it := range d.items {
			if catalog.Fold(it.Brand) == key {
				items = append(items, it)
			}
		}
	}
	total := len(items)
	pages := max((total+SnapshotPageSize-1)/SnapshotPageSize, 1) // an empty listing is one empty page
	for n := 1; n <= pages && n <= maxPages; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		lo, hi := (n-1)*SnapshotPageSize, n*SnapshotPageSize
		if hi > total {
			hi = total
		}
		p := &Page{Number: n, Items: items[lo:hi], Total: &total, ObservedAt: f.ObservedAt}
		if n < pages {
			next := n + 1
			p.NextPage = &next
		}
		if err := fn(p); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// FetchRecord implements Source: the record from the current catalog file.
func (s *Snapshot) FetchRecord(_ context.Context, sourceID string) (json.RawMessage, error) {
	f, err := s.current("catalog")
	if err != nil {
		return nil, err
	}
	for _, it := range s.load(f).items {
		if it.SourceID == sourceID {
			return it.Record, nil
		}
	}
	return nil, fmt.Errorf("snapshot source %s: no record %s in %s", s.name, sourceID, f.Path)
}

// itemFromFields reads a snapshot row; CSV cells are text, so numbers may
// come as strings.
func itemFromFields(fields map[string]any, trending bool) (Item, error) {
	str := func(k string) string {
		switch v := fields[k].(type) {
		case string:
			return strings.TrimSpace(v)
		case json.Number:
			return v.String()
		}
		return ""
	}
	num := func(k string) (*float64, error) {
		s := str(k)
		if s == "" || strings.EqualFold(s, "null") {
			return nil, nil
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s: %q is not a number", k, s)
		}
		return &f, nil
	}
	it := Item{SourceID: str("source_id"), Brand: str("brand"), Name: str("name"), Concentration: str("concentration"), Gender: str("gender")}
	if it.SourceID == "" || it.Brand == "" || it.Name == "" {
		return Item{}, errors.New("source_id, brand and name are required")
	}
	votes, err := num("votes")
	if err != nil {
		return Item{}, err
	}
	if votes != nil {
		if *votes < 0 {
			return Item{}, errors.New("votes must be 0 or more")
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
		if *rank < 1 {
			return Item{}, errors.New("rank must be 1 or more")
		}
		r := int(*rank)
		it.Rank = &r
	}
	if trending && it.Rank == nil {
		return Item{}, errors.New("a trending item needs its rank")
	}
	if !trending {
		rec := make(map[string]any, len(fields))
		for k, v := range fields {
			if k != dataset.ExtraCellsKey {
				rec[k] = v
			}
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return Item{}, err
		}
		it.Record = data
	}
	return it, nil
}
