-- +goose Up
-- Alert state and send failures for the notify step (internal/notify).
-- A notification is recorded (status pending) before it is sent, keyed by
-- dedupe_key (cycle and type), so a retried step never sends it twice.
--
-- alert_key names the condition an alert is about (health_failure,
-- performance_warning, error:<step>:<type>); NULL for reports. A row with
-- resolves = true is the one "resolved" message sent when the condition
-- clears: the latest pending or sent row of a kind says whether its alert
-- is open.
ALTER TABLE notifications
    ADD COLUMN alert_key  text,
    ADD COLUMN resolves   boolean NOT NULL DEFAULT false,
    ADD COLUMN attempts   integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN error_kind text CHECK (error_kind IN ('rejected', 'sandbox', 'throttled', 'failed')),
    ADD COLUMN failed_at  timestamptz,
    ADD CONSTRAINT notifications_failed_has_error CHECK (status <> 'failed' OR (error IS NOT NULL AND error_kind IS NOT NULL));
-- Is this kind's alert open, and was the same alert sent within the window?
CREATE INDEX notifications_alerts ON notifications (kind, created_at DESC) WHERE alert_key IS NOT NULL;

-- +goose Down
DROP INDEX notifications_alerts;
ALTER TABLE notifications
    DROP CONSTRAINT notifications_failed_has_error,
    DROP COLUMN failed_at,
    DROP COLUMN error_kind,
    DROP COLUMN attempts,
    DROP COLUMN resolves,
    DROP COLUMN alert_key;
