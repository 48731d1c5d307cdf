package notify

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Report is what the messages say about one cycle. Every field the other
// steps provide may be missing (a step that did not run, an older result
// shape): the templates print "n/a" for what is nil.
type Report struct {
	CycleID    string
	Trigger    string
	Status     string // succeeded (the Notify step runs after every other step) or failed (the Catch path)
	DryRun     bool
	StartedAt  time.Time
	FinishedAt *time.Time
	// Duration is finished minus started, or now minus started while the
	// cycle is still finishing (its last step is this one).
	Duration time.Duration

	HealthScore *float64
	KPIs        []KPI
	Components  []Component

	// NewFragrances are the fragrances this cycle added (the first
	// MaxListed); NewFragranceCount counts them all.
	NewFragrances     []Fragrance
	NewFragranceCount int

	Candidates *int
	// Warnings are the steps' warnings (detect's "no source enabled").
	Warnings    []string
	Import      []Figure
	Crawl       []Figure
	StepTimings []StepTiming

	CatalogSize *int64
	// History is the last cycles up to this one, oldest first.
	History []Point

	// Failure is set on the Catch path.
	Failure *Failure
	// ExecutionARN and ConsoleURL point at the Step Functions execution (AWS only).
	ExecutionARN string
	ConsoleURL   string
}

// MaxListed bounds the fragrances a message lists.
const MaxListed = 50

// HistoryLength is how many cycles the weekly report's chart shows.
const HistoryLength = 12

// KPI is one key performance indicator against its thresholds.
type KPI struct {
	Name   string
	Value  *float64
	Unit   string
	Warn   *float64
	Error  *float64
	Status string // ok, warn, error, unknown
}

// Component is one part of the health score.
type Component struct {
	Name    string
	Healthy bool
	Score   *float64
	Detail  string
}

// Fragrance is a fragrance the cycle added, with why detection chose it.
type Fragrance struct {
	Brand         string
	Name          string
	Year          *int
	Concentration string
	Reason        string
	Score         *float64
}

// Figure is a named number from a step's result.
type Figure struct {
	Name  string
	Value string
}

// StepTiming is how long one step took.
type StepTiming struct {
	Step    string
	Seconds float64
}

// Point is one cycle in the report's history chart.
type Point struct {
	CycleID     string
	StartedAt   time.Time
	Status      string
	HealthScore *float64
	CatalogSize *int64
}

// Failure is what the error alert reports.
type Failure struct {
	Step string
	// StepInferred is true when no record named the step: it is the first
	// step of the cycle without a result.
	StepInferred bool
	Type         string
	Message      string
	// NotRecorded is set when RecordFailure failed too ($.record_error):
	// its type and message. The cycle's KPIs were not recorded.
	NotRecorded string
}

// decodeKPIs reads {"<name>": {"value", "unit", "warn", "error", "status"}}
// leniently: a field of the wrong type reads as missing.
func decodeKPIs(raw json.RawMessage) []KPI {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	out := make([]KPI, 0, len(m))
	for name, v := range m {
		var f map[string]any
		_ = json.Unmarshal(v, &f)
		k := KPI{Name: name, Value: number(f["value"]), Unit: str(f["unit"]), Warn: number(f["warn"]), Error: number(f["error"]), Status: str(f["status"])}
		switch k.Status {
		case "ok", "warn", "error":
		default:
			k.Status = "unknown"
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// decodeComponents reads the metrics step's components: an object of
// name -> {healthy|status, score, detail|reason|message} or of name -> bool,
// or a list of such objects with a "name".
func decodeComponents(raw json.RawMessage) []Component {
	var out []Component
	one := func(name string, v any) {
		c := Component{Name: name, Healthy: true}
		switch t := v.(type) {
		case bool:
			c.Healthy = t
		case map[string]any:
			if h, ok := t["healthy"].(bool); ok {
				c.Healthy = h
			} else if s := strings.ToLower(str(t["status"])); s != "" {
				c.Healthy = s == "ok" || s == "healthy" || s == "warn" || s == "pass"
			}
			c.Score = number(t["score"])
			for _, k := range []string{"detail", "reason", "message"} {
				if s := str(t[k]); s != "" {
					c.Detail = s
					break
				}
			}
		default:
			return
		}
		out = append(out, c)
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		for name, v := range m {
			one(name, v)
		}
	} else {
		var list []map[string]any
		if json.Unmarshal(raw, &list) == nil {
			for _, v := range list {
				if name := str(v["name"]); name != "" {
					one(name, v)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// figures reads the named numbers (and booleans) of a step's result in the
// order given, skipping the missing ones.
func figures(raw json.RawMessage, names ...string) []Figure {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []Figure
	for _, n := range names {
		switch v := m[n].(type) {
		case float64:
			out = append(out, Figure{Name: n, Value: formatNumber(v)})
		case bool:
			out = append(out, Figure{Name: n, Value: strconv.FormatBool(v)})
		}
	}
	return out
}

func number(v any) *float64 {
	switch t := v.(type) {
	case float64:
		return &t
	case json.Number:
		if f, err := t.Float64(); err == nil {
			return &f
		}
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// formatNumber prints a number without trailing zeros, at most two decimals.
func formatNumber(f float64) string {
	return strconv.FormatFloat(float64(int64(f*100+sign(f)*0.5))/100, 'f', -1, 64)
}

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

// Unhealthy lists why the health check fails: a score below min, and every
// unhealthy component. Empty means healthy (or nothing to judge).
func (r *Report) Unhealthy(minScore float64) []string {
	var why []string
	if r.HealthScore != nil && *r.HealthScore < minScore {
		why = append(why, "health score "+formatNumber(*r.HealthScore)+" is below the minimum of "+formatNumber(minScore))
	}
	for _, c := range r.Components {
		if !c.Healthy {
			s := "component " + c.Name + " is unhealthy"
			if c.Detail != "" {
				s += ": " + c.Detail
			}
			why = append(why, s)
		}
	}
	return why
}

// HealthFailures says why the pipeline is unhealthy after the cycle, by
// the rules `scentmatch health` applies to a cycle: the health score under
// thresholds.health_score_min, or the cycle's error rate above
// thresholds.error_rate_max_percent (health's error_rate component). A
// KPI past its own error threshold alone (coverage_completeness 0 percent
// on a first run) is not a health failure: the weekly report lists it
// with the KPIs, and the health-failure alert, when something else sends
// it, lists it too (Unhealthy).
func (r *Report) HealthFailures(minScore, maxErrorRate float64) []string {
	var why []string
	if r.HealthScore != nil && *r.HealthScore < minScore {
		why = append(why, "health score "+formatNumber(*r.HealthScore)+" is below the minimum of "+formatNumber(minScore))
	}
	for _, k := range r.KPIs {
		if k.Name == "error_rate" && k.Value != nil && maxErrorRate > 0 && *k.Value > maxErrorRate {
			why = append(why, "error rate "+formatNumber(*k.Value)+"% is above the maximum of "+formatNumber(maxErrorRate)+"%")
		}
	}
	return why
}

// HealthKnown says whether the metrics step left anything to judge health by.
func (r *Report) HealthKnown() bool { return r.HealthScore != nil || len(r.Components) > 0 }
