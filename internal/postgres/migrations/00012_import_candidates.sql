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

-- catalog_changes advances at every statement that writes fragrances,
-- their keys or brands, whoever runs it (an import, a review, a restore,
-- a hand-written fix). An import keeps candidate lists and candidates'
-- screening columns from one batch to the next only while the counter has
-- not moved since its own last batch (internal/importer candidateCache).
-- A sequence, not a table: backups leave it alone, and a nextval never
-- waits on another transaction.
CREATE SEQUENCE catalog_changes;

-- +goose StatementBegin
CREATE FUNCTION note_catalog_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('catalog_changes');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER fragrances_note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fragrances
    FOR EACH STATEMENT EXECUTE FUNCTION note_catalog_change();
CREATE TRIGGER fragrance_keys_note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fragrance_keys
    FOR EACH STATEMENT EXECUTE FUNCTION note_catalog_change();
CREATE TRIGGER brands_note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON brands
    FOR EACH STATEMENT EXECUTE FUNCTION note_catalog_change();

-- +goose Down
DROP TRIGGER brands_note_change ON brands;
DROP TRIGGER fragrance_keys_note_change ON fragrance_keys;
DROP TRIGGER fragrances_note_change ON fragrances;
DROP FUNCTION note_catalog_change();
DROP SEQUENCE catalog_changes;
DELETE FROM fragrance_keys k WHERE NOT EXISTS (SELECT 1 FROM fragrances f WHERE f.id = k.fragrance_id);
ALTER TABLE fragrance_keys ADD CONSTRAINT fragrance_keys_fragrance_id_fkey
    FOREIGN KEY (fragrance_id) REFERENCES fragrances (id) ON DELETE CASCADE;
