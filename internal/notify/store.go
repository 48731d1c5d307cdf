package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// record is one notifications row as the step sees it.
type record struct {
	ID        int64
	Status    string // pending, sent, failed
	MessageID *string
	Error     *string
	ErrorKind *string
	CreatedAt time.Time
	SentAt    *time.Time
}

// intent is one message the step means to send, keyed for the record.
type intent struct {
	kind      Kind
	dedupeKey string
	alertKey  string // "" for reports
	resolves  bool
}

// existing returns the row recorded for the key, if any.
func existing(ctx context.Context, db postgres.DBTX, dedupeKey string) (record, bool, error) {
	var r record
	err := db.QueryRow(ctx, `SELECT id, status, message_id, error, error_kind, created_at, sent_at FROM notifications WHERE dedupe_key = $1`, dedupeKey).
		Scan(&r.ID, &r.Status, &r.MessageID, &r.Error, &r.ErrorKind, &r.CreatedAt, &r.SentAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("reading notification %s: %w", dedupeKey, err)
	}
	return r, true, nil
}

// claim records a send before it is made. It returns the row's id and true
// when this caller may send: the key was new, or its earlier attempt was
// throttled (SES did not take the message). Otherwise another attempt owns
// the key and the caller must not send.
func claim(ctx context.Context, db postgres.DBTX, in intent, cycleID *string, recipients []string, subject string, now time.Time) (int64, bool, error) {
	var alertKey *string
	if in.alertKey != "" {
		alertKey = &in.alertKey
	}
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO notifications (cycle_id, kind, dedupe_key, recipients, subject, status, alert_key, resolves, attempts, created_at)
		VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, 1, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		cycleID, string(in.kind), in.dedupeKey, recipients, subject, alertKey, in.resolves, now).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("recording notification %s: %w", in.dedupeKey, err)
	}
	err = db.QueryRow(ctx, `UPDATE notifications SET status = 'pending', attempts = attempts + 1, recipients = $2, subject = $3,
			error = NULL, error_kind = NULL, failed_at = NULL
		WHERE dedupe_key = $1 AND status = 'failed' AND error_kind = 'throttled' RETURNING id`,
		in.dedupeKey, recipients, subject).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reclaiming notification %s: %w", in.dedupeKey, err)
	}
	return id, true, nil
}

func markSent(ctx context.Context, db postgres.DBTX, id int64, messageID string, now time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE notifications SET status = 'sent', message_id = $2, sent_at = $3 WHERE id = $1`, id, messageID, now); err != nil {
		return fmt.Errorf("recording notification %d as sent: %w", id, err)
	}
	return nil
}

func markFailed(ctx context.Context, db postgres.DBTX, id int64, sendErr error, now time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE notifications SET status = 'failed', error = $2, error_kind = $3, failed_at = $4 WHERE id = $1`,
		id, sendErr.Error(), errorKind(sendErr), now); err != nil {
		return fmt.Errorf("recording notification %d as failed: %w", id, err)
	}
	return nil
}

// alertOpen reports whether kind's alert is open: the latest pending or
// sent alert-or-resolved row of the kind is an alert. since is that
// alert's time.
func alertOpen(ctx context.Context, db postgres.DBTX, kind Kind) (open bool, since time.Time, err error) {
	var resolves bool
	err = db.QueryRow(ctx, `SELECT resolves, created_at FROM notifications
		WHERE kind = $1 AND alert_key IS NOT NULL AND status IN ('pending', 'sent')
		ORDER BY created_at DESC, id DESC LIMIT 1`, string(kind)).Scan(&resolves, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("reading the state of the %s alert: %w", kind, err)
	}
	if resolves {
		return false, time.Time{}, nil
	}
	// The alert opened with the first alert row after the last resolution.
	err = db.QueryRow(ctx, `SELECT min(created_at) FROM notifications
		WHERE kind = $1 AND alert_key IS NOT NULL AND NOT resolves AND status IN ('pending', 'sent')
		AND created_at > coalesce((SELECT max(created_at) FROM notifications
			WHERE kind = $1 AND resolves AND status IN ('pending', 'sent')), '-infinity')`, string(kind)).Scan(&since)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("reading the state of the %s alert: %w", kind, err)
	}
	return true, since, nil
}

// recentAlert returns when the same alert (kind and alert key) was last
// sent after the window began, and no resolution came after it.
func recentAlert(ctx context.Context, db postgres.DBTX, kind Kind, alertKey string, windowStart time.Time) (time.Time, bool, error) {
	var at time.Time
	err := db.QueryRow(ctx, `SELECT created_at FROM notifications
		WHERE kind = $1 AND alert_key = $2 AND NOT resolves AND status IN ('pending', 'sent') AND created_at > $3
		AND created_at > coalesce((SELECT max(created_at) FROM notifications
			WHERE kind = $1 AND resolves AND status IN ('pending', 'sent')), '-infinity')
		ORDER BY created_at DESC LIMIT 1`, string(kind), alertKey, windowStart).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("looking for a recent %s alert: %w", kind, err)
	}
	return at, true, nil
}

// SendFailure is a send that did not go out.
type SendFailure struct {
	Kind       string    `json:"kind"`
	CycleID    *string   `json:"cycle_id"`
	Recipients []string  `json:"recipients"`
	Subject    string    `json:"subject"`
	Error      string    `json:"error"`
	ErrorKind  string    `json:"error_kind"` // rejected, sandbox, throttled, failed
	At         time.Time `json:"at"`
}

// LastFailure returns the latest send attempt when it failed: found is
// true while the most recent notification that finished (sent or failed)
// is a failure, so the health check can report e-mail unhealthy until a
// send succeeds again.
func LastFailure(ctx context.Context, db postgres.DBTX) (f SendFailure, found bool, err error) {
	var status string
	var errText, errKind *string
	err = db.QueryRow(ctx, `SELECT status, kind, cycle_id, recipients, subject, error, error_kind, coalesce(failed_at, sent_at, created_at)
		FROM notifications WHERE status IN ('sent', 'failed')
		ORDER BY coalesce(failed_at, sent_at, created_at) DESC, id DESC LIMIT 1`).
		Scan(&status, &f.Kind, &f.CycleID, &f.Recipients, &f.Subject, &errText, &errKind, &f.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return SendFailure{}, false, nil
	}
	if err != nil {
		return SendFailure{}, false, fmt.Errorf("reading the last notification: %w", err)
	}
	if status != "failed" {
		return SendFailure{}, false, nil
	}
	f.Error, f.ErrorKind = deref(errText), deref(errKind)
	return f, true, nil
}
