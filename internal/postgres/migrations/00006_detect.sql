-- +goose Up
-- Conditional requests: the validators an upstream sent for a page and the
-- page as parsed, so an unchanged page costs a 304 and still yields its
-- items. Keyed by source and the request's path and query (not the host:
-- the local sandbox's port changes from run to run).
CREATE TABLE crawl_cache (
    source        text NOT NULL CHECK (source <> ''),
    url           text NOT NULL CHECK (url <> ''),
    etag          text,
    last_modified text,
    payload       jsonb NOT NULL,
    fetched_at    timestamptz NOT NULL,                 -- last 200
    validated_at  timestamptz NOT NULL,                 -- last 200 or 304
    PRIMARY KEY (source, url)                           -- the lookup before each request
);
-- Retention: maintenance purges validators not confirmed for long.
CREATE INDEX crawl_cache_validated_at ON crawl_cache (validated_at);

-- One observation per cycle, source and item: a retried detect step
-- updates its observations instead of adding a second set.
CREATE UNIQUE INDEX source_observations_cycle_once ON source_observations (cycle_id, source, source_id) WHERE cycle_id IS NOT NULL;

-- +goose Down
DROP INDEX source_observations_cycle_once;
DROP TABLE crawl_cache;
