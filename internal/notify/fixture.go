package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/scentmatch/pipeline/internal/settings"
)

// FixtureCycleID names the fixture cycle that test messages describe.
const FixtureCycleID = "test-fixture"

// FixtureReport is a made-up cycle that exercises every part of the
// messages: KPIs in every status, a health score below the minimum with an
// unhealthy component, a long run, a history, and fragrance names that
// must be escaped (`<script>alert(1)</script>`, `Eau & "Fraîche"`). The
// error kind gets a failure with a console link. now is when the cycle
// finished.
func FixtureReport(kind Kind, now time.Time) *Report {
	f := func(v float64) *float64 { return &v }
	n := func(v int64) *int64 { return &v }
	year := func(y int) *int { return &y }
	started := now.Add(-75 * time.Minute)
	finished := now
	r := &Report{
		CycleID: FixtureCycleID, Trigger: "manual", Status: "succeeded",
		StartedAt: started, FinishedAt: &finished, Duration: finished.Sub(started),
		HealthScore: f(72.5),
		KPIs: []KPI{
			{Name: "execution_time_minutes", Value: f(75), Unit: "minutes", Warn: f(15), Error: f(30), Status: "error"},
			{Name: "import_success_rate", Value: f(99.5), Unit: "percent", Warn: f(99), Error: f(98), Status: "ok"},
			{Name: "pending_embeddings", Value: f(64), Warn: f(50), Error: f(500), Status: "warn"},
			{Name: "review_queue_size", Warn: f(50), Error: f(200), Status: "unknown"},
		},
		Components: []Component{
			{Name: "data_quality", Healthy: true, Score: f(96)},
			{Name: "freshness", Healthy: false, Score: f(40), Detail: "the oldest trending observation is 15 days old (error above 14)"},
		},
		NewFragrances: []Fragrance{
			{Brand: "Maison <Test>", Name: "<script>alert(1)</script>", Year: year(2026), Concentration: "edp", Reason: "trending: rank 3 on the source's new-releases list", Score: f(0.91)},
			{Brand: "Parfums d'Été", Name: `Eau & "Fraîche"`, Year: year(2025), Concentration: "edt", Reason: `brand priority 1 & "market leader"`, Score: f(0.87)},
			{Brand: "Chanel", Name: "Bleu de Chanel L'Exclusif", Reason: ""},
		},
		NewFragranceCount: 4,
		Candidates:        func() *int { c := 5; return &c }(),
		Import: []Figure{{"inserted", "3"}, {"updated", "1"}, {"unchanged", "0"}, {"duplicate", "1"}, {"review", "1"}, {"rejected", "0"},
			{"new_fragrances", "4"}, {"embedded", "4"}, {"pending_embeddings", "64"}},
		Crawl: []Figure{{"requests", "42"}, {"not_modified", "30"}, {"status_429", "1"}, {"retries", "1"}, {"robots_blocked", "0"},
			{"errors", "0"}, {"effective_rate_per_min", "18.5"}, {"circuit_open", "false"}},
		StepTimings: []StepTiming{{"detect", 1310}, {"import", 2950}, {"maintain", 480}, {"metrics", 12.5}},
		CatalogSize: n(37215),
	}
	for i := 0; i < HistoryLength; i++ {
		p := Point{CycleID: fmt.Sprintf("schedule-202512%02dT0200", 7+i), StartedAt: started.AddDate(0, 0, -7*(HistoryLength-1-i)), Status: "succeeded",
			HealthScore: f(float64(80 + (i*7)%15)), CatalogSize: n(int64(36800 + 35*i))}
		switch i {
		case 4:
			p.Status, p.HealthScore = "failed", nil
		case HistoryLength - 1:
			p.CycleID, p.HealthScore, p.CatalogSize = r.CycleID, r.HealthScore, r.CatalogSize
		}
		r.History = append(r.History, p)
	}
	if kind == ErrorAlert {
		r.Status = "failed"
		r.Failure = &Failure{Step: "import", Type: "BadInputError",
			Message: `reading s3://scentmatch-dev-bucket/cycles/test-fixture/detect/candidates.jsonl line 7: field "name": <script>alert(1)</script> is not a fragrance name`}
		r.ExecutionARN, r.ConsoleURL = consoleLink("arn:aws:states:eu-west-1:123456789012:stateMachine:scentmatch-dev-cycle", r.CycleID)
	}
	return r
}

// TestOutcome is what happened to one test message.
type TestOutcome struct {
	Kind       Kind     `json:"kind"`
	Recipients []string `json:"recipients,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	MessageID  string   `json:"message_id,omitempty"`
	Skipped    string   `json:"skipped,omitempty"`
	Error      string   `json:"error,omitempty"`
	ErrorKind  string   `json:"error_kind,omitempty"`
}

// SendTests renders each kind from the fixture, labelled as a test, and
// sends it to the kind's configured recipients (or to, when given). Test
// sends are not recorded in the database. A send error is reported in the
// outcome, not returned; the error is for a message that cannot render.
func SendTests(ctx context.Context, s Sender, cfg *settings.Config, from string, kinds []Kind, to []string, now time.Time) ([]TestOutcome, error) {
	n := cfg.Monitoring.Notifications
	if from == "" {
		from = n.Sender
	}
	var out []TestOutcome
	for _, k := range kinds {
		o := TestOutcome{Kind: k, Recipients: to}
		if len(o.Recipients) == 0 {
			o.Recipients = n.Recipients[string(k)]
		}
		c, err := Render(k, FixtureReport(k, now), RenderOptions{Test: true, Thresholds: cfg.Monitoring.Thresholds, Now: now})
		if err != nil {
			return nil, err
		}
		o.Subject = c.Subject
		if len(o.Recipients) == 0 {
			o.Skipped = fmt.Sprintf("no recipients ($.notifications.recipients.%s is empty; --to sends anyway)", k)
			out = append(out, o)
			continue
		}
		o.MessageID, err = s.Send(ctx, Message{Kind: k, From: from, To: o.Recipients, Subject: c.Subject, Text: c.Text, HTML: c.HTML})
		if err != nil {
			o.Error, o.ErrorKind = err.Error(), errorKind(err)
		}
		out = append(out, o)
	}
	return out, nil
}
