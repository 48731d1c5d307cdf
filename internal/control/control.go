// Package control holds the operator switches stored in the database
// (pipeline_settings). Locally, monitoring_enabled is the stand-in for the
// EventBridge schedule's state: scentmatch stop/start flip it, scheduled
// cycles check it, status reports it.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// KeyMonitoringEnabled is the pipeline_settings key of the flag.
const KeyMonitoringEnabled = "monitoring_enabled"

// Flag is the monitoring switch as stored.
type Flag struct {
	Enabled bool `json:"enabled"`
	// Stored is false when no operator has set the flag: Enabled is then
	// the default the caller gave.
	Stored    bool       `json:"stored"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
}

// stored is the jsonb value of the row.
type stored struct {
	Enabled   bool   `json:"enabled"`
	UpdatedBy string `json:"updated_by,omitempty"`
}

// Monitoring reads the flag; with no row it is def (callers holding the
// configuration pass monitoring_config.json's monitoring_enabled). A value
// stored as a bare JSON boolean is read too.
func Monitoring(ctx context.Context, db postgres.DBTX, def bool) (Flag, error) {
	var raw []byte
	var at time.Time
	err := db.QueryRow(ctx, `SELECT value, updated_at FROM pipeline_settings WHERE key = $1`, KeyMonitoringEnabled).Scan(&raw, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Flag{Enabled: def}, nil
	}
	if err != nil {
		return Flag{}, fmt.Errorf("reading %s: %w", KeyMonitoringEnabled, err)
	}
	f := Flag{Stored: true, UpdatedAt: &at}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		f.Enabled = b
		return f, nil
	}
	var s stored
	if err := json.Unmarshal(raw, &s); err != nil {
		return Flag{}, fmt.Errorf("pipeline_settings %s holds %s: want {\"enabled\": true|false}", KeyMonitoringEnabled, raw)
	}
	f.Enabled, f.UpdatedBy = s.Enabled, s.UpdatedBy
	return f, nil
}

// MonitoringEnabled reports whether scheduled cycles may run: the stored
// flag, true when none is stored.
func MonitoringEnabled(ctx context.Context, db postgres.DBTX) (bool, error) {
	f, err := Monitoring(ctx, db, true)
	return f.Enabled, err
}

// SetMonitoringEnabled stores the flag, saying who set it (an operator
// name, "scentmatch stop", ...). Setting the value it already has only
// refreshes updated_at and updated_by.
func SetMonitoringEnabled(ctx context.Context, db postgres.DBTX, enabled bool, by string) error {
	value, err := json.Marshal(stored{Enabled: enabled, UpdatedBy: by})
	if err != nil {
		return fmt.Errorf("encoding %s: %w", KeyMonitoringEnabled, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO pipeline_settings (key, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, KeyMonitoringEnabled, value); err != nil {
		return fmt.Errorf("storing %s: %w", KeyMonitoringEnabled, err)
	}
	return nil
}
