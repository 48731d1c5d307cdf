package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/emf"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/rusage"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Step is the cycle's Metrics step.
type Step struct {
	Pool   *pgxpool.Pool
	Config *settings.Config
	Logger *slog.Logger
	// EMF receives the CloudWatch metrics (stdout in Lambda); nil writes none.
	EMF *emf.Writer
	Now func() time.Time
	// RSS returns the step's peak memory in MB (default rusage.MaxRSSMB).
	RSS func() float64
}

func (s *Step) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handle computes the cycle's KPIs and health score, stores them on the
// cycles row (kpis, health_score, new_fragrances, step_results.metrics),
// writes the EMF line and logs "Monitoring cycle completed". A rerun for a
// cycle whose metrics are stored returns them and writes nothing. Errors
// are *cycle.BadInputError (no such cycle) or *cycle.TransientError
// (the database), unwrapped, so Step Functions can tell them apart.
func (s *Step) Handle(ctx context.Context, st cycle.State) (*Report, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	ctx = logging.WithCycle(ctx, st.CycleID, cycle.StepMetrics)
	started := s.now()
	raw, found, err := cycle.StoredStepResult(ctx, s.Pool, st.CycleID, cycle.StepMetrics)
	if err != nil {
		return nil, stepError(err)
	}
	if found {
		var rep Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			return nil, &cycle.BadInputError{Err: fmt.Errorf("the stored metrics of cycle %s: %w", st.CycleID, err)}
		}
		s.Logger.InfoContext(ctx, "metrics already stored for this cycle; returning them", "health_score", rep.HealthScore)
		return &rep, nil
	}
	cy, err := LoadCycle(ctx, s.Pool, st.CycleID)
	if err != nil {
		return nil, stepError(err)
	}
	rss := rusage.MaxRSSMB
	if s.RSS != nil {
		rss = s.RSS
	}
	comp := &Computer{Pool: s.Pool, Config: s.Config, Now: s.Now}
	rep, err := comp.Compute(ctx, Input{Cycle: cy, Results: st.Results, StepError: st.Error, SelfRSSMB: rss(), Finishing: true})
	if err != nil {
		return nil, stepError(err)
	}
	if err := Store(ctx, s.Pool, rep, started, s.now()); err != nil {
		return nil, stepError(err)
	}
	if s.EMF != nil {
		if cy.DryRun {
			s.Logger.InfoContext(ctx, "dry run: no CloudWatch metrics written")
		} else if err := s.EMF.Emit(EMFMetrics(rep), map[string]any{"cycle_id": rep.CycleID}); err != nil {
			s.Logger.WarnContext(ctx, "writing the CloudWatch metrics", "err", err)
		}
	}
	c := rep.Completion()
	if cy.FailedStep != nil {
		c.FailedStep = *cy.FailedStep
	}
	if st.Error != nil {
		c.ErrorType = st.Error.Error
	} else if cy.ErrorType != nil {
		c.ErrorType = *cy.ErrorType
	}
	LogCycleCompleted(ctx, s.Logger, c)
	return rep, nil
}

// Store writes the report on its cycle: kpis, health_score, new_fragrances
// and step_results.metrics, in one transaction.
func Store(ctx context.Context, pool *pgxpool.Pool, rep *Report, started, finished time.Time) error {
	if rep.CycleID == "" {
		return errors.New("storing metrics: the report is about no cycle")
	}
	kpis, err := json.Marshal(rep.KPIs)
	if err != nil {
		return fmt.Errorf("encoding the KPIs: %w", err)
	}
	var newFragrances *int64
	if k := rep.KPIs[NewFragrances]; k.Value != nil {
		n := int64(*k.Value)
		newFragrances = &n
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cycles SET kpis = $2, health_score = $3, new_fragrances = coalesce($4, new_fragrances) WHERE id = $1`,
			rep.CycleID, kpis, rep.HealthScore, newFragrances)
		if err != nil {
			return fmt.Errorf("storing the metrics of cycle %s: %w", rep.CycleID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("storing the metrics of cycle %s: %w", rep.CycleID, cycle.ErrCycleNotFound)
		}
		return cycle.SaveStepResult(ctx, tx, rep.CycleID, cycle.StepMetrics, rep, started, finished)
	})
}

// stepError gives err the type Step Functions retries or catches on.
func stepError(err error) error {
	var bad *cycle.BadInputError
	var tr *cycle.TransientError
	if errors.As(err, &bad) || errors.As(err, &tr) {
		return err
	}
	if errors.Is(err, cycle.ErrCycleNotFound) {
		return &cycle.BadInputError{Err: err}
	}
	if postgres.IsTransient(err) {
		return &cycle.TransientError{Err: err}
	}
	return err
}

// EMF metric names (namespace ScentMatch/Pipeline, dimension Environment).
const (
	MetricCycleDurationSeconds  = "CycleDurationSeconds"
	MetricNewFragrancesImported = "NewFragrancesImported"
	MetricSystemHealthScore     = "SystemHealthScore"
	MetricErrorRate             = "ErrorRate"
	MetricImportSuccessRate     = "ImportSuccessRate"
	MetricValidationPassRate    = "ValidationPassRate"
	MetricEmbeddingSuccessRate  = "EmbeddingSuccessRate"
	MetricPendingEmbeddings     = "PendingEmbeddings"
	MetricReviewQueueSize       = "ReviewQueueSize"
	MetricPeakMemoryMB          = "PeakMemoryMB"
	MetricDatabaseConnections   = "DatabaseConnections"
)

// EMFMetrics maps a report to CloudWatch metrics; unknown KPIs are NaN,
// which the writer leaves out.
func EMFMetrics(rep *Report) []emf.Metric {
	val := func(name string, scale float64) float64 {
		if k, ok := rep.KPIs[name]; ok && k.Value != nil {
			return round2(*k.Value * scale)
		}
		return nan
	}
	score := nan
	if rep.HealthScore != nil {
		score = *rep.HealthScore
	}
	return []emf.Metric{
		{Name: MetricCycleDurationSeconds, Unit: emf.Seconds, Value: val(ExecutionTimeMinutes, 60)},
		{Name: MetricNewFragrancesImported, Unit: emf.Count, Value: val(NewFragrances, 1)},
		{Name: MetricSystemHealthScore, Unit: emf.None, Value: score},
		{Name: MetricErrorRate, Unit: emf.Percent, Value: val(ErrorRate, 1)},
		{Name: MetricImportSuccessRate, Unit: emf.Percent, Value: val(ImportSuccessRate, 1)},
		{Name: MetricValidationPassRate, Unit: emf.Percent, Value: val(ValidationPassRate, 1)},
		{Name: MetricEmbeddingSuccessRate, Unit: emf.Percent, Value: val(EmbeddingSuccessRate, 1)},
		{Name: MetricPendingEmbeddings, Unit: emf.Count, Value: val(PendingEmbeddings, 1)},
		{Name: MetricReviewQueueSize, Unit: emf.Count, Value: val(ReviewQueueSize, 1)},
		{Name: MetricPeakMemoryMB, Unit: emf.Megabytes, Value: val(PeakMemoryMB, 1)},
		{Name: MetricDatabaseConnections, Unit: emf.Count, Value: val(DatabaseConnections, 1)},
	}
}

// Handler is the metrics function's handler: it opens the step on first
// use and keeps it for the warm container's later invocations.
type Handler struct {
	Step func(ctx context.Context) (*Step, error)
}

// Handle runs the step.
func (h *Handler) Handle(ctx context.Context, st cycle.State) (*Report, error) {
	s, err := h.Step(ctx)
	if err != nil {
		var ce *postgres.ConnectError
		if errors.As(err, &ce) && ce.Transient() {
			return nil, &cycle.TransientError{Err: err}
		}
		return nil, err
	}
	return s.Handle(ctx, st)
}
