-- +goose Up
-- record_hash keys a quarantined record that has no source_id (or is too
-- large to read one from): an import that quarantines a record supersedes
-- the open rows earlier runs left for the same record, by source and
-- source_id when it has one, else by source and record_hash. Before, only
-- records with a source_id were superseded, so every rerun of a file added
-- another open row for each of its other bad records (14 open rows
-- became 28 after importing catalog2026-13k twice).
--
-- The hash is of the stored copy (jsonb text is canonical: keys sorted,
-- whitespace normalized), so it is computed by the database for old rows
-- and new alike. Two records whose stored copies are identical are one
-- record to the quarantine: the table holds nothing that tells them apart.
ALTER TABLE quarantined_records ADD COLUMN record_hash text GENERATED ALWAYS AS (md5(record::text)) STORED;
-- The superseding lookups, over open rows only.
CREATE INDEX quarantined_records_open_hash ON quarantined_records (record_hash) WHERE status = 'open';
CREATE INDEX quarantined_records_open_source_id ON quarantined_records (source, source_id) WHERE status = 'open';

-- +goose Down
DROP INDEX quarantined_records_open_source_id;
DROP INDEX quarantined_records_open_hash;
ALTER TABLE quarantined_records DROP COLUMN record_hash;
