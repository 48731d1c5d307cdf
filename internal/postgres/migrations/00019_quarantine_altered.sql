-- +goose Up
-- altered says how the stored copy of a quarantined record differs from
-- the record as read: PostgreSQL stores neither invalid UTF-8 nor NUL, so
-- those are replaced with U+FFFD; strings over 64 KiB are cut and end in
-- "…[truncated]"; a record too large to read keeps only its first bytes.
-- `scentmatch quarantine replay` refuses such rows: importing the copy
-- would put the replacement characters or the cut text in the catalog.
--
-- Older rows are judged by those marks in the stored copy. A source value
-- that held U+FFFD itself is taken for a replaced one: such a row is
-- refused, not imported altered.
ALTER TABLE quarantined_records ADD COLUMN altered text[] NOT NULL DEFAULT '{}';
UPDATE quarantined_records SET altered = array_remove(ARRAY[
        CASE WHEN jsonb_exists(record, '_excerpt') THEN 'too large: only an excerpt kept' END,
        CASE WHEN strpos(record::text, U&'\FFFD') > 0 THEN 'invalid UTF-8 or NUL bytes replaced' END,
        CASE WHEN strpos(record::text, U&'\2026[truncated]"') > 0 THEN 'text over 64 KiB truncated' END
    ], NULL)
    WHERE jsonb_exists(record, '_excerpt') OR strpos(record::text, U&'\FFFD') > 0
       OR strpos(record::text, U&'\2026[truncated]"') > 0;

-- +goose Down
ALTER TABLE quarantined_records DROP COLUMN altered;
