// Package flag reads the pipeline's monitoring_enabled flag (the
// emergency stop) from pipeline_settings. It is apart from package
// control so that a function that only needs to read the flag (notify)
// does not link control's Scheduler and Step Functions clients.
package flag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// KeyMonitoringEnabled holds a JSON boolean; no row means enabled.
const KeyMonitoringEnabled = "monitoring_enabled"

// Querier is what reading the flag needs: a pool, a connection or a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// MonitoringEnabled reports whether scheduled and running cycles may go on.
// It is true when no flag has ever been stored.
func MonitoringEnabled(ctx context.Context, db Querier) (bool, error) {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT value FROM pipeline_settings WHERE key = $1`, KeyMonitoringEnabled).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", KeyMonitoringEnabled, err)
	}
	return Decode(raw)
}

// Decode reads the flag's stored value: a JSON boolean, or an object with an "enabled" field.
func Decode(raw []byte) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var obj struct {
		Enabled *bool `json:"enabled"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Enabled == nil {
		return false, fmt.Errorf("pipeline_settings %s holds %s: want true or false", KeyMonitoringEnabled, raw)
	}
	return *obj.Enabled, nil
}

// StopRequested reports whether a running cycle should end as stopped at
// its next state boundary: the pipeline has been stopped since.
func StopRequested(ctx context.Context, db Querier) (bool, error) {
	enabled, err := MonitoringEnabled(ctx, db)
	if err != nil {
		return false, err
	}
	return !enabled, nil
}
