package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// ErrCycleNotFound is returned when no cycles row has the state's id.
var ErrCycleNotFound = errors.New("cycle not found")

// StoredStepResult returns step's result as stored in
// cycles.step_results, so that a rerun of a finished step returns it
// instead of working again. found is false when the step has not stored
// one; the error wraps ErrCycleNotFound when the cycle does not exist.
func StoredStepResult(ctx context.Context, db postgres.DBTX, cycleID, step string) (raw json.RawMessage, found bool, err error) {
	err = db.QueryRow(ctx, `SELECT step_results -> $2 FROM cycles WHERE id = $1`, cycleID, step).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("reading the %s result of cycle %s: %w", step, cycleID, ErrCycleNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the %s result of cycle %s: %w", step, cycleID, err)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	return raw, true, nil
}

// SaveStepResult stores step's result in cycles.step_results and its
// timing ({"started_at", "finished_at", "seconds"}) in cycles.step_timings,
// replacing an earlier one. The error wraps ErrCycleNotFound when the cycle
// does not exist.
func SaveStepResult(ctx context.Context, db postgres.DBTX, cycleID, step string, result any, started, finished time.Time) error {
	data, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("encoding the %s result: %w", step, err)
	}
	timing, err := json.Marshal(map[string]any{
		"started_at":  started.UTC().Format(time.RFC3339Nano),
		"finished_at": finished.UTC().Format(time.RFC3339Nano),
		"seconds":     finished.Sub(started).Seconds(),
	})
	if err != nil {
		return fmt.Errorf("encoding the %s timing: %w", step, err)
	}
	tag, err := db.Exec(ctx, `UPDATE cycles SET step_results = step_results || jsonb_build_object($2::text, $3::jsonb),
		step_timings = step_timings || jsonb_build_object($2::text, $4::jsonb) WHERE id = $1`,
		cycleID, step, data, timing)
	if err != nil {
		return fmt.Errorf("storing the %s result of cycle %s: %w", step, cycleID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("storing the %s result of cycle %s: %w", step, cycleID, ErrCycleNotFound)
	}
	return nil
}
