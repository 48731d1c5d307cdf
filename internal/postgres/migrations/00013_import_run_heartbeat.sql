-- +goose Up
-- heartbeat_at is when an import run last committed a batch (its start
-- before the first). A run whose process died (SIGKILL, a Lambda timeout)
-- stays 'running'; the next import marks such a run failed once its
-- heartbeat is older than importer.StaleRunAfter.
ALTER TABLE import_runs ADD COLUMN heartbeat_at timestamptz;
UPDATE import_runs SET heartbeat_at = coalesce(finished_at, started_at);

-- +goose Down
ALTER TABLE import_runs DROP COLUMN heartbeat_at;
