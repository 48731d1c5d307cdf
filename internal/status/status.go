// Package status answers the operator's morning question: is the pipeline
// on, did the last cycle succeed, how big is the catalog. It backs
// `scentmatch status` and the status function, which return the same JSON;
// with a month it also summarises that month for the monthly review.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/redact"
	"github.com/scentmatch/pipeline/internal/schedule"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Event is the status function's input.
type Event struct {
	// Month (YYYY-MM) adds the month's summary.
	Month string `json:"month,omitempty"`
	// Health adds the health report.
	Health bool `json:"health,omitempty"`
}

// LastCycle is the newest cycle, as the status shows it.
type LastCycle struct {
	ID         string     `json:"id"`
	Trigger    string     `json:"trigger"`
	DryRun     bool       `json:"dry_run"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Outcome is running, succeeded, failed or stopped.
	Outcome               string `json:"outcome"`
	NewFragrancesImported int    `json:"new_fragrances_imported"`
	// ExecutionTimeMinutes is the cycle's duration, or so far when running.
	ExecutionTimeMinutes float64  `json:"execution_time_minutes"`
	SystemHealthScore    *float64 `json:"system_health_score"`
	FailedStep           *string  `json:"failed_step"`
	ErrorType            *string  `json:"error_type"`
	ErrorMessage         *string  `json:"error_message"`
	// Warnings are the cycle's step warnings (detect's "no source
	// enabled"); the summary repeats them.
	Warnings []string `json:"warnings,omitempty"`
}

// StepWarnings reads the warnings of a cycle's step results (each step
// may carry "warnings": [...]), in step order.
func StepWarnings(results map[string]json.RawMessage) []string {
	var out []string
	for _, step := range []string{cycle.StepDetect, cycle.StepImport, cycle.StepMaintain, cycle.StepMetrics, cycle.StepNotify} {
		var r struct {
			Warnings []string `json:"warnings"`
		}
		if json.Unmarshal(results[step], &r) == nil {
			out = append(out, r.Warnings...)
		}
	}
	return out
}

// Totals count the catalog and the work waiting for operators.
type Totals struct {
	Fragrances       int64 `json:"fragrances"`
	Brands           int64 `json:"brands"`
	Embeddings       int64 `json:"embeddings"`
	Cycles           int64 `json:"cycles"`
	OpenReviews      int64 `json:"open_reviews"`
	OpenQuarantine   int64 `json:"open_quarantine"`
	NotificationsDue int64 `json:"notifications_pending"`
}

// Report is the status.
type Report struct {
	CheckedAt         time.Time `json:"checked_at"`
	MonitoringEnabled bool      `json:"monitoring_enabled"`
	MonitoringSource  string    `json:"monitoring_source"`
	SchedulerRunning  bool      `json:"scheduler_running"`
	SchedulerDetail   string    `json:"scheduler_detail"`
	Schedule          string    `json:"schedule"`
	Timezone          string    `json:"timezone"`
	// NextRun is the schedule's next firing; null when monitoring is off
	// or the expression never fires again.
	NextRun           *time.Time     `json:"next_run"`
	LastCycle         *LastCycle     `json:"last_cycle"`
	PendingEmbeddings int64          `json:"pending_embeddings"`
	Totals            Totals         `json:"totals"`
	Summary           string         `json:"summary"`
	Month             *Month         `json:"month,omitempty"`
	Health            *health.Report `json:"health,omitempty"`
	// Error says why the status could not be read (the status function
	// still returns the health report then).
	Error string `json:"error,omitempty"`
}

// Reporter builds status reports.
type Reporter struct {
	Pool      *pgxpool.Pool
	Config    *settings.Config
	Scheduler Scheduler
	Now       func() time.Time
}

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Report builds the status; month ("" for none) adds that month's summary.
func (r *Reporter) Report(ctx context.Context, month string) (*Report, error) {
	now := r.now().UTC()
	rep := &Report{CheckedAt: now}
	var from, to time.Time
	if month != "" {
		var err error
		if from, to, err = ParseMonth(month); err != nil {
			return nil, err
		}
	}
	sch := r.Scheduler
	if sch == nil {
		sch = Local{DB: r.Pool, Config: r.Config, Now: r.Now}
	}
	st, err := sch.State(ctx)
	if err != nil {
		return nil, err
	}
	rep.MonitoringEnabled, rep.MonitoringSource = st.MonitoringEnabled, st.MonitoringSource
	rep.SchedulerRunning, rep.SchedulerDetail = st.Running, st.Detail
	rep.Schedule, rep.Timezone = st.Expression, st.Timezone
	if rep.Schedule == "" {
		rep.Schedule, rep.Timezone = r.Config.Monitoring.Schedule.Expression, r.Config.Monitoring.Schedule.Timezone
	}
	if rep.Schedule == "" {
		rep.Schedule = schedule.Default
	}
	if rep.Timezone == "" {
		rep.Timezone = "UTC"
	}
	if rep.MonitoringEnabled {
		rep.NextRun = nextRun(rep.Schedule, rep.Timezone, now)
	}

	cy, err := metrics.LatestCycle(ctx, r.Pool)
	if err != nil {
		return nil, err
	}
	if cy != nil {
		rep.LastCycle = lastCycle(cy, now)
	}
	e := r.Config.Monitoring.Embedding
	es, err := embedding.GetStatus(ctx, r.Pool, e.Model, e.Dimension)
	if err != nil {
		return nil, err
	}
	rep.PendingEmbeddings = es.Pending
	t := &rep.Totals
	t.Fragrances, t.Embeddings = es.Fragrances, es.Current
	if err := r.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM brands), (SELECT count(*) FROM cycles),
			(SELECT count(*) FROM review_queue WHERE status = 'open'), (SELECT count(*) FROM quarantined_records WHERE status = 'open'),
			(SELECT count(*) FROM notifications WHERE status = 'pending')`).
		Scan(&t.Brands, &t.Cycles, &t.OpenReviews, &t.OpenQuarantine, &t.NotificationsDue); err != nil {
		return nil, fmt.Errorf("counting the catalog: %w", err)
	}
	rep.Summary = summary(rep)
	if month != "" {
		if rep.Month, err = r.month(ctx, month, from, to); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func nextRun(expr, tz string, now time.Time) *time.Time {
	c, err := schedule.Parse(expr)
	if err != nil {
		return nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil
	}
	next, ok := c.Next(now, loc)
	if !ok {
		return nil
	}
	next = next.UTC()
	return &next
}

func lastCycle(cy *metrics.Cycle, now time.Time) *LastCycle {
	lc := &LastCycle{ID: cy.ID, Trigger: cy.Trigger, DryRun: cy.DryRun, StartedAt: cy.StartedAt.UTC(), FinishedAt: cy.FinishedAt,
		Outcome: cy.Status, NewFragrancesImported: cy.NewFragrances, SystemHealthScore: cy.HealthScore,
		FailedStep: cy.FailedStep, ErrorType: cy.ErrorType, Warnings: StepWarnings(cy.StepResults)}
	if cy.ErrorMessage != nil {
		m := redact.Secrets(*cy.ErrorMessage)
		lc.ErrorMessage = &m
	}
	if cy.Status != "running" && cy.Failed() {
		lc.Outcome = "failed"
	}
	end := now
	if cy.FinishedAt != nil {
		end = *cy.FinishedAt
		u := end.UTC()
		lc.FinishedAt = &u
	}
	lc.ExecutionTimeMinutes = math.Round(math.Max(0, end.Sub(cy.StartedAt).Minutes())*10) / 10
	return lc
}

// summary answers in one sentence: on or off, and what the last cycle did.
func summary(r *Report) string {
	s := "Monitoring is OFF: scheduled cycles do not run (scentmatch start turns it on)."
	if r.MonitoringEnabled {
		s = "Monitoring is on"
		if r.NextRun != nil {
			s += "; next cycle " + r.NextRun.Format("Mon 2006-01-02 15:04 MST")
		}
		s += "."
	}
	if !r.SchedulerRunning {
		s += " Scheduler NOT running: " + r.SchedulerDetail + "."
	}
	lc := r.LastCycle
	switch {
	case lc == nil:
		s += " No cycle has run yet."
	case lc.Outcome == "running":
		s += fmt.Sprintf(" Cycle %s is running (started %s, %.1f minutes so far).", lc.ID, lc.StartedAt.Format("2006-01-02 15:04 MST"), lc.ExecutionTimeMinutes)
	case lc.Outcome == "stopped":
		s += fmt.Sprintf(" The last cycle, %s, was stopped by an operator.", lc.ID)
	case lc.Outcome == "failed":
		step := "an unknown step"
		if lc.FailedStep != nil {
			step = "step " + *lc.FailedStep
		}
		s += fmt.Sprintf(" The last cycle, %s, FAILED at %s", lc.ID, step)
		if lc.ErrorType != nil {
			s += " (" + *lc.ErrorType + ")"
		}
		s += "."
	default:
		s += fmt.Sprintf(" The last cycle, %s, succeeded: %d new fragrance(s) in %.1f minutes", lc.ID, lc.NewFragrancesImported, lc.ExecutionTimeMinutes)
		if lc.SystemHealthScore != nil {
			s += fmt.Sprintf(", health score %.1f/100", *lc.SystemHealthScore)
		}
		s += "."
	}
	if lc != nil {
		for _, w := range lc.Warnings {
			s += " Warning: " + w + "."
		}
	}
	return s
}

// ParseMonth reads YYYY-MM and returns the month's bounds in UTC.
func ParseMonth(s string) (from, to time.Time, err error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return from, to, &BadMonthError{Month: s}
	}
	return t, t.AddDate(0, 1, 0), nil
}

// BadMonthError is a --month that is not YYYY-MM.
type BadMonthError struct{ Month string }

func (e *BadMonthError) Error() string {
	return fmt.Sprintf("month %q: want YYYY-MM, e.g. 2026-11", e.Month)
}

// Month summarises the cycles started in one calendar month (UTC).
type Month struct {
	Month  string    `json:"month"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Cycles struct {
		Total     int `json:"total"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
		Running   int `json:"running"`
		Stopped   int `json:"stopped"`
	} `json:"cycles"`
	NewFragrancesImported int64 `json:"new_fragrances_imported"`
	ExecutionTimeMinutes  Stat  `json:"execution_time_minutes"`
	HealthScore           Stat  `json:"health_score"`
	// KPIs are each KPI's statistics over the month's cycles that recorded it.
	KPIs map[string]Stat `json:"kpis"`
	// FragrancesCreated counts catalog rows created in the month, by any
	// import; CatalogAtEnd counts those created before its end.
	FragrancesCreated int64         `json:"fragrances_created"`
	CatalogAtEnd      int64         `json:"catalog_at_end"`
	ReviewsResolved   int64         `json:"reviews_resolved"`
	NotificationsSent int64         `json:"notifications_sent"`
	FailedCycles      []FailedCycle `json:"failed_cycles"`
}

// Stat summarises a series; every field is null for an empty one.
type Stat struct {
	Count int      `json:"count"`
	Avg   *float64 `json:"avg"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
	Last  *float64 `json:"last"`
}

func (s *Stat) add(v float64) {
	s.Count++
	if s.Count == 1 {
		avg, lo, hi := v, v, v
		s.Avg, s.Min, s.Max = &avg, &lo, &hi
	} else {
		*s.Avg += (v - *s.Avg) / float64(s.Count)
		*s.Min, *s.Max = math.Min(*s.Min, v), math.Max(*s.Max, v)
	}
	last := v
	s.Last = &last
}

func (s *Stat) round() {
	if s.Avg != nil {
		a := math.Round(*s.Avg*100) / 100
		s.Avg = &a
	}
}

// FailedCycle names one failed cycle of the month.
type FailedCycle struct {
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"started_at"`
	FailedStep *string   `json:"failed_step"`
	ErrorType  *string   `json:"error_type"`
}

func (r *Reporter) month(ctx context.Context, name string, from, to time.Time) (*Month, error) {
	m := &Month{Month: name, From: from, To: to, KPIs: map[string]Stat{}, FailedCycles: []FailedCycle{}}
	cycles, err := metrics.CyclesBetween(ctx, r.Pool, from, to)
	if err != nil {
		return nil, err
	}
	now := r.now()
	for _, cy := range cycles {
		m.Cycles.Total++
		switch {
		case cy.Status == "running":
			m.Cycles.Running++
			continue
		case cy.Status == "stopped":
			m.Cycles.Stopped++
		case cy.Failed():
			m.Cycles.Failed++
			m.FailedCycles = append(m.FailedCycles, FailedCycle{ID: cy.ID, StartedAt: cy.StartedAt.UTC(), FailedStep: cy.FailedStep, ErrorType: cy.ErrorType})
		default:
			m.Cycles.Succeeded++
		}
		m.NewFragrancesImported += int64(cy.NewFragrances)
		m.ExecutionTimeMinutes.add(lastCycle(cy, now).ExecutionTimeMinutes)
		if cy.HealthScore != nil {
			m.HealthScore.add(*cy.HealthScore)
		}
		for name, k := range cy.KPIs {
			if k.Value != nil {
				s := m.KPIs[name]
				s.add(*k.Value)
				m.KPIs[name] = s
			}
		}
	}
	m.ExecutionTimeMinutes.round()
	m.HealthScore.round()
	for n, s := range m.KPIs {
		s.round()
		m.KPIs[n] = s
	}
	if err := r.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM fragrances WHERE created_at >= $1 AND created_at < $2),
			(SELECT count(*) FROM fragrances WHERE created_at < $2),
			(SELECT count(*) FROM review_queue WHERE status <> 'open' AND resolved_at >= $1 AND resolved_at < $2),
			(SELECT count(*) FROM notifications WHERE status = 'sent' AND sent_at >= $1 AND sent_at < $2)`, from, to).
		Scan(&m.FragrancesCreated, &m.CatalogAtEnd, &m.ReviewsResolved, &m.NotificationsSent); err != nil {
		return nil, fmt.Errorf("summarising %s: %w", name, err)
	}
	return m, nil
}
