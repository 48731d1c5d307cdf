package importer

import (
	"github.com/jackc/pgx/v5"
)

// brandCache keeps the brand ids earlier batches of the run wrote or read,
// so that a batch only upserts brands it has not met yet (most batches:
// none). Like the candidate cache it is valid only while the catalog is
// where the run's last committed batch left it (catalog_changes); what a
// batch adds joins it when the batch commits.
type brandCache struct {
	stamp int64
	ids   map[string]int64
	// aliased marks keys whose aliases were upserted too.
	aliased map[string]bool
	pending map[string]int64
	pendAl  map[string]bool
}

func newBrandCache() *brandCache {
	return &brandCache{stamp: -1, ids: map[string]int64{}, aliased: map[string]bool{}, pending: map[string]int64{}, pendAl: map[string]bool{}}
}

// begin empties the cache unless the catalog is where the last batch left it.
func (c *brandCache) begin(stamp int64) {
	if stamp != c.stamp {
		clear(c.ids)
		clear(c.aliased)
	}
	c.stamp = -1
	clear(c.pending)
	clear(c.pendAl)
}

// committed keeps what the batch upserted and where it left the catalog.
func (c *brandCache) committed(stamp int64) {
	for k, id := range c.pending {
		c.ids[k] = id
	}
	for k := range c.pendAl {
		c.aliased[k] = true
	}
	c.stamp = stamp
}

// queue returns the ids of the brands this run has met, and queues on b
// the upsert (queueBrands) of the others, whose ids join the map as b
// runs.
func (c *brandCache) queue(b *pgx.Batch, names map[string]string, aliases map[string][]string) map[string]int64 {
	ids := make(map[string]int64, len(names))
	missing := map[string]string{}
	for k, n := range names {
		if id, ok := c.ids[k]; ok && (len(aliases[k]) == 0 || c.aliased[k]) {
			ids[k] = id
			continue
		}
		missing[k] = n
	}
	queueBrands(b, missing, aliases, func(k string, id int64) {
		ids[k] = id
		c.pending[k] = id
		if len(aliases[k]) > 0 {
			c.pendAl[k] = true
		}
	})
	return ids
}
