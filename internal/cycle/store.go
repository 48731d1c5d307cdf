package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
)

// Cycle outcomes, as stored in cycles.status.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusStopped   = "stopped"
)

// Store keeps the cycles table: the lease that allows one running cycle
// across Lambdas and machines, and each step's stored result.
type Store struct {
	DB postgres.DBTX
	// Lease is how long a cycle holds the lease without a heartbeat; a
	// running cycle whose lease expired (a crashed runner) is marked failed
	// when the next cycle begins.
	Lease time.Duration
	Now   func() time.Time
	// Stopped reports an emergency stop; RunStep checks it before each
	// step and ends the cycle as stopped (nil: never stopped).
	Stopped func(context.Context) (bool, error)
	// Budget is the cycle's time budget (monitoring_config.json
	// cycle.timeout_minutes; 0: none). RunStep refuses to begin Detect,
	// Import or Maintain once the cycle has run longer; Metrics and
	// Notify still run, so the overrun is recorded and alerted.
	Budget time.Duration
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) lease() time.Duration {
	if s.Lease <= 0 {
		return 90 * time.Minute
	}
	return s.Lease
}

// Record is one row of the cycles table.
type Record struct {
	ID            string                     `json:"id"`
	Trigger       string                     `json:"trigger"`
	Status        string                     `json:"status"`
	DryRun        bool                       `json:"dry_run"`
	MaxFragrances *int                       `json:"max_fragrances"`
	StartedAt     time.Time                  `json:"started_at"`
	FinishedAt    *time.Time                 `json:"finished_at"`
	StepResults   map[string]json.RawMessage `json:"step_results"`
	HealthScore   *float64                   `json:"health_score"`
	NewFragrances int                        `json:"new_fragrances"`
	FailedStep    *string                    `json:"failed_step"`
	ErrorType     *string                    `json:"error_type"`
	ErrorMessage  *string                    `json:"error_message"`
}

// ErrNotFound is returned for a cycle id with no row.
var ErrNotFound = errors.New("no such cycle")

// Get reads one cycle.
func (s *Store) Get(ctx context.Context, id string) (*Record, error) {
	var r Record
	var results []byte
	err := s.DB.QueryRow(ctx, `SELECT id, trigger, status, dry_run, max_fragrances, started_at, finished_at,
		step_results, health_score::float8, new_fragrances, failed_step, error_type, error_message
		FROM cycles WHERE id = $1`, id).Scan(&r.ID, &r.Trigger, &r.Status, &r.DryRun, &r.MaxFragrances,
		&r.StartedAt, &r.FinishedAt, &results, &r.HealthScore, &r.NewFragrances, &r.FailedStep, &r.ErrorType, &r.ErrorMessage)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("cycle %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading cycle %s: %w", id, err)
	}
	if err := json.Unmarshal(results, &r.StepResults); err != nil {
		return nil, fmt.Errorf("decoding cycle %s step results: %w", id, err)
	}
	return &r, nil
}

// Begin takes the lease for st.CycleID. The same id again (a retry or a
// redrive of the same execution) renews its lease and goes on; another
// running cycle with a live lease refuses with *AlreadyRunningError and
// touches nothing; one whose lease expired is marked failed first. A
// cycle that already finished is returned as it is: its steps answer from
// their stored results.
func (s *Store) Begin(ctx context.Context, st State) (*Record, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	trigger := st.Trigger
	if trigger != "schedule" {
		trigger = "manual"
	}
	for attempt := 0; attempt < 3; attempt++ {
		now := s.now()
		tag, err := s.DB.Exec(ctx, `INSERT INTO cycles (id, trigger, dry_run, max_fragrances, started_at, heartbeat_at, lease_expires_at)
			VALUES ($1, $2, $3, $4, $5, $5, $6)
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = $5, lease_expires_at = $6
			WHERE cycles.status = 'running'`,
			st.CycleID, trigger, st.DryRun, st.MaxFragrances, now, now.Add(s.lease()))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "cycles_one_running" {
			other, expired, err := s.running(ctx)
			if err != nil {
				return nil, err
			}
			if other == nil {
				continue // it finished meanwhile
			}
			if !expired {
				return nil, &AlreadyRunningError{ID: other.ID, StartedAt: other.StartedAt.UTC().Format(time.RFC3339)}
			}
			if _, err := s.DB.Exec(ctx, `UPDATE cycles SET status = 'failed', finished_at = greatest($2, started_at),
				error_type = 'LeaseExpired', error_message = 'the cycle stopped sending heartbeats; a later cycle took over'
				WHERE id = $1 AND status = 'running'`, other.ID, s.now()); err != nil {
				return nil, fmt.Errorf("expiring cycle %s: %w", other.ID, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("beginning cycle %s: %w", st.CycleID, err)
		}
		_ = tag
		return s.Get(ctx, st.CycleID)
	}
	return nil, fmt.Errorf("beginning cycle %s: the lease kept changing hands", st.CycleID)
}

// Running returns the running cycle (nil when none) and whether its lease
// has expired.
func (s *Store) Running(ctx context.Context) (*Record, bool, error) { return s.running(ctx) }

func (s *Store) running(ctx context.Context) (*Record, bool, error) {
	var r Record
	var expires *time.Time
	err := s.DB.QueryRow(ctx, `SELECT id, started_at, lease_expires_at FROM cycles WHERE status = 'running'`).
		Scan(&r.ID, &r.StartedAt, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the running cycle: %w", err)
	}
	return &r, expires != nil && expires.Before(s.now()), nil
}

// SaveStep stores one step's result and timing and renews the lease.
func (s *Store) SaveStep(ctx context.Context, id, step string, result any, started time.Time) error {
	b, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("encoding the %s result: %w", step, err)
	}
	now := s.now()
	timing, _ := json.Marshal(map[string]any{
		"started_at": started.UTC(), "finished_at": now.UTC(), "seconds": now.Sub(started).Seconds(),
	})
	_, err = s.DB.Exec(ctx, `UPDATE cycles SET
		step_results = step_results || jsonb_build_object($2::text, $3::jsonb),
		step_timings = step_timings || jsonb_build_object($2::text, $4::jsonb),
		heartbeat_at = $5, lease_expires_at = CASE WHEN status = 'running' THEN $6 ELSE lease_expires_at END
		WHERE id = $1`, id, step, postgres.JSONArg(b), postgres.JSONArg(timing), now, now.Add(s.lease()))
	if err != nil {
		return fmt.Errorf("saving the %s result of cycle %s: %w", step, id, err)
	}
	return nil
}

// Finish ends a cycle with an outcome. Finishing a cycle that already
// ended keeps its first finish time; a failure recorded after a success
// (the notify step failed after metrics closed the cycle) wins.
func (s *Store) Finish(ctx context.Context, id, status string, failure *Failure) error {
	var step, typ, msg *string
	if failure != nil {
		// An error message may quote a connection string: the row is
		// read by status, metrics and the error alert.
		m := redact.Secrets(failure.Message)
		step, typ, msg = &failure.Step, &failure.Type, &m
	}
	_, err := s.DB.Exec(ctx, `UPDATE cycles SET status = $2,
		finished_at = coalesce(finished_at, greatest($3, started_at)),
		failed_step = coalesce($4, failed_step), error_type = coalesce($5, error_type), error_message = coalesce($6, error_message),
		lease_expires_at = NULL
		WHERE id = $1 AND (status = 'running' OR $2 = 'failed')`, id, status, s.now(), step, typ, msg)
	if err != nil {
		return fmt.Errorf("finishing cycle %s: %w", id, err)
	}
	return nil
}

// Failure is why a cycle failed.
type Failure struct {
	Step    string `json:"step"`
	Type    string `json:"type"`
	Message string `json:"message"`
}
