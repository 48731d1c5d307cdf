-- +goose Up
-- fragrance_keys is the importer's candidate index, written only by the
-- importer (internal/importer fileKeys) in the same transaction as the
-- fragrances it files, under the import lock. Its foreign key to
-- fragrances cost more than half of the keys' COPY (a per-row trigger on
-- 1.2M rows at 200k records, docs/BENCHMARKS.md) and guarded nothing the
-- importer does not: nothing deletes fragrances. Whatever deletes one from
-- now on must delete its keys too; `scentmatch verify` reports keys that
-- point nowhere ("orphans fragrance_keys.fragrance_id").
ALTER TABLE fragrance_keys DROP CONSTRAINT fragrance_keys_fragrance_id_fkey;

-- +goose Down
DELETE FROM fragrance_keys k WHERE NOT EXISTS (SELECT 1 FROM fragrances f WHERE f.id = k.fragrance_id);
ALTER TABLE fragrance_keys ADD CONSTRAINT fragrance_keys_fragrance_id_fkey
    FOREIGN KEY (fragrance_id) REFERENCES fragrances (id) ON DELETE CASCADE;
