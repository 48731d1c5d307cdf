package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Cycle is a cycles row as the metrics read it.
type Cycle struct {
	ID            string                     `json:"id"`
	Trigger       string                     `json:"trigger"`
	Status        string                     `json:"status"` // running | succeeded | failed | stopped
	DryRun        bool                       `json:"dry_run"`
	StartedAt     time.Time                  `json:"started_at"`
	FinishedAt    *time.Time                 `json:"finished_at"`
	StepResults   map[string]json.RawMessage `json:"-"`
	FailedStep    *string                    `json:"failed_step"`
	ErrorType     *string                    `json:"error_type"`
	ErrorMessage  *string                    `json:"error_message"`
	KPIs          map[string]KPI             `json:"kpis"`
	HealthScore   *float64                   `json:"health_score"`
	NewFragrances int                        `json:"new_fragrances"`
}

// Failed reports whether the cycle failed (a stopped cycle did not).
func (c *Cycle) Failed() bool { return c.Status == cycle.StatusFailed }

const cycleColumns = `id, trigger, status, dry_run, started_at, finished_at, step_results, failed_step, error_type,
	error_message, kpis, health_score::float8, new_fragrances`

func scanCycle(row pgx.Row) (*Cycle, error) {
	c := &Cycle{}
	var results, kpis []byte
	if err := row.Scan(&c.ID, &c.Trigger, &c.Status, &c.DryRun, &c.StartedAt, &c.FinishedAt, &results, &c.FailedStep,
		&c.ErrorType, &c.ErrorMessage, &kpis, &c.HealthScore, &c.NewFragrances); err != nil {
		return nil, err
	}
	if len(results) > 0 {
		if err := json.Unmarshal(results, &c.StepResults); err != nil {
			return nil, fmt.Errorf("cycle %s: step_results: %w", c.ID, err)
		}
	}
	if len(kpis) > 0 && string(kpis) != "null" {
		// A KPI stored in another shape is left out rather than failing the view.
		var loose map[string]json.RawMessage
		if err := json.Unmarshal(kpis, &loose); err == nil {
			c.KPIs = map[string]KPI{}
			for n, raw := range loose {
				var k KPI
				if json.Unmarshal(raw, &k) == nil {
					c.KPIs[n] = k
				}
			}
		}
	}
	return c, nil
}

// LoadCycle reads one cycle; the error wraps cycle.ErrNotFound when
// there is none with that id.
func LoadCycle(ctx context.Context, db postgres.DBTX, id string) (*Cycle, error) {
	c, err := scanCycle(db.QueryRow(ctx, `SELECT `+cycleColumns+` FROM cycles WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("cycle %q: %w", id, cycle.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading cycle %s: %w", id, err)
	}
	return c, nil
}

// LatestCycle reads the most recently started cycle, or returns nil when
// no cycle has run yet.
func LatestCycle(ctx context.Context, db postgres.DBTX) (*Cycle, error) {
	c, err := scanCycle(db.QueryRow(ctx, `SELECT `+cycleColumns+` FROM cycles ORDER BY started_at DESC, id DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the latest cycle: %w", err)
	}
	return c, nil
}

// CyclesBetween reads the cycles started in [from, to), oldest first.
func CyclesBetween(ctx context.Context, db postgres.DBTX, from, to time.Time) ([]*Cycle, error) {
	rows, err := db.Query(ctx, `SELECT `+cycleColumns+` FROM cycles WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at, id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reading cycles: %w", err)
	}
	defer rows.Close()
	var out []*Cycle
	for rows.Next() {
		c, err := scanCycle(rows)
		if err != nil {
			return nil, fmt.Errorf("reading cycles: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
