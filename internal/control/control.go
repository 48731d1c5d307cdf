// Package control holds the emergency stop and start of the pipeline: the
// monitoring_enabled flag stored in pipeline_settings (what the cycle
// checks locally, between states), and in AWS the weekly EventBridge
// schedule and the running Step Functions executions.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scentmatch/pipeline/internal/control/flag"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Keys of pipeline_settings this package owns.
const (
	// KeyMonitoringEnabled holds a JSON boolean; no row means enabled.
	KeyMonitoringEnabled = flag.KeyMonitoringEnabled
	// KeyMonitoringChange holds who stopped or started the pipeline, when
	// and why (a Change).
	KeyMonitoringChange = "monitoring_change"
)

// SettingKeys are the pipeline_settings rows that say whether the
// pipeline runs. A restore keeps the target's rows of these keys, so
// that restoring during a stop does not restart the pipeline.
var SettingKeys = []string{KeyMonitoringEnabled, KeyMonitoringChange}

// DB is the query surface the flag needs: a pool, a connection or a
// transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Change records the last stop or start.
type Change struct {
	Enabled bool      `json:"enabled"`
	By      string    `json:"by"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// MonitoringEnabled reports whether scheduled and running cycles may go on.
// It is true when no flag has ever been stored.
func MonitoringEnabled(ctx context.Context, db DB) (bool, error) {
	return flag.MonitoringEnabled(ctx, db)
}

// SetMonitoringEnabled stores the flag and who changed it, when (the
// database's clock) and why, in one statement.
func SetMonitoringEnabled(ctx context.Context, db DB, enabled bool, by, reason string) error {
	change, err := json.Marshal(map[string]any{"enabled": enabled, "by": by, "reason": reason})
	if err != nil {
		return fmt.Errorf("encoding the change: %w", err)
	}
	_, err = db.Exec(ctx, `INSERT INTO pipeline_settings (key, value, updated_at)
		VALUES ($1, to_jsonb($3::boolean), now()),
		       ($2, $4::jsonb || jsonb_build_object('at', now()), now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		KeyMonitoringEnabled, KeyMonitoringChange, enabled, postgres.JSONArg(change))
	if err != nil {
		return fmt.Errorf("storing %s = %t: %w", KeyMonitoringEnabled, enabled, err)
	}
	return nil
}

// LastChange returns the last stop or start; ok is false when there was none.
func LastChange(ctx context.Context, db DB) (c Change, ok bool, err error) {
	err = db.QueryRow(ctx, `SELECT value FROM pipeline_settings WHERE key = $1`, KeyMonitoringChange).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return Change{}, false, nil
	}
	if err != nil {
		return Change{}, false, fmt.Errorf("reading %s: %w", KeyMonitoringChange, err)
	}
	return c, true, nil
}

// StopRequested reports whether a running cycle should end as stopped at
// its next state boundary: the pipeline has been stopped since.
func StopRequested(ctx context.Context, db DB) (bool, error) {
	return flag.StopRequested(ctx, db)
}

// RunningCycle returns the id of the running cycle, or "" when none runs.
func RunningCycle(ctx context.Context, db DB) (string, error) {
	var id string
	err := db.QueryRow(ctx, `SELECT id FROM cycles WHERE status = 'running' ORDER BY started_at DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("looking for a running cycle: %w", err)
	}
	return id, nil
}

// Flag is the monitoring switch as stored, for status.
type Flag struct {
	Enabled bool `json:"enabled"`
	// Stored is false when no operator has set the flag: Enabled is then
	// the default the caller gave.
	Stored    bool       `json:"stored"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
	Reason    string     `json:"reason,omitempty"`
}

// Monitoring reads the flag; with no row it is def (callers holding the
// configuration pass monitoring_config.json's monitoring_enabled).
func Monitoring(ctx context.Context, db DB, def bool) (Flag, error) {
	var raw []byte
	var at time.Time
	err := db.QueryRow(ctx, `SELECT value, updated_at FROM pipeline_settings WHERE key = $1`, KeyMonitoringEnabled).Scan(&raw, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Flag{Enabled: def}, nil
	}
	if err != nil {
		return Flag{}, fmt.Errorf("reading %s: %w", KeyMonitoringEnabled, err)
	}
	enabled, err := flag.Decode(raw)
	if err != nil {
		return Flag{}, err
	}
	f := Flag{Enabled: enabled, Stored: true, UpdatedAt: &at}
	if c, ok, err := LastChange(ctx, db); err == nil && ok {
		f.UpdatedBy, f.Reason = c.By, c.Reason
	}
	return f, nil
}
