package metrics

import (
	"fmt"
	"math"
	"sort"

	"github.com/scentmatch/pipeline/internal/settings"
)

// KPI names: the keys of monitoring_config.json "kpis", plus two
// informational ones without thresholds.
const (
	ExecutionTimeMinutes          = "execution_time_minutes"
	PeakMemoryMB                  = "peak_memory_mb"
	DatabaseConnections           = "database_connections"
	ImportSuccessRate             = "import_success_rate"
	ValidationPassRate            = "validation_pass_rate"
	EmbeddingSuccessRate          = "embedding_success_rate"
	PendingEmbeddings             = "pending_embeddings"
	ReviewQueueSize               = "review_queue_size"
	NewFragrancesPerWeek          = "new_fragrances_per_week"
	DatabaseGrowthPercentPerMonth = "database_growth_percent_per_month"
	DataFreshnessDays             = "data_freshness_days"
	CoverageCompleteness          = "coverage_completeness"
	ErrorRate                     = "error_rate"
	// Duplicates counts the records this cycle's import merged into an
	// existing fragrance (informational: no thresholds).
	Duplicates = "duplicates"
	// NewFragrances counts the fragrances this cycle added (informational;
	// new_fragrances_per_week is the judged one).
	NewFragrances = "new_fragrances"
	// FetchErrors counts the candidates whose record the import could not
	// fetch (informational: error_rate and import_success_rate judge them).
	FetchErrors = "fetch_errors"
)

// Statuses of a KPI.
const (
	StatusOK      = "ok"
	StatusWarn    = "warn"
	StatusError   = "error"
	StatusUnknown = "unknown"
)

// Units of the KPIs.
var units = map[string]string{
	ExecutionTimeMinutes:          "minutes",
	PeakMemoryMB:                  "MB",
	DatabaseConnections:           "connections",
	ImportSuccessRate:             "percent",
	ValidationPassRate:            "percent",
	EmbeddingSuccessRate:          "percent",
	PendingEmbeddings:             "fragrances",
	ReviewQueueSize:               "reviews",
	NewFragrancesPerWeek:          "fragrances",
	DatabaseGrowthPercentPerMonth: "percent",
	DataFreshnessDays:             "days",
	CoverageCompleteness:          "percent",
	ErrorRate:                     "percent",
	Duplicates:                    "records",
	NewFragrances:                 "fragrances",
	FetchErrors:                   "candidates",
}

// Names lists every KPI, in report order.
var Names = []string{
	ExecutionTimeMinutes, PeakMemoryMB, DatabaseConnections,
	ImportSuccessRate, ValidationPassRate, Duplicates, FetchErrors, ReviewQueueSize,
	EmbeddingSuccessRate, PendingEmbeddings,
	NewFragrances, NewFragrancesPerWeek, DatabaseGrowthPercentPerMonth,
	DataFreshnessDays, CoverageCompleteness, ErrorRate,
}

// KPI is one indicator in the shape of docs/state-contract.md: value is
// null when there is nothing to judge (status "unknown"); warn and error
// are null for the informational KPIs.
type KPI struct {
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	Warn   *float64 `json:"warn"`
	Error  *float64 `json:"error"`
	Status string   `json:"status"`
}

// judge builds the KPI name with value v (nil: unknown) against the
// configured thresholds. For the rates where higher is better
// (settings.HigherIsBetter) a value at or above warn is ok, at or above
// error is warn, below error is error; for the others a value at or below
// warn is ok, at or below error is warn, above error is error.
func judge(name string, v *float64, thresholds map[string]settings.KPI) KPI {
	k := KPI{Unit: units[name], Status: StatusUnknown}
	if v != nil {
		r := round2(*v)
		k.Value = &r
	}
	t, ok := thresholds[name]
	if ok {
		w, e := t.Warn, t.Error
		k.Warn, k.Error = &w, &e
	}
	switch {
	case k.Value == nil:
	case !ok:
		k.Status = StatusOK
	case settings.HigherIsBetter[name]:
		k.Status = StatusError
		if *k.Value >= *k.Error {
			k.Status = StatusWarn
		}
		if *k.Value >= *k.Warn {
			k.Status = StatusOK
		}
	default:
		k.Status = StatusError
		if *k.Value <= *k.Error {
			k.Status = StatusWarn
		}
		if *k.Value <= *k.Warn {
			k.Status = StatusOK
		}
	}
	return k
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func ptr(v float64) *float64 { return &v }

// Weights of the KPIs in the health score (docs/health-score.md). They sum
// to 100; the informational KPIs weigh nothing.
var Weights = map[string]float64{
	ImportSuccessRate:             15,
	ErrorRate:                     15,
	ValidationPassRate:            10,
	EmbeddingSuccessRate:          10,
	ExecutionTimeMinutes:          10,
	DataFreshnessDays:             10,
	CoverageCompleteness:          5,
	PendingEmbeddings:             5,
	ReviewQueueSize:               5,
	PeakMemoryMB:                  5,
	DatabaseConnections:           5,
	NewFragrancesPerWeek:          3,
	DatabaseGrowthPercentPerMonth: 2,
}

// Points a KPI earns by status.
var points = map[string]float64{StatusOK: 1, StatusWarn: 0.5, StatusError: 0}

// FailedCycleCap is the highest health score a failed cycle gets.
const FailedCycleCap = 50

// Component is one KPI's part in the health score.
type Component struct {
	Weight float64 `json:"weight"`
	Status string  `json:"status"`
	// Points is 1 (ok), 0.5 (warn), 0 (error), null (unknown: left out and
	// the other weights count for more).
	Points *float64 `json:"points"`
	// Share is the score this KPI contributed (its weight among the known
	// KPIs' weights, times its points, times 100).
	Share float64 `json:"share"`
	// Score is the points out of 100 (null when unknown); Healthy is false
	// only for a KPI in error; Detail says it in words. They let readers of
	// components (the notify step) show them without knowing KPIs.
	Score   *float64 `json:"score"`
	Healthy bool     `json:"healthy"`
	Detail  string   `json:"detail"`
}

// Score computes the health score from the KPIs: 100 times the weighted
// mean of the points of the KPIs that are known, capped at FailedCycleCap
// when the cycle failed. It is nil when no weighted KPI is known.
func Score(kpis map[string]KPI, failed bool) (*float64, map[string]Component) {
	comps := map[string]Component{}
	var known, earned float64
	names := make([]string, 0, len(Weights))
	for n := range Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k, ok := kpis[n]
		status := StatusUnknown
		if ok {
			status = k.Status
		}
		c := Component{Weight: Weights[n], Status: status, Healthy: status != StatusError, Detail: describe(n, k)}
		if p, ok := points[status]; ok {
			c.Points, c.Score = ptr(p), ptr(100*p)
			known += Weights[n]
			earned += Weights[n] * p
		}
		comps[n] = c
	}
	if known == 0 {
		return nil, comps
	}
	for n, c := range comps {
		if c.Points != nil {
			c.Share = round2(100 * c.Weight / known * *c.Points)
			comps[n] = c
		}
	}
	s := round2(100 * earned / known)
	if failed && s > FailedCycleCap {
		s = FailedCycleCap
	}
	return &s, comps
}

// describe says a KPI in words: "import_success_rate 99.5 percent: ok
// (warn 99, error 98)".
func describe(name string, k KPI) string {
	if k.Value == nil {
		return name + ": unknown (nothing to judge)"
	}
	d := fmt.Sprintf("%s %g %s: %s", name, *k.Value, k.Unit, k.Status)
	if k.Warn != nil && k.Error != nil {
		d += fmt.Sprintf(" (warn %g, error %g)", *k.Warn, *k.Error)
	}
	return d
}
