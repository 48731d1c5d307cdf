-- +goose Up
-- Candidate lookup for fuzzy matching: each fragrance is filed under its
-- exact match key and brand-scoped name-token keys (internal/matching
-- BlockKeys). A B-tree probe per key; the 00005 Go migration files the
-- fragrances that exist already.
CREATE TABLE fragrance_keys (
    key           text NOT NULL,
    fragrance_id  bigint NOT NULL REFERENCES fragrances (id) ON DELETE CASCADE,
    PRIMARY KEY (key, fragrance_id)
);
CREATE INDEX fragrance_keys_fragrance ON fragrance_keys (fragrance_id);

-- One open review per incoming record and catalog candidate, so a re-import
-- does not queue the same question twice.
ALTER TABLE review_queue ADD COLUMN candidate_key text;
CREATE UNIQUE INDEX review_queue_open_once ON review_queue (fragrance_id, candidate_key) WHERE status = 'open';

-- +goose Down
DROP INDEX review_queue_open_once;
ALTER TABLE review_queue DROP COLUMN candidate_key;
DROP TABLE fragrance_keys;
