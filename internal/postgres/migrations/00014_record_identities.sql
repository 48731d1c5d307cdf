-- +goose Up
-- record_identities remembers which fragrance a record without a source_id
-- became (inserted, merged into, or found identical to), by its source and
-- the content hash of the record as read. The same record imported again
-- is that fragrance ('unchanged') instead of being matched afresh against
-- a catalog it has itself changed: a record with no concentration that
-- merged into the only fitting fragrance the first time could otherwise
-- find a second fit on the next import and go to review
-- (docs/reliability.md).
CREATE TABLE record_identities (
    source        text NOT NULL,
    content_hash  text NOT NULL,
    fragrance_id  bigint NOT NULL REFERENCES fragrances (id) ON DELETE CASCADE,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, content_hash)
);
CREATE INDEX record_identities_fragrance ON record_identities (fragrance_id);

-- +goose Down
DROP TABLE record_identities;
