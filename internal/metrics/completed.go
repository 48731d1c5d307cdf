package metrics

import (
	"context"
	"log/slog"
	"math"

	"github.com/scentmatch/pipeline/internal/logging"
)

var nan = math.NaN()

// CompletedMessage is the message of the one line every cycle ends with;
// CloudWatch Logs Insights finds it with filter msg = "Monitoring cycle completed".
const CompletedMessage = "Monitoring cycle completed"

// Completion is what the "Monitoring cycle completed" line says.
type Completion struct {
	CycleID               string
	Outcome               string // succeeded | failed
	DryRun                bool
	ExecutionTimeMinutes  *float64
	NewFragrancesImported *int64
	SystemHealthScore     *float64
	FailedStep            string
	ErrorType             string
}

// Completion summarises the report for the completion line.
func (r *Report) Completion() Completion {
	c := Completion{CycleID: r.CycleID, Outcome: r.Outcome, DryRun: r.DryRun, SystemHealthScore: r.HealthScore}
	if k := r.KPIs[ExecutionTimeMinutes]; k.Value != nil {
		c.ExecutionTimeMinutes = k.Value
	}
	if k := r.KPIs[NewFragrances]; k.Value != nil {
		n := int64(*k.Value)
		c.NewFragrancesImported = &n
	}
	return c
}

// LogCycleCompleted logs the line every cycle ends with: message
// "Monitoring cycle completed" with cycle_id, execution_time_minutes,
// new_fragrances_imported, system_health_score and outcome (null where
// unknown); at level ERROR with failed_step and error_type when the cycle
// failed. The Metrics step logs it; a cycle that fails before Metrics
// runs has it logged by the cycle runner.
func LogCycleCompleted(ctx context.Context, logger *slog.Logger, c Completion) {
	// The attributes name the cycle themselves: drop the context's so the
	// JSON line has one cycle_id.
	ctx = logging.WithCycle(ctx, "", "")
	attrs := []any{
		"cycle_id", c.CycleID,
		"outcome", c.Outcome,
		"execution_time_minutes", orNull(c.ExecutionTimeMinutes),
		"new_fragrances_imported", orNullInt(c.NewFragrancesImported),
		"system_health_score", orNull(c.SystemHealthScore),
	}
	if c.DryRun {
		attrs = append(attrs, "dry_run", true)
	}
	level := slog.LevelInfo
	if c.Outcome == OutcomeFailed || c.FailedStep != "" {
		level = slog.LevelError
		attrs = append(attrs, "step", c.FailedStep, "failed_step", c.FailedStep, "error_type", c.ErrorType)
	}
	logger.Log(ctx, level, CompletedMessage, attrs...)
}

func orNull(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

func orNullInt(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}
