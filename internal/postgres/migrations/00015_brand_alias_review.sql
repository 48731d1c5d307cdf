-- +goose Up
-- The review queue holds two kinds of question from now on:
--   'match'       is this incoming record (candidate) the catalog fragrance
--                 fragrance_id? (as before); or, with fragrance_id NULL and
--                 alias_key set, a record held until the brand-alias
--                 proposal proposal_id for its brand spelling is decided;
--   'brand-alias' is the source brand spelling alias_key (candidate->>'brand')
--                 another name of the catalog brand brand_id? The evidence
--                 (fragrance names both line-ups list) is in reasons, the
--                 best catalog brands with their evidence in candidates.
-- Accepting a proposal stores the alias (brand_aliases) and decides the
-- records held by it again; rejecting it creates the brand and inserts them
-- (internal/importer alias.go).
ALTER TABLE review_queue
    ADD COLUMN kind text NOT NULL DEFAULT 'match' CHECK (kind IN ('match', 'brand-alias')),
    ADD COLUMN brand_id bigint REFERENCES brands (id) ON DELETE CASCADE,
    ADD COLUMN alias_key text CHECK (alias_key <> ''),
    ADD COLUMN proposal_id bigint REFERENCES review_queue (id) ON DELETE SET NULL,
    ADD COLUMN candidates jsonb NOT NULL DEFAULT '[]',
    ALTER COLUMN fragrance_id DROP NOT NULL,
    ADD CONSTRAINT review_queue_kind_fields CHECK (
        (kind = 'match' AND (fragrance_id IS NOT NULL OR alias_key IS NOT NULL))
        OR (kind = 'brand-alias' AND fragrance_id IS NULL AND brand_id IS NOT NULL AND alias_key IS NOT NULL));

-- One open proposal per brand spelling, and every decided one found again
-- (a spelling once proposed is not proposed again).
CREATE UNIQUE INDEX review_queue_alias_open ON review_queue (alias_key) WHERE kind = 'brand-alias' AND status = 'open';
CREATE INDEX review_queue_alias ON review_queue (alias_key) WHERE alias_key IS NOT NULL;
-- One open held row per incoming record and spelling, so a re-import does
-- not hold the same record twice.
CREATE UNIQUE INDEX review_queue_held_once ON review_queue (alias_key, candidate_key)
    WHERE kind = 'match' AND fragrance_id IS NULL AND status = 'open';
CREATE INDEX review_queue_brand ON review_queue (brand_id) WHERE brand_id IS NOT NULL;
CREATE INDEX review_queue_proposal ON review_queue (proposal_id) WHERE proposal_id IS NOT NULL;

-- +goose Down
DELETE FROM review_queue WHERE kind = 'brand-alias' OR fragrance_id IS NULL;
DROP INDEX review_queue_proposal;
DROP INDEX review_queue_brand;
DROP INDEX review_queue_held_once;
DROP INDEX review_queue_alias;
DROP INDEX review_queue_alias_open;
ALTER TABLE review_queue
    DROP CONSTRAINT review_queue_kind_fields,
    ALTER COLUMN fragrance_id SET NOT NULL,
    DROP COLUMN candidates,
    DROP COLUMN proposal_id,
    DROP COLUMN alias_key,
    DROP COLUMN brand_id,
    DROP COLUMN kind;
