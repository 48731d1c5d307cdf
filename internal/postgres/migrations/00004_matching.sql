-- +goose Up
-- Candidate lookup for fuzzy matching: each fragrance is filed under its
-- exact match key and brand-scoped name-token keys (internal/matching
-- BlockKeys); the 00005 Go migration fills them for existing rows.
ALTER TABLE fragrances ADD COLUMN block_keys text[] NOT NULL DEFAULT '{}';
CREATE INDEX fragrances_block_keys ON fragrances USING gin (block_keys);

-- One open review per incoming record and catalog candidate, so a re-import
-- does not queue the same question twice.
ALTER TABLE review_queue ADD COLUMN candidate_key text;
CREATE UNIQUE INDEX review_queue_open_once ON review_queue (fragrance_id, candidate_key) WHERE status = 'open';

-- +goose Down
DROP INDEX review_queue_open_once;
ALTER TABLE review_queue DROP COLUMN candidate_key;
DROP INDEX fragrances_block_keys;
ALTER TABLE fragrances DROP COLUMN block_keys;
