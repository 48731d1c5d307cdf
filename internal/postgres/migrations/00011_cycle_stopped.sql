-- +goose Up
-- An emergency stop ends a running cycle between states as 'stopped'
-- (neither a success nor a failure to alert on).
ALTER TABLE cycles DROP CONSTRAINT cycles_status_check;
ALTER TABLE cycles ADD CONSTRAINT cycles_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'stopped'));

-- +goose Down
UPDATE cycles SET status = 'failed', error_type = coalesce(error_type, 'Stopped') WHERE status = 'stopped';
ALTER TABLE cycles DROP CONSTRAINT cycles_status_check;
ALTER TABLE cycles ADD CONSTRAINT cycles_status_check CHECK (status IN ('running', 'succeeded', 'failed'));
