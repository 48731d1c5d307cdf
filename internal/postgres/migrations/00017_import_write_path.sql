-- +goose Up
-- What every imported row paid for and nothing reads or needs (issue 19,
-- docs/BENCHMARKS.md). Every query was checked before dropping:
--
-- * brands_match_key_trgm: no query searches brands by trigram (brand
--   resolution runs in Go, matching.BrandIndex), yet the planner chose it
--   for match_key = ANY(...) lookups (pg_trgm supports equality), 0.3-1.8 s
--   for a hundred keys, and every new brand updated it.
-- * fragrances_match_key: candidates are found through fragrance_keys;
--   only verify's duplicate_match_keys compares match keys, over the whole
--   table, which a hash join does as well.
-- * fragrances_created_import_run and the foreign key of
--   created_import_run_id: nothing reads fragrances by import run, and
--   nothing deletes import runs (the ON DELETE SET NULL never fires); the
--   key cost a trigger call per inserted fragrance.
-- * the foreign key of source_identities.fragrance_id: nothing deletes
--   fragrances (its ON DELETE CASCADE never fires), the importer writes an
--   identity in the transaction that writes or finds its fragrance, and it
--   cost a trigger call per identity.
--
-- `scentmatch verify` still reports rows pointing nowhere
-- ("source_identities_point_nowhere", "orphans fragrances.created_import_run_id"),
-- and backups still load fragrances after import runs and identities after
-- fragrances (internal/backup impliedReferences).
DROP INDEX brands_match_key_trgm;
DROP INDEX fragrances_match_key;
DROP INDEX fragrances_created_import_run;
ALTER TABLE fragrances DROP CONSTRAINT fragrances_created_import_run_id_fkey;
ALTER TABLE source_identities DROP CONSTRAINT source_identities_fragrance_id_fkey;

-- +goose Down
DELETE FROM source_identities s WHERE NOT EXISTS (SELECT 1 FROM fragrances f WHERE f.id = s.fragrance_id);
ALTER TABLE source_identities ADD CONSTRAINT source_identities_fragrance_id_fkey
    FOREIGN KEY (fragrance_id) REFERENCES fragrances (id) ON DELETE CASCADE;
UPDATE fragrances f SET created_import_run_id = NULL
    WHERE created_import_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = f.created_import_run_id);
ALTER TABLE fragrances ADD CONSTRAINT fragrances_created_import_run_id_fkey
    FOREIGN KEY (created_import_run_id) REFERENCES import_runs (id) ON DELETE SET NULL;
CREATE INDEX fragrances_created_import_run ON fragrances (created_import_run_id);
CREATE INDEX fragrances_match_key ON fragrances (match_key);
CREATE INDEX brands_match_key_trgm ON brands USING gin (match_key gin_trgm_ops);
