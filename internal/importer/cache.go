package importer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Bounds of a candidateCache, so that a 1M-record import stays within its
// memory budget (100 MB peak RSS): once full, it keeps what it has (the
// first fragrances filed under common keys, the ones every later record
// ranks first). Twice these took a 1M import to 102 MB; these cost about
// 4% of the 200k import's time against them (docs/BENCHMARKS.md).
const (
	maxCachedKeys  = 10000
	maxCachedLight = 12000
)

// candidateCache keeps, from one batch of a run to the next, what the
// candidate lookups read that later batches would read again:
//
//   - the id lists of keys that already hold perKey fragrances (a lookup
//     returns a key's perKey lowest ids, and new fragrances get higher
//     ids, so such a list changes only when a fragrance is updated,
//     refiled or deleted);
//   - candidates' screening columns (brand key, name, match key,
//     concentration, gender) with their folded name words, which change
//     only when the fragrance or its brand is updated.
//
// It is valid only while nothing else wrote the catalog: every statement
// that writes fragrances, fragrance_keys or brands advances the
// catalog_changes sequence (migration 00012), and a batch that finds it
// elsewhere than where this run's previous batch left it starts empty. A
// batch that updates a fragrance (or fails) empties it too.
type candidateCache struct {
	stamp int64 // catalog_changes after the last batch; -1: nothing valid
	keys  map[string][]int64
	maxID int64 // highest id in keys
	light map[int64]*lightRow
}

func newCandidateCache() *candidateCache {
	return &candidateCache{stamp: -1, keys: map[string][]int64{}, light: map[int64]*lightRow{}}
}

func (c *candidateCache) reset() {
	c.stamp, c.maxID = -1, 0
	clear(c.keys)
	clear(c.light)
}

// catalogStamp reads the catalog_changes sequence.
func catalogStamp(ctx context.Context, tx pgx.Tx) (int64, error) {
	var v int64
	q := &pgx.Batch{}
	queueStamp(q, &v)
	if err := sendBatch(ctx, tx, q); err != nil {
		return 0, err
	}
	return v, nil
}

// queueStamp queues on b the reading of the catalog_changes sequence into
// *stamp.
func queueStamp(b *pgx.Batch, stamp *int64) {
	b.Queue(`SELECT last_value, is_called FROM catalog_changes`).QueryRow(func(r pgx.Row) error {
		var v int64
		var called bool
		if err := r.Scan(&v, &called); err != nil {
			return fmt.Errorf("reading catalog_changes: %w", err)
		}
		if !called {
			v = 0
		}
		*stamp = v
		return nil
	})
}

// begin empties the cache unless the catalog is where the last batch left it.
func (c *candidateCache) begin(stamp int64) {
	if stamp != c.stamp {
		c.reset()
	}
	c.stamp = -1 // valid again only once this batch commits
}

// split returns the keys to look up, and files the cached ones in byKey
// (clipped, so the batch's appends never write into the cache).
func (c *candidateCache) split(keys []string, byKey map[string][]int64) []string {
	missing := make([]string, 0, len(keys)) // nearly all, in an import
	for _, k := range keys {
		if l, ok := c.keys[k]; ok {
			byKey[k] = slices.Clip(l)
			continue
		}
		missing = append(missing, k)
	}
	return missing
}

// remember keeps the lists of looked-up keys that hold perKey fragrances.
func (c *candidateCache) remember(keys []string, byKey map[string][]int64, perKey int) {
	for _, k := range keys {
		l := byKey[k]
		if len(l) < perKey || len(c.keys) >= maxCachedKeys {
			continue
		}
		l = slices.Clip(l)
		byKey[k] = l
		// A key is a substring of its record's block keys
		// (matching.BlockKeys returns them as one string): a copy keeps
		// only the key alive for the rest of the run.
		c.keys[strings.Clone(k)] = l
		if last := l[len(l)-1]; last > c.maxID {
			c.maxID = last
		}
	}
}

// rememberLight keeps screening columns read by this batch.
func (c *candidateCache) rememberLight(light map[int64]*lightRow) {
	for id, l := range light {
		if len(c.light) >= maxCachedLight {
			return
		}
		c.light[id] = l
	}
}

// committed records where the batch left the catalog. firstNew is the
// lowest id the batch inserted (0: none): a cached list only stays the
// perKey lowest ids if every new id is higher than all of them.
func (c *candidateCache) committed(stamp int64, updated bool, firstNew int64) {
	if updated || (firstNew != 0 && firstNew <= c.maxID) {
		c.reset()
	}
	c.stamp = stamp
}
