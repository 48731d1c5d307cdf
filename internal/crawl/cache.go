package crawl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// Entry is what the cache keeps for one URL: the validators the upstream
// sent and the page as the caller parsed it.
type Entry struct {
	ETag         string
	LastModified string
	// Payload is the parsed page (JSON), returned again on a 304.
	Payload []byte
}

// Cache keeps validators and parsed pages, keyed by source and the
// request's path and query (not the host: the sandbox's port changes from
// run to run).
type Cache interface {
	// Get returns the entry, with ok false when there is none.
	Get(ctx context.Context, source, key string) (e Entry, ok bool, err error)
	// Put stores a freshly fetched page.
	Put(ctx context.Context, source, key string, e Entry, now time.Time) error
	// Touch records that the upstream confirmed the entry (a 304).
	Touch(ctx context.Context, source, key string, now time.Time) error
}

// PGCache is the Cache in the crawl_cache table.
type PGCache struct {
	DB postgres.DBTX
}

var _ Cache = PGCache{}

// Get implements Cache.
func (c PGCache) Get(ctx context.Context, source, key string) (Entry, bool, error) {
	var e Entry
	err := c.DB.QueryRow(ctx, `SELECT coalesce(etag, ''), coalesce(last_modified, ''), payload FROM crawl_cache WHERE source = $1 AND url = $2`,
		source, key).Scan(&e.ETag, &e.LastModified, &e.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading the crawl cache for %s %s: %w", source, key, err)
	}
	return e, true, nil
}

// Put implements Cache.
func (c PGCache) Put(ctx context.Context, source, key string, e Entry, now time.Time) error {
	if _, err := c.DB.Exec(ctx, `INSERT INTO crawl_cache (source, url, etag, last_modified, payload, fetched_at, validated_at)
		VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5::jsonb, $6, $6)
		ON CONFLICT (source, url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
			payload = excluded.payload, fetched_at = excluded.fetched_at, validated_at = excluded.validated_at`,
		source, key, e.ETag, e.LastModified, postgres.JSONArg(e.Payload), now); err != nil {
		return fmt.Errorf("writing the crawl cache for %s %s: %w", source, key, err)
	}
	return nil
}

// Touch implements Cache.
func (c PGCache) Touch(ctx context.Context, source, key string, now time.Time) error {
	if _, err := c.DB.Exec(ctx, `UPDATE crawl_cache SET validated_at = $3 WHERE source = $1 AND url = $2`, source, key, now); err != nil {
		return fmt.Errorf("touching the crawl cache for %s %s: %w", source, key, err)
	}
	return nil
}
