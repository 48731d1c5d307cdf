package notify

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	htmltemplate "github.com/DataDog/datadog-agent/pkg/template/html"
	texttemplate "github.com/DataDog/datadog-agent/pkg/template/text"

	"github.com/scentmatch/pipeline/internal/settings"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Content is a rendered message's subject and bodies.
type Content struct {
	Subject string
	Text    string
	HTML    string
}

// RenderOptions are what a message needs besides the report.
type RenderOptions struct {
	// Test labels the message as a test with fixture data.
	Test bool
	// Resolved renders the one message saying the kind's alert cleared;
	// AlertSince is when it opened.
	Resolved   bool
	AlertSince time.Time
	Thresholds settings.Thresholds
	// Now is the generation time printed in the footer.
	Now time.Time
}

// view is what every template receives.
//
// Templates read fields only: the template engine (DataDog's copy of
// text/template and html/template without method calls, so the linker
// keeps its dead-method elimination) cannot call methods.
type view struct {
	Kind  Kind
	Label string
	Noun  string
	// HeaderColor is the heading's background for the kind.
	HeaderColor string
	// SinceKnown says Since is set.
	SinceKnown bool
	Title      string
	Subject    string
	Test       bool
	Resolved   bool
	Since      time.Time
	R          *Report
	HealthMin  float64
	PerfMin    float64
	Unhealthy  []string
	Trends     []string
	Health     []bar
	Catalog    []bar
	CatalogLo  int64
	CatalogHi  int64
	More       int
	Generated  time.Time
}

// bar is one row of a table-based bar chart.
type bar struct {
	Day     string
	CycleID string
	Value   string
	Pct     int // 0-100
	Rest    int // 100 - Pct
	Color   string
	Current bool
	Text    string // the bar in plain text
}

// pages maps each message to its template files (a .html.tmpl and a
// .txt.tmpl each).
func page(kind Kind, resolved bool) string {
	if resolved {
		return "resolved"
	}
	return string(kind)
}

var (
	htmlTemplates = map[string]*htmltemplate.Template{}
	textTemplates = map[string]*texttemplate.Template{}
)

func init() {
	for _, p := range []string{string(WeeklyReport), string(NewFragrance), string(PerformanceWarning), string(ErrorAlert), string(HealthFailure), "resolved"} {
		htmlTemplates[p] = htmltemplate.Must(htmltemplate.New(p).Funcs(htmltemplate.FuncMap(funcs)).
			ParseFS(templateFS, "templates/layout.html.tmpl", "templates/partials.html.tmpl", "templates/"+p+".html.tmpl"))
		textTemplates[p] = texttemplate.Must(texttemplate.New(p).Funcs(texttemplate.FuncMap(funcs)).
			ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/partials.txt.tmpl", "templates/"+p+".txt.tmpl"))
	}
}

// Render renders one message about rep.
func Render(kind Kind, rep *Report, opt RenderOptions) (Content, error) {
	v := &view{Kind: kind, Label: kind.Label(), Test: opt.Test, Resolved: opt.Resolved, Since: opt.AlertSince, R: rep,
		HealthMin: opt.Thresholds.HealthScoreMin, PerfMin: opt.Thresholds.PerformanceWarningMinutes, Generated: opt.Now}
	v.Noun, v.SinceKnown = kind.Noun(), !opt.AlertSince.IsZero()
	v.HeaderColor = headerColor(v)
	v.Unhealthy = rep.Unhealthy(v.HealthMin)
	v.Trends = trends(rep)
	v.Health, v.Catalog, v.CatalogLo, v.CatalogHi = charts(rep)
	if rep.NewFragranceCount > len(rep.NewFragrances) {
		v.More = rep.NewFragranceCount - len(rep.NewFragrances)
	}
	v.Title, v.Subject = titles(v)
	if v.Test {
		v.Subject = "[TEST] " + v.Subject
	}
	v.Subject = cleanHeader(v.Subject)

	p := page(kind, opt.Resolved)
	var text, html bytes.Buffer
	if err := textTemplates[p].ExecuteTemplate(&text, "page", v); err != nil {
		return Content{}, fmt.Errorf("rendering the %s text: %w", p, err)
	}
	if err := htmlTemplates[p].ExecuteTemplate(&html, "page", v); err != nil {
		return Content{}, fmt.Errorf("rendering the %s HTML: %w", p, err)
	}
	return Content{Subject: v.Subject, Text: text.String(), HTML: html.String()}, nil
}

// titles returns the heading and the subject line.
func titles(v *view) (title, subject string) {
	r := v.R
	if v.Resolved {
		title = "Resolved: " + v.Kind.Noun() + " alert"
		return title, fmt.Sprintf("ScentMatch resolved: %s alert (cycle %s)", v.Kind.Noun(), r.CycleID)
	}
	switch v.Kind {
	case WeeklyReport:
		title = "Weekly report"
		subject = fmt.Sprintf("ScentMatch weekly report: cycle %s — health %s, %s", r.CycleID, optNum(r.HealthScore), plural(r.NewFragranceCount, "new fragrance"))
	case NewFragrance:
		title = plural(r.NewFragranceCount, "new fragrance")
		subject = "ScentMatch: " + plural(r.NewFragranceCount, "new fragrance") + " in cycle " + r.CycleID
		if r.NewFragranceCount == 1 && len(r.NewFragrances) == 1 {
			f := r.NewFragrances[0]
			subject = fmt.Sprintf("ScentMatch: new fragrance %s by %s", f.Name, f.Brand)
		}
	case PerformanceWarning:
		title = "Performance warning"
		subject = fmt.Sprintf("ScentMatch performance warning: cycle %s took %s (threshold %s min)", r.CycleID, duration(r.Duration), formatNumber(v.PerfMin))
	case ErrorAlert:
		title = "Cycle failed"
		step, typ := "unknown", "error"
		if r.Failure != nil {
			step, typ = r.Failure.Step, r.Failure.Type
		}
		subject = fmt.Sprintf("ScentMatch ERROR: cycle %s failed at %s (%s)", r.CycleID, step, typ)
	case HealthFailure:
		title = "Health check failed"
		subject = fmt.Sprintf("ScentMatch health check failed: score %s (minimum %s)", optNum(r.HealthScore), formatNumber(v.HealthMin))
		if r.HealthScore != nil && *r.HealthScore >= v.HealthMin {
			n := 0
			for _, c := range r.Components {
				if !c.Healthy {
					n++
				}
			}
			subject = fmt.Sprintf("ScentMatch health check failed: %s unhealthy", plural(n, "component"))
		}
	}
	return title, subject
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func optNum(f *float64) string {
	if f == nil {
		return "n/a"
	}
	return formatNumber(*f)
}

// duration prints a duration as "1 h 5 min", "12 min 30 s" or "45 s".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0 && m == 0:
		return fmt.Sprintf("%d h", h)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0 && s > 0:
		return fmt.Sprintf("%d min %d s", m, s)
	case m > 0:
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d s", s)
}

// trends are the report's highlights, from the history and the KPIs.
func trends(r *Report) []string {
	var out []string
	n := len(r.History)
	if n >= 2 {
		cur, prev := r.History[n-1], r.History[n-2]
		if cur.CatalogSize != nil && prev.CatalogSize != nil {
			d := *cur.CatalogSize - *prev.CatalogSize
			switch {
			case d == 0:
				out = append(out, fmt.Sprintf("Catalog size unchanged since the previous cycle (%s fragrances).", thousands(*cur.CatalogSize)))
			case *prev.CatalogSize > 0:
				out = append(out, fmt.Sprintf("Catalog %s by %s fragrances (%+.2f%%) since the previous cycle, to %s.",
					map[bool]string{true: "grew", false: "shrank"}[d > 0], thousands(abs(d)), 100*float64(d)/float64(*prev.CatalogSize), thousands(*cur.CatalogSize)))
			default:
				out = append(out, fmt.Sprintf("Catalog grew from empty to %s fragrances.", thousands(*cur.CatalogSize)))
			}
		}
		if cur.HealthScore != nil && prev.HealthScore != nil {
			d := *cur.HealthScore - *prev.HealthScore
			if d == 0 {
				out = append(out, fmt.Sprintf("Health score steady at %s.", formatNumber(*cur.HealthScore)))
			} else {
				out = append(out, fmt.Sprintf("Health score %s %s points to %s since the previous cycle.",
					map[bool]string{true: "up", false: "down"}[d > 0], formatNumber(absf(d)), formatNumber(*cur.HealthScore)))
			}
		}
	}
	var sum float64
	var count, failed int
	for _, p := range r.History {
		if p.HealthScore != nil {
			sum += *p.HealthScore
			count++
		}
		if p.Status == "failed" {
			failed++
		}
	}
	if count > 1 {
		out = append(out, fmt.Sprintf("Average health score over the last %s: %s.", plural(count, "scored cycle"), formatNumber(sum/float64(count))))
	}
	if failed > 0 {
		out = append(out, fmt.Sprintf("%s of the last %d failed.", plural(failed, "cycle"), len(r.History)))
	}
	var warn, bad []string
	for _, k := range r.KPIs {
		switch k.Status {
		case "warn":
			warn = append(warn, k.Name)
		case "error":
			bad = append(bad, k.Name)
		}
	}
	if len(bad) > 0 {
		out = append(out, "KPIs past their error threshold: "+strings.Join(bad, ", ")+".")
	}
	if len(warn) > 0 {
		out = append(out, "KPIs past their warning threshold: "+strings.Join(warn, ", ")+".")
	}
	if len(r.KPIs) > 0 && len(bad) == 0 && len(warn) == 0 {
		out = append(out, "Every KPI with a value is within its thresholds.")
	}
	return out
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func absf(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// thousands prints 12345 as 12,345.
func thousands(n int64) string {
	s := fmt.Sprint(abs(n))
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// textBarWidth is how many characters a full bar takes in the text part.
const textBarWidth = 30

// charts turns the history into table-based bars: the health score on its
// 0-100 scale, the catalog size from the period's smallest to its largest
// (a tenth of the width for the smallest, so growth shows).
func charts(r *Report) (health, catalog []bar, lo, hi int64) {
	first := true
	for _, p := range r.History {
		if p.CatalogSize == nil {
			continue
		}
		if first || *p.CatalogSize < lo {
			lo = *p.CatalogSize
		}
		if first || *p.CatalogSize > hi {
			hi = *p.CatalogSize
		}
		first = false
	}
	mk := func(p Point, pct int, value, color string) bar {
		pct = max(0, min(100, pct))
		n := (pct*textBarWidth + 50) / 100
		return bar{Day: p.StartedAt.UTC().Format("2006-01-02"), CycleID: p.CycleID, Value: value, Pct: pct, Rest: 100 - pct, Color: color,
			Current: p.CycleID == r.CycleID, Text: strings.Repeat("#", n) + strings.Repeat(".", textBarWidth-n)}
	}
	for _, p := range r.History {
		if p.HealthScore == nil {
			health = append(health, mk(p, 0, "n/a", "#9ca3af"))
		} else {
			color := "#16a34a"
			switch {
			case *p.HealthScore < 60:
				color = "#dc2626"
			case *p.HealthScore < 80:
				color = "#d97706"
			}
			health = append(health, mk(p, int(*p.HealthScore+0.5), formatNumber(*p.HealthScore), color))
		}
		switch {
		case p.CatalogSize == nil:
			catalog = append(catalog, mk(p, 0, "n/a", "#9ca3af"))
		case hi == lo:
			catalog = append(catalog, mk(p, 100, thousands(*p.CatalogSize), "#2563eb"))
		default:
			catalog = append(catalog, mk(p, 10+int(90*float64(*p.CatalogSize-lo)/float64(hi-lo)+0.5), thousands(*p.CatalogSize), "#2563eb"))
		}
	}
	return health, catalog, lo, hi
}

// funcs are shared by the HTML and the text templates.
var funcs = map[string]any{
	"num":  optNum,
	"numf": formatNumber,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "n/a"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"datep": func(t *time.Time) string {
		if t == nil {
			return "not yet"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"dur":       duration,
	"thousands": thousands,
	"sizep": func(n *int64) string {
		if n == nil {
			return "n/a"
		}
		return thousands(*n)
	},
	"year": func(y *int) string {
		if y == nil {
			return ""
		}
		return fmt.Sprint(*y)
	},
	"dflt": func(s, alt string) string {
		if s == "" {
			return alt
		}
		return s
	},
	// pad left-aligns s in a column of width runes (text tables).
	"pad": func(s string, width int) string {
		if n := utf8.RuneCountInString(s); n < width {
			return s + strings.Repeat(" ", width-n)
		}
		return s
	},
	"secs": func(s float64) string { return duration(time.Duration(s * float64(time.Second))) },
	// statusColor is the background of a KPI status cell.
	"statusColor": func(s string) string {
		switch s {
		case "ok":
			return "#dcfce7"
		case "warn":
			return "#fef3c7"
		case "error":
			return "#fee2e2"
		}
		return "#f3f4f6"
	},
	"upper": strings.ToUpper,
	"withUnit": func(v *float64, unit string) string {
		if v == nil || unit == "" {
			return optNum(v)
		}
		return optNum(v) + " " + unit
	},
}

// headerColor is the heading's background for the kind.
func headerColor(v *view) string {
	switch {
	case v.Resolved:
		return "#15803d"
	case v.Kind == ErrorAlert || v.Kind == HealthFailure:
		return "#b91c1c"
	case v.Kind == PerformanceWarning:
		return "#b45309"
	case v.Kind == NewFragrance:
		return "#1d4ed8"
	}
	return "#1f2937"
}
