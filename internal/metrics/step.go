package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// Step is the cycle's Metrics step. The state machine runs it on the
// success path, where it closes the cycle as succeeded, and on the Catch
// path (RecordFailure, $.error set), where it records the failure.
type Step struct {
	Pool   *pgxpool.Pool
	Config *settings.Config
	Logger *slog.Logger
	// EMF receives the CloudWatch metrics (stdout in Lambda); nil writes none.
	EMF *emf.Writer
	Now func() time.Time
	// RSS returns the step's peak memory in MB (default rusage.MaxRSSMB).
	RSS func() float64
	// Store keeps the cycle's lease and step results (nil: a store on Pool
	// with the configured lease).
	Store *cycle.Store
}

func (s *Step) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Step) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Step) store() *cycle.Store {
	if s.Store != nil {
		return s.Store
	}
	return &cycle.Store{DB: s.Pool, Lease: time.Duration(s.Config.Monitoring.Cycle.LeaseMinutes) * time.Minute, Now: s.Now}
}

// Handle computes the cycle's KPIs and health score, stores them on the
// cycles row (kpis, health_score, new_fragrances, step_results.metrics),
// writes the EMF line, logs "Monitoring cycle completed" and finishes the
// cycle: succeeded, or (on the Catch path) failed at the step $.error
// comes from. cycle.RunStep makes it idempotent by cycle id: a rerun for a
// cycle whose metrics are stored returns them and writes no second EMF or
// completion line. Errors are typed for Step Functions.
func (s *Step) Handle(ctx context.Context, st cycle.State) (*Report, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	ctx = logging.WithCycle(ctx, st.CycleID, cycle.StepMetrics)
	store := s.store()
	if st.Error != nil {
		return s.recordFailure(ctx, store, st)
	}
	computed := false
	rep, err := cycle.RunStep(ctx, store, st, cycle.StepMetrics, func(ctx context.Context) (*Report, error) {
		rep, err := s.compute(ctx, st)
		computed = err == nil
		return rep, err
	})
	if err != nil {
		return nil, err
	}
	if computed {
		s.publish(ctx, rep, cycle.Failure{})
	}
	if err := store.Finish(ctx, st.CycleID, cycle.StatusSucceeded, nil); err != nil {
		return nil, cycle.Classify(err)
	}
	return rep, nil
}

// recordFailure is the Catch path: compute and store the metrics unless
// the success path already did (the notify step failed after them), then
// mark the cycle failed at the step that failed. An emergency stop stays
// "stopped"; a cycle that never began (refused while another ran) is only
// logged.
func (s *Step) recordFailure(ctx context.Context, store *cycle.Store, st cycle.State) (*Report, error) {
	f := FailureOf(st)
	rec, err := store.Get(ctx, st.CycleID)
	if errors.Is(err, cycle.ErrNotFound) {
		LogCycleCompleted(ctx, s.logger(), Completion{CycleID: st.CycleID, Outcome: OutcomeFailed, FailedStep: f.Step, ErrorType: f.Type})
		return &Report{CycleID: st.CycleID, Outcome: OutcomeFailed, KPIs: map[string]KPI{}, ComputedAt: s.now().UTC()}, nil
	}
	if err != nil {
		return nil, cycle.Classify(err)
	}
	var rep *Report
	if raw, ok := rec.StepResults[cycle.StepMetrics]; ok && len(raw) > 0 && string(raw) != "null" {
		rep = &Report{}
		if err := json.Unmarshal(raw, rep); err != nil {
			return nil, &cycle.BadInputError{Err: fmt.Errorf("the stored metrics of cycle %s: %w", st.CycleID, err)}
		}
		if rec.Status != cycle.StatusFailed {
			s.logger().ErrorContext(ctx, "cycle failed after its metrics were recorded", "failed_step", f.Step, "error_type", f.Type, "error", f.Message)
		}
	} else {
		started := s.now()
		if rep, err = s.compute(ctx, st); err != nil {
			return nil, cycle.Classify(err)
		}
		if err := store.SaveStep(ctx, st.CycleID, cycle.StepMetrics, rep, started); err != nil {
			return nil, cycle.Classify(err)
		}
		s.publish(ctx, rep, f)
	}
	if rec.Status != cycle.StatusStopped {
		if err := store.Finish(ctx, st.CycleID, cycle.StatusFailed, &f); err != nil {
			return nil, cycle.Classify(err)
		}
	}
	return rep, nil
}

// compute computes the KPIs of the cycle the state names and stores them
// on its row.
func (s *Step) compute(ctx context.Context, st cycle.State) (*Report, error) {
	cy, err := LoadCycle(ctx, s.Pool, st.CycleID)
	if err != nil {
		return nil, err
	}
	rss := rusage.MaxRSSMB
	if s.RSS != nil {
		rss = s.RSS
	}
	comp := &Computer{Pool: s.Pool, Config: s.Config, Now: s.Now}
	rep, err := comp.Compute(ctx, Input{Cycle: cy, Results: st.Results, StepError: st.Error, SelfRSSMB: rss(), Finishing: true})
	if err != nil {
		return nil, err
	}
	if err := StoreKPIs(ctx, s.Pool, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// publish writes the EMF line (not for dry runs) and the completion line.
func (s *Step) publish(ctx context.Context, rep *Report, f cycle.Failure) {
	if s.EMF != nil {
		if rep.DryRun {
			s.logger().InfoContext(ctx, "dry run: no CloudWatch metrics written")
		} else if err := s.EMF.Emit(EMFMetrics(rep), map[string]any{"cycle_id": rep.CycleID}); err != nil {
			s.logger().WarnContext(ctx, "writing the CloudWatch metrics", "err", err)
		}
	}
	c := rep.Completion()
	c.FailedStep, c.ErrorType = f.Step, f.Type
	LogCycleCompleted(ctx, s.logger(), c)
}

// StoreKPIs writes the report's kpis, health_score and new_fragrances on
// its cycle.
func StoreKPIs(ctx context.Context, db postgres.DBTX, rep *Report) error {
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
	tag, err := db.Exec(ctx, `UPDATE cycles SET kpis = $2::jsonb, health_score = $3, new_fragrances = coalesce($4, new_fragrances) WHERE id = $1`,
		rep.CycleID, postgres.JSONArg(kpis), rep.HealthScore, newFragrances)
	if err != nil {
		return fmt.Errorf("storing the metrics of cycle %s: %w", rep.CycleID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("storing the metrics of cycle %s: %w", rep.CycleID, cycle.ErrNotFound)
	}
	return nil
}

// Store writes the report on its cycle, the KPIs and step_results.metrics
// in one transaction (scentmatch metrics --recompute).
func Store(ctx context.Context, pool *pgxpool.Pool, rep *Report, started time.Time) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := StoreKPIs(ctx, tx, rep); err != nil {
			return err
		}
		return (&cycle.Store{DB: tx}).SaveStep(ctx, rep.CycleID, cycle.StepMetrics, rep, started)
	})
}

// FailureOf reads the failure from the Catch path's $.error: the type (the
// Lambda errorType when the Cause carries one), the message, and the step:
// the first of the cycle without a result (import only when detect found
// candidates, as the state machine's Choice does).
func FailureOf(st cycle.State) cycle.Failure {
	var f cycle.Failure
	if st.Error == nil {
		return f
	}
	f.Type, f.Message = st.Error.Error, st.Error.Cause
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal([]byte(st.Error.Cause), &lambdaErr) == nil && (lambdaErr.ErrorMessage != "" || lambdaErr.ErrorType != "") {
		f.Message = lambdaErr.ErrorMessage
		if lambdaErr.ErrorType != "" && (f.Type == "" || strings.HasPrefix(f.Type, "States.")) {
			f.Type = lambdaErr.ErrorType
		}
	}
	if r := []rune(f.Message); len(r) > 2000 {
		f.Message = string(r[:2000]) + "…"
	}
	has := func(step string) bool {
		raw := st.Results[step]
		return len(raw) > 0 && string(raw) != "null"
	}
	var detect struct {
		CandidateCount *int `json:"candidate_count"`
	}
	_, _ = st.Result(cycle.StepDetect, &detect)
	for _, step := range []string{cycle.StepDetect, cycle.StepImport, cycle.StepMaintain, cycle.StepMetrics, cycle.StepNotify} {
		if step == cycle.StepImport && has(cycle.StepDetect) && (detect.CandidateCount == nil || *detect.CandidateCount <= 0) {
			continue // the Choice skipped it: no candidates
		}
		if !has(step) {
			f.Step = step
			return f
		}
	}
	f.Step = "unknown"
	return f
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
	MetricCatalogSize           = "CatalogSize"
	MetricCrawlRequests         = "CrawlRequests"
	MetricCrawlRefusals         = "CrawlRefusals"
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
	requests, refusals := nan, nan
	if rep.Crawl != nil {
		requests, refusals = rep.Crawl.Requests, rep.Crawl.Refusals
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
		{Name: MetricCatalogSize, Unit: emf.Count, Value: float64(rep.CatalogSize)},
		{Name: MetricCrawlRequests, Unit: emf.Count, Value: requests},
		{Name: MetricCrawlRefusals, Unit: emf.Count, Value: refusals},
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
		return nil, cycle.Classify(err)
	}
	return s.Handle(ctx, st)
}
