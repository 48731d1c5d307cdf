package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/settings"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the templates")

var fixtureNow = time.Date(2026, 3, 1, 3, 15, 0, 0, time.UTC)

func TestTemplatesGolden(t *testing.T) {
	t.Parallel()
	th := settings.Default().Monitoring.Thresholds
	healthy := func(k Kind) *Report {
		r := FixtureReport(k, fixtureNow)
		s := 91.0
		r.HealthScore, r.Components, r.Duration = &s, nil, 20*time.Minute
		return r
	}
	cases := []struct {
		name string
		kind Kind
		rep  *Report
		opt  RenderOptions
	}{
		{"weekly_report", WeeklyReport, FixtureReport(WeeklyReport, fixtureNow), RenderOptions{}},
		{"weekly_report_test", WeeklyReport, FixtureReport(WeeklyReport, fixtureNow), RenderOptions{Test: true}},
		{"weekly_report_empty", WeeklyReport, &Report{CycleID: "schedule-20260301T0200", Trigger: "schedule", Status: "succeeded",
			StartedAt: fixtureNow.Add(-90 * time.Second), Duration: 90 * time.Second}, RenderOptions{}},
		// A deployment with the shipped defaults: detect had no source.
		{"weekly_report_no_source", WeeklyReport, &Report{CycleID: "schedule-20260301T0200", Trigger: "schedule", Status: "succeeded",
			StartedAt: fixtureNow.Add(-90 * time.Second), Duration: 90 * time.Second, Candidates: new(int),
			Warnings: []string{"no source enabled: the enabled sources run only locally (the sandbox, the shipped default); enable an http or snapshot source"}}, RenderOptions{}},
		{"new_fragrance", NewFragrance, FixtureReport(NewFragrance, fixtureNow), RenderOptions{}},
		{"performance_warning", PerformanceWarning, FixtureReport(PerformanceWarning, fixtureNow), RenderOptions{}},
		{"error", ErrorAlert, FixtureReport(ErrorAlert, fixtureNow), RenderOptions{}},
		{"health_failure", HealthFailure, FixtureReport(HealthFailure, fixtureNow), RenderOptions{}},
		{"health_failure_resolved", HealthFailure, healthy(HealthFailure), RenderOptions{Resolved: true, AlertSince: fixtureNow.AddDate(0, 0, -14)}},
		// Resolved although a component is still unhealthy: the message
		// says so rather than "every component is healthy".
		{"health_failure_resolved_watch", HealthFailure, func() *Report {
			r := FixtureReport(HealthFailure, fixtureNow)
			s := 91.0
			r.HealthScore = &s
			return r
		}(), RenderOptions{Resolved: true, AlertSince: fixtureNow.AddDate(0, 0, -14)}},
		{"performance_warning_resolved", PerformanceWarning, healthy(PerformanceWarning), RenderOptions{Resolved: true, AlertSince: fixtureNow.AddDate(0, 0, -7)}},
		{"error_resolved", ErrorAlert, healthy(WeeklyReport), RenderOptions{Resolved: true, AlertSince: fixtureNow.Add(-3 * time.Hour)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opt.Thresholds, c.opt.Now = th, fixtureNow
			got, err := Render(c.kind, c.rep, c.opt)
			require.NoError(t, err)
			doc := "Subject: " + got.Subject + "\n\n===== text/plain =====\n" + got.Text + "\n===== text/html =====\n" + got.HTML
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./internal/notify -run TestTemplatesGolden -update")
			require.Equal(t, string(want), doc, "the rendering changed: check it, then go test ./internal/notify -run TestTemplatesGolden -update")
		})
	}
}

func TestHostileNamesAreTextInBothParts(t *testing.T) {
	t.Parallel()
	th := settings.Default().Monitoring.Thresholds
	for _, k := range Kinds {
		c, err := Render(k, FixtureReport(k, fixtureNow), RenderOptions{Thresholds: th, Now: fixtureNow})
		require.NoError(t, err)
		require.NotContains(t, c.HTML, "<script>", k)
		if k == WeeklyReport || k == NewFragrance {
			require.Contains(t, c.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;", k)
			require.Contains(t, c.HTML, "Eau &amp; &#34;Fraîche&#34;", k)
			require.Contains(t, c.HTML, "Maison &lt;Test&gt;", k)
			require.Contains(t, c.Text, "<script>alert(1)</script>", k)
			require.Contains(t, c.Text, `Eau & "Fraîche"`, k)
			require.NotContains(t, c.Text, "&amp;", k)
			require.NotContains(t, c.Text, "&lt;", k)
		}
		if k == ErrorAlert {
			require.Contains(t, c.HTML, `field &#34;name&#34;: &lt;script&gt;alert(1)&lt;/script&gt;`)
			require.Contains(t, c.Text, `field "name": <script>alert(1)</script>`)
		}
	}

	// A name with a line break cannot add a header through the subject.
	r := FixtureReport(NewFragrance, fixtureNow)
	r.NewFragrances = []Fragrance{{Brand: "Evil", Name: "X\r\nBcc: victim@example.com"}}
	r.NewFragranceCount = 1
	c, err := Render(NewFragrance, r, RenderOptions{Thresholds: th, Now: fixtureNow})
	require.NoError(t, err)
	require.Equal(t, "ScentMatch: new fragrance X Bcc: victim@example.com by Evil", c.Subject)
}

func TestWeeklyReportChartCoversTwelveCycles(t *testing.T) {
	t.Parallel()
	r := FixtureReport(WeeklyReport, fixtureNow)
	c, err := Render(WeeklyReport, r, RenderOptions{Thresholds: settings.Default().Monitoring.Thresholds, Now: fixtureNow})
	require.NoError(t, err)
	// One table row per cycle and chart, each with its value.
	require.Equal(t, 2*HistoryLength, strings.Count(c.HTML, `<td width="84"`))
	require.Contains(t, c.HTML, `<td width="73%" height="14" bgcolor="#d97706"`, "this cycle's 72.5, amber below 80")
	require.Contains(t, c.HTML, "37,215")
	require.Contains(t, c.Text, "> 2026-03-01  ######################........  72.5")
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45 s", 12*time.Minute + 30*time.Second: "12 min 30 s", 20 * time.Minute: "20 min",
		75 * time.Minute: "1 h 15 min", 24 * time.Hour: "24 h", 0: "0 s",
	} {
		require.Equal(t, want, duration(d))
	}
}

func BenchmarkRenderWeeklyReport(b *testing.B) {
	r := FixtureReport(WeeklyReport, fixtureNow)
	opt := RenderOptions{Thresholds: settings.Default().Monitoring.Thresholds, Now: fixtureNow}
	for b.Loop() {
		if _, err := Render(WeeklyReport, r, opt); err != nil {
			b.Fatal(err)
		}
	}
}
