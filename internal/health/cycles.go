package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lastCycleComponent is unhealthy when the newest cycle started more than
// maxAgeDays ago, when it failed, or when it is running with an expired
// lease (stuck). No cycle yet is healthy: a fresh installation.
func lastCycleComponent(ctx context.Context, pool *pgxpool.Pool, now time.Time, maxAgeDays float64) Component {
	var id, status string
	var started time.Time
	var lease *time.Time
	var failedStep, errorType *string
	var warnings []string
	err := pool.QueryRow(ctx, `SELECT id, status, started_at, lease_expires_at, failed_step, error_type,
		CASE WHEN jsonb_typeof(step_results -> 'detect' -> 'warnings') = 'array' THEN step_results -> 'detect' -> 'warnings' ELSE '[]'::jsonb END
		FROM cycles ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&id, &status, &started, &lease, &failedStep, &errorType, &warnings)
	if errors.Is(err, pgx.ErrNoRows) {
		return Component{Healthy: true, Detail: "no cycle has run yet"}
	}
	if err != nil {
		return Component{Healthy: false, Detail: "reading the last cycle: " + err.Error()}
	}
	age := now.Sub(started).Hours() / 24
	ago := fmt.Sprintf("%.1f days ago", age)
	switch {
	case age > maxAgeDays:
		return Component{Healthy: false, Detail: fmt.Sprintf("last cycle %s started %s, more than %g days: is the schedule on? (scentmatch status)", id, ago, maxAgeDays)}
	case status == "running" && lease != nil && lease.Before(now):
		return Component{Healthy: false, Detail: fmt.Sprintf("cycle %s started %s and its lease expired at %s: stuck?", id, ago, lease.UTC().Format(time.RFC3339))}
	case status == "running":
		return Component{Healthy: true, Detail: fmt.Sprintf("cycle %s running, started %s", id, ago)}
	case status == "failed":
		return Component{Healthy: false, Detail: fmt.Sprintf("last cycle %s failed (step %s, %s), started %s", id, deref(failedStep, "unknown"), deref(errorType, "no error type"), ago)}
	}
	// A step's warning (detect's "no source enabled") leaves the cycle
	// healthy and is shown here, so health says what status says.
	detail := fmt.Sprintf("last cycle %s %s, started %s", id, status, ago)
	for _, w := range warnings {
		detail += "; warning: " + w
	}
	return Component{Healthy: true, Detail: detail}
}

// errorRateComponent judges the error_rate KPI of the newest cycle that
// has one against thresholds.error_rate_max_percent.
func errorRateComponent(ctx context.Context, pool *pgxpool.Pool, maxPercent float64) Component {
	var id string
	var rate float64
	err := pool.QueryRow(ctx, `SELECT id, (kpis -> 'error_rate' ->> 'value')::float8 FROM cycles
		WHERE jsonb_typeof(kpis -> 'error_rate' -> 'value') = 'number' ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&id, &rate)
	if errors.Is(err, pgx.ErrNoRows) {
		return Component{Healthy: true, Detail: "no cycle has recorded an error rate yet"}
	}
	if err != nil {
		return Component{Healthy: false, Detail: "reading the error rate: " + err.Error()}
	}
	if rate > maxPercent {
		return Component{Healthy: false, Detail: fmt.Sprintf("error rate %.2f%% in cycle %s, above %g%%", rate, id, maxPercent)}
	}
	return Component{Healthy: true, Detail: fmt.Sprintf("error rate %.2f%% in cycle %s (limit %g%%)", rate, id, maxPercent)}
}

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}
