package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const testStateMachine = "arn:aws:states:eu-west-1:123456789012:stateMachine:scentmatch-dev-cycle"

// bundle is one test's notifier on its own database, outbox and clock.
type bundle struct {
	pool   *pgxpool.Pool
	cfg    *settings.Config
	outbox string
	n      *Notifier
	logs   *syncBuffer
	mu     sync.Mutex
	clock  time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{pool: dbtest.Pool(t), cfg: settings.Default(), outbox: filepath.Join(t.TempDir(), "outbox"), logs: &syncBuffer{}}
	b.n = &Notifier{DB: b.pool, Config: b.cfg, Sender: &Outbox{Dir: b.outbox, Now: b.now}, StateMachineARN: testStateMachine,
		Logger: logging.New(b.logs, logging.Options{Format: logging.JSON}), Now: b.now}
	return b
}

func (b *bundle) now() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clock
}

func (b *bundle) setClock(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clock = t
}

// cycleSpec is a cycles row and the state its Notify step receives.
type cycleSpec struct {
	id       string
	status   string
	started  time.Time
	finished *time.Time
	results  map[string]any
	health   *float64
}

func results(health float64, unhealthy bool, candidates ...map[string]any) map[string]any {
	components := map[string]any{"data_quality": map[string]any{"healthy": true, "score": 97}}
	if unhealthy {
		components["freshness"] = map[string]any{"healthy": false, "score": 30, "detail": "oldest trending observation 16 days old"}
	}
	return map[string]any{
		"detect": map[string]any{"candidate_count": len(candidates), "candidates": candidates,
			"crawl": map[string]any{"requests": 12, "not_modified": 3, "status_429": 1, "retries": 1, "robots_blocked": 0, "errors": 0, "effective_rate_per_min": 19.5, "circuit_open": false}},
		"import": map[string]any{"counts": map[string]any{"inserted": len(candidates), "updated": 0}, "new_fragrances": len(candidates)},
		"metrics": map[string]any{"health_score": health, "components": components, "kpis": map[string]any{
			"import_success_rate":    map[string]any{"value": 100, "unit": "percent", "warn": 99, "error": 98, "status": "ok"},
			"execution_time_minutes": map[string]any{"value": 75, "unit": "minutes", "warn": 15, "error": 30, "status": "error"},
		}},
	}
}

func (b *bundle) insertCycle(t *testing.T, c cycleSpec) cycle.State {
	t.Helper()
	if c.status == "" {
		c.status = "running"
	}
	data, err := json.Marshal(c.results)
	require.NoError(t, err)
	if c.results == nil {
		data = []byte("{}")
	}
	_, err = b.pool.Exec(context.Background(), `INSERT INTO cycles (id, trigger, status, started_at, finished_at, heartbeat_at, step_results, health_score)
		VALUES ($1, 'schedule', $2, $3, $4, $3, $5, $6)`, c.id, c.status, c.started, c.finished, data, c.health)
	require.NoError(t, err)
	return stateOf(t, c.id, c.results)
}

func stateOf(t *testing.T, id string, res map[string]any) cycle.State {
	t.Helper()
	st := cycle.State{CycleID: id, Trigger: "schedule", MaxFragrances: 20, Results: map[string]json.RawMessage{}}
	for k, v := range res {
		data, err := json.Marshal(v)
		require.NoError(t, err)
		st.Results[k] = data
	}
	return st
}

func (b *bundle) finish(t *testing.T, id string, at time.Time) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), `UPDATE cycles SET status = 'succeeded', finished_at = $2 WHERE id = $1`, id, at)
	require.NoError(t, err)
}

func (b *bundle) insertFragrance(t *testing.T, brand, name string, cycleID *string, created time.Time) {
	t.Helper()
	ctx := context.Background()
	var brandID int64
	require.NoError(t, b.pool.QueryRow(ctx, `INSERT INTO brands (name, match_key) VALUES ($1, lower($1))
		ON CONFLICT (match_key) DO UPDATE SET name = excluded.name RETURNING id`, brand).Scan(&brandID))
	_, err := b.pool.Exec(ctx, `INSERT INTO fragrances (brand_id, name, match_key, content_hash, created_cycle_id, created_at, year)
		VALUES ($1, $2, lower($2), 'h', $3, $4, 2026)`, brandID, name, cycleID, created)
	require.NoError(t, err)
}

func (b *bundle) outboxFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(b.outbox, "*.eml"))
	require.NoError(t, err)
	sort.Strings(files)
	return files
}

func kindsOf[T any](items []T, kind func(T) Kind) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, string(kind(it)))
	}
	return out
}

func sentKinds(r *Result) []string { return kindsOf(r.Sent, func(s Sent) Kind { return s.Kind }) }
func skippedKinds(r *Result) []string {
	return kindsOf(r.Skipped, func(s Skipped) Kind { return s.Kind })
}

func reason(t *testing.T, r *Result, k Kind) string {
	t.Helper()
	for _, s := range r.Skipped {
		if s.Kind == k {
			return s.Reason
		}
	}
	t.Fatalf("%s not skipped in %+v", k, r)
	return ""
}

func sent(t *testing.T, r *Result, k Kind) Sent {
	t.Helper()
	for _, s := range r.Sent {
		if s.Kind == k {
			return s
		}
	}
	t.Fatalf("%s not sent in %+v", k, r)
	return Sent{}
}

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestSuccessPathSendsEachMessageOnceAndResolvesAlerts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// Three earlier cycles for the history.
	for i := 3; i >= 1; i-- {
		start := t0.AddDate(0, 0, -7*i)
		b.insertCycle(t, cycleSpec{id: "schedule-" + start.Format("20060102T1504"), status: "succeeded", started: start, finished: ptr(start.Add(10 * time.Minute)), health: ptr(85.0 + float64(i))})
	}
	b.insertFragrance(t, "Chanel", "No 5", nil, t0.AddDate(0, -2, 0))

	// Cycle A: 75 minutes, unhealthy, two new fragrances with hostile names.
	a := "schedule-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: a, started: t0, results: results(72, true,
		map[string]any{"brand": "Maison <Test>", "name": "<script>alert(1)</script>", "reason": "trending: rank 3", "score": 0.93},
		map[string]any{"brand": "Parfums d'Été", "name": `Eau & "Fraîche"`, "reason": "brand priority 1", "score": 0.88})})
	b.insertFragrance(t, "Maison <Test>", "<script>alert(1)</script>", &a, t0.Add(30*time.Minute))
	b.insertFragrance(t, "Parfums d'Été", `Eau & "Fraîche"`, &a, t0.Add(31*time.Minute))
	b.setClock(t0.Add(75 * time.Minute))

	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, []string{"weekly_report", "new_fragrance", "performance_warning", "health_failure"}, sentKinds(res))
	require.Equal(t, []string{"error"}, skippedKinds(res))
	require.Equal(t, "the cycle did not fail", reason(t, res, ErrorAlert))
	require.Empty(t, res.Failed)
	require.Equal(t, "outbox", res.Via)
	require.Positive(t, res.MaxRSSMB)
	files := b.outboxFiles(t)
	require.Len(t, files, 4)

	nf := sent(t, res, NewFragrance)
	require.Equal(t, []string{"catalog@scentmatch.local"}, nf.Recipients)
	require.Contains(t, files, nf.MessageID, "the message id is the outbox path")
	m := parseEML(t, nf.MessageID)
	require.Equal(t, "ScentMatch: 2 new fragrances in cycle "+a, m.Subject)
	require.Contains(t, m.Text, "- Maison <Test>: <script>alert(1)</script>, 2026\n  why: trending: rank 3 (score 0.93)")
	require.Contains(t, m.Text, `Parfums d'Été: Eau & "Fraîche"`)
	require.Contains(t, m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, m.HTML, "Eau &amp; &#34;Fraîche&#34;")
	require.NotContains(t, m.HTML, "<script>")
	require.Contains(t, m.Text, "which now holds 3.")

	w := parseEML(t, sent(t, res, WeeklyReport).MessageID)
	require.Contains(t, w.Subject, "health 72, 2 new fragrances")
	require.Contains(t, w.Text, "HEALTH SCORE, LAST 4 CYCLES")
	require.Contains(t, w.Text, "> 2026-03-01  ######################........  72")
	require.Contains(t, w.Text, "Catalog grew by 2 fragrances (+200.00%) since the previous cycle, to 3.")
	require.Contains(t, w.Text, "status_429               1")
	require.Contains(t, w.Text, "execution_time_minutes             75 minutes")
	h := parseEML(t, sent(t, res, HealthFailure).MessageID)
	require.Contains(t, h.Text, "health score 72 is below the minimum of 80")
	require.Contains(t, h.Text, "component freshness is unhealthy: oldest trending observation 16 days old")
	p := parseEML(t, sent(t, res, PerformanceWarning).MessageID)
	require.Contains(t, p.Subject, "took 1 h 15 min (threshold 60 min)")

	var stored Result
	var raw []byte
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT step_results -> 'notify' FROM cycles WHERE id = $1`, a).Scan(&raw))
	require.NoError(t, json.Unmarshal(raw, &stored))
	require.Equal(t, sentKinds(res), sentKinds(&stored))
	var pending, sentRows int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent' AND message_id IS NOT NULL AND cycle_id = $1) FROM notifications`, a).Scan(&pending, &sentRows))
	require.Equal(t, 0, pending)
	require.Equal(t, 4, sentRows)

	// A retried step sends nothing again and reports the same messages.
	b.setClock(t0.Add(80 * time.Minute))
	again, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Len(t, b.outboxFiles(t), 4)
	require.Equal(t, sentKinds(res), sentKinds(again))
	for i, s := range again.Sent {
		require.True(t, s.AlreadySent, s.Kind)
		require.Equal(t, res.Sent[i].MessageID, s.MessageID)
		require.Equal(t, res.Sent[i].Recipients, s.Recipients)
		require.Equal(t, res.Sent[i].Subject, s.Subject)
	}
	b.finish(t, a, t0.Add(80*time.Minute))

	// Cycle B a week later: fast and healthy. Both alerts clear, once.
	bID := "schedule-20260308T0200"
	st = b.insertCycle(t, cycleSpec{id: bID, started: t0.AddDate(0, 0, 7), results: results(91, false)})
	b.setClock(t0.AddDate(0, 0, 7).Add(20 * time.Minute))
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, []string{"weekly_report", "performance_warning", "health_failure"}, sentKinds(res))
	require.True(t, sent(t, res, HealthFailure).Resolved)
	require.True(t, sent(t, res, PerformanceWarning).Resolved)
	require.Equal(t, "no new fragrances this cycle", reason(t, res, NewFragrance))
	require.Equal(t, "the cycle did not fail", reason(t, res, ErrorAlert))
	r := parseEML(t, sent(t, res, HealthFailure).MessageID)
	require.Equal(t, "ScentMatch resolved: health-check failure alert (cycle "+bID+")", r.Subject)
	require.Contains(t, r.Text, "The health-check failure alert open since 2026-03-01 03:15 UTC has cleared as of cycle "+bID)
	require.Len(t, b.outboxFiles(t), 7)
	b.finish(t, bID, t0.AddDate(0, 0, 7).Add(20*time.Minute))

	// Cycle C: still healthy, nothing more to resolve.
	cID := "schedule-20260315T0200"
	st = b.insertCycle(t, cycleSpec{id: cID, started: t0.AddDate(0, 0, 14), results: results(92, false)})
	b.setClock(t0.AddDate(0, 0, 14).Add(15 * time.Minute))
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, []string{"weekly_report"}, sentKinds(res))
	require.Equal(t, "healthy: score 92 (minimum 80), no unhealthy component", reason(t, res, HealthFailure))
	require.Equal(t, "the cycle took 15 min, within the 60-minute threshold", reason(t, res, PerformanceWarning))
}

func TestAlertIsNotRepeatedWithinTheWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.cfg.Monitoring.Notifications.Types = map[string]settings.NotificationType{"weekly_report": {Enabled: ptr(false)}}
	run := func(id string, start time.Time) *Result {
		st := b.insertCycle(t, cycleSpec{id: id, started: start, results: results(70, false)})
		b.setClock(start.Add(10 * time.Minute))
		res, err := b.n.Handle(ctx, st)
		require.NoError(t, err)
		b.finish(t, id, start.Add(10*time.Minute))
		return res
	}
	res := run("manual-20260301T0200", t0)
	require.Equal(t, []string{"health_failure"}, sentKinds(res))
	require.Equal(t, "weekly_report is switched off ($.notifications.types.weekly_report.enabled is false)", reason(t, res, WeeklyReport))

	res = run("manual-20260301T0400", t0.Add(2*time.Hour))
	require.Empty(t, res.Sent)
	require.Equal(t, "the same alert went out at 2026-03-01T02:10:00Z, within the 24 h dedupe window", reason(t, res, HealthFailure))

	res = run("manual-20260302T0300", t0.Add(25*time.Hour))
	require.Equal(t, []string{"health_failure"}, sentKinds(res), "past the window the alert goes out again")

	// A shorter window for the type.
	b.cfg.Monitoring.Notifications.Types["health_failure"] = settings.NotificationType{DedupeWindowHours: ptr(0.5)}
	res = run("manual-20260302T0400", t0.Add(26*time.Hour))
	require.Equal(t, []string{"health_failure"}, sentKinds(res))
	require.Len(t, b.outboxFiles(t), 3)
}

func TestFailurePathSendsOneErrorAlert(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id := "manual-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: id, started: t0, results: map[string]any{
		"detect": map[string]any{"candidate_count": 1}, "import": map[string]any{"counts": map[string]any{"inserted": 1}}}})
	st.Error = &cycle.StepError{Error: "BadInputError", Cause: `{"errorMessage":"maintain: <b>table</b> \"fragrances\" is locked","errorType":"BadInputError","stackTrace":[]}`}
	b.setClock(t0.Add(12 * time.Minute))

	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, []string{"error"}, sentKinds(res))
	require.Len(t, res.Skipped, 4)
	for _, k := range []Kind{WeeklyReport, NewFragrance, PerformanceWarning, HealthFailure} {
		require.Equal(t, "the cycle failed: the Catch path sends the error alert only", reason(t, res, k))
	}
	files := b.outboxFiles(t)
	require.Len(t, files, 1)
	m := parseEML(t, files[0])
	require.Equal(t, "ScentMatch ERROR: cycle "+id+" failed at maintain (BadInputError)", m.Subject)
	require.Contains(t, m.Text, "failed at step maintain (inferred: the first step without a result)")
	require.Contains(t, m.Text, `maintain: <b>table</b> "fragrances" is locked`)
	require.Contains(t, m.HTML, `maintain: &lt;b&gt;table&lt;/b&gt; &#34;fragrances&#34; is locked`)
	require.Contains(t, m.Text, "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:scentmatch-dev-cycle:"+id)
	require.Contains(t, m.HTML, `href="https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:scentmatch-dev-cycle:`+id+`"`)

	// The Catch path's Notify retried: nothing new.
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.True(t, sent(t, res, ErrorAlert).AlreadySent)
	require.Len(t, b.outboxFiles(t), 1)
	_, err = b.pool.Exec(ctx, `UPDATE cycles SET status = 'failed', finished_at = $2, failed_step = 'maintain' WHERE id = $1`, id, t0.Add(12*time.Minute))
	require.NoError(t, err)

	// The same failure an hour later is within the window; another step's is not.
	again := b.insertCycle(t, cycleSpec{id: "manual-20260301T0300", started: t0.Add(time.Hour), results: map[string]any{"detect": map[string]any{}, "import": map[string]any{}}})
	again.Error = st.Error
	b.setClock(t0.Add(70 * time.Minute))
	res, err = b.n.Handle(ctx, again)
	require.NoError(t, err)
	require.Contains(t, reason(t, res, ErrorAlert), "within the 24 h dedupe window")
	_, err = b.pool.Exec(ctx, `UPDATE cycles SET status = 'failed', finished_at = $2 WHERE id = $1`, "manual-20260301T0300", t0.Add(70*time.Minute))
	require.NoError(t, err)

	other := b.insertCycle(t, cycleSpec{id: "manual-20260301T0400", started: t0.Add(2 * time.Hour)})
	other.Error = &cycle.StepError{Error: "States.Timeout", Cause: ""}
	b.setClock(t0.Add(3 * time.Hour))
	res, err = b.n.Handle(ctx, other)
	require.NoError(t, err)
	require.Equal(t, []string{"error"}, sentKinds(res))
	m = parseEML(t, sent(t, res, ErrorAlert).MessageID)
	require.Equal(t, "ScentMatch ERROR: cycle manual-20260301T0400 failed at detect (States.Timeout)", m.Subject)
	require.Contains(t, m.Text, "ERROR MESSAGE\nn/a")
	_, err = b.pool.Exec(ctx, `UPDATE cycles SET status = 'failed', finished_at = $2 WHERE id = $1`, "manual-20260301T0400", t0.Add(3*time.Hour))
	require.NoError(t, err)

	// The next successful cycle resolves the error alert once.
	ok := b.insertCycle(t, cycleSpec{id: "manual-20260301T0600", started: t0.Add(4 * time.Hour), results: results(90, false)})
	b.setClock(t0.Add(4*time.Hour + 5*time.Minute))
	res, err = b.n.Handle(ctx, ok)
	require.NoError(t, err)
	require.True(t, sent(t, res, ErrorAlert).Resolved)
	m = parseEML(t, sent(t, res, ErrorAlert).MessageID)
	require.Equal(t, "ScentMatch resolved: error alert (cycle manual-20260301T0600)", m.Subject)
	require.Contains(t, m.Text, "The error alert open since 2026-03-01 02:12 UTC has cleared")
}

func TestNoRecipientsIsAWarningAndARecordedSkip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.cfg.Monitoring.Notifications.Recipients["weekly_report"] = nil
	id := "schedule-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: id, started: t0, results: results(95, false)})
	b.setClock(t0.Add(5 * time.Minute))
	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Empty(t, res.Sent)
	require.Equal(t, "no recipients ($.notifications.recipients.weekly_report is empty)", reason(t, res, WeeklyReport))
	require.Empty(t, b.outboxFiles(t))
	require.Contains(t, b.logs.String(), `"msg":"configuration warning","cycle_id":"`+id+`","step":"notify","path":"$.notifications.recipients.weekly_report","rule":"recipients"`)
	var stored string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT step_results #>> '{notify,skipped,0,reason}' FROM cycles WHERE id = $1`, id).Scan(&stored))
	require.Equal(t, "no recipients ($.notifications.recipients.weekly_report is empty)", stored)

	b.cfg.Monitoring.Notifications.Enabled = false
	b.cfg.Monitoring.Notifications.Recipients["weekly_report"] = []string{"ops@scentmatch.local"}
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, "notifications are disabled ($.notifications.enabled is false)", reason(t, res, WeeklyReport))
}

func TestSESRejectionIsCountedAndRecordedWithoutFailingTheStep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var reject sync.Map
	reject.Store("on", true)
	srv := newSESServer(t, func(n int32, w http.ResponseWriter) {
		if on, _ := reject.Load("on"); on.(bool) {
			sesError(http.StatusBadRequest, "MessageRejected", "Email address is not verified. The following identities failed the check in region EU-WEST-1: ops@scentmatch.local")(w)
			return
		}
		sesOK("ses-message-id")(n, w)
	})
	b.n.Sender = &SES{Client: sesClient(srv.URL, 3), ConfigurationSet: "scentmatch-pipeline"}
	b.n.From = "ScentMatch <pipeline@scentmatch.example>"

	_, found, err := LastFailure(ctx, b.pool)
	require.NoError(t, err)
	require.False(t, found)

	id := "schedule-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: id, started: t0, results: results(95, false)})
	b.setClock(t0.Add(5 * time.Minute))
	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err, "a rejection does not fail the cycle")
	require.Empty(t, res.Sent)
	require.Len(t, res.Failed, 1)
	require.Equal(t, WeeklyReport, res.Failed[0].Kind)
	require.Equal(t, "sandbox", res.Failed[0].ErrorKind)
	require.Contains(t, b.logs.String(), `"msg":"e-mail not sent"`)
	req := <-srv.bodies
	require.Equal(t, "ScentMatch <pipeline@scentmatch.example>", req.FromEmailAddress)

	f, found, err := LastFailure(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "weekly_report", f.Kind)
	require.Equal(t, "sandbox", f.ErrorKind)
	require.Equal(t, id, *f.CycleID)
	require.Contains(t, f.Error, "Email address is not verified")
	require.True(t, f.At.Equal(t0.Add(5*time.Minute)))

	// A retried step does not send a rejected message again.
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Contains(t, reason(t, res, WeeklyReport), "an earlier attempt failed (sandbox)")
	require.EqualValues(t, 1, srv.requests.Load())
	b.finish(t, id, t0.Add(5*time.Minute))

	// Once SES takes a message again, e-mail is healthy.
	reject.Store("on", false)
	st = b.insertCycle(t, cycleSpec{id: "schedule-20260308T0200", started: t0.AddDate(0, 0, 7), results: results(95, false)})
	b.setClock(t0.AddDate(0, 0, 7).Add(5 * time.Minute))
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, "ses-message-id", sent(t, res, WeeklyReport).MessageID)
	require.Equal(t, "ses", res.Via)
	_, found, err = LastFailure(ctx, b.pool)
	require.NoError(t, err)
	require.False(t, found)
}

func TestThrottlingFailsTheStepAndTheRetrySendsWhatIsMissing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var throttle sync.Map
	throttle.Store("on", true)
	srv := newSESServer(t, func(n int32, w http.ResponseWriter) {
		if on, _ := throttle.Load("on"); on.(bool) {
			sesError(http.StatusTooManyRequests, "TooManyRequestsException", "Maximum sending rate exceeded.")(w)
			return
		}
		sesOK("id-"+string(rune('a'+n)))(n, w)
	})
	b.n.Sender = &SES{Client: sesClient(srv.URL, 2)}
	id := "schedule-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: id, started: t0, results: results(70, false)})
	b.setClock(t0.Add(5 * time.Minute))

	res, err := b.n.Handle(ctx, st)
	require.Nil(t, res)
	te, ok := err.(*cycle.TransientError)
	require.True(t, ok, "an unwrapped *cycle.TransientError, so Step Functions retries: %T %v", err, err)
	require.Contains(t, te.Error(), "weekly_report, health_failure")
	require.EqualValues(t, 4, srv.requests.Load(), "two messages, two attempts each")

	throttle.Store("on", false)
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, []string{"weekly_report", "health_failure"}, sentKinds(res))
	for _, s := range res.Sent {
		require.False(t, s.AlreadySent)
	}
	var attempts []int
	rows, err := b.pool.Query(ctx, `SELECT attempts FROM notifications WHERE status = 'sent' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a int
		require.NoError(t, rows.Scan(&a))
		attempts = append(attempts, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{2, 2}, attempts)
}

func TestDryRunSendsAndRecordsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	st := b.insertCycle(t, cycleSpec{id: "manual-20260301T0200", started: t0, results: results(95, false)})
	st.DryRun = true
	b.setClock(t0.Add(5 * time.Minute))
	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Empty(t, res.Sent)
	require.Contains(t, reason(t, res, WeeklyReport), `dry run: would send "ScentMatch weekly report: cycle manual-20260301T0200 — health 95, 0 new fragrances" to ops@scentmatch.local`)
	require.Empty(t, b.outboxFiles(t))
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM notifications`).Scan(&n))
	require.Zero(t, n)
}

func TestMissingCycleRowReportsFromTheState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.setClock(t0.Add(30 * time.Minute))
	st := stateOf(t, "schedule-20260301T0200", results(88, false))
	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Equal(t, []string{"weekly_report"}, sentKinds(res))
	m := parseEML(t, res.Sent[0].MessageID)
	require.Contains(t, m.Text, "Started:        2026-03-01 02:00 UTC", "the start comes from the cycle id")
	require.Contains(t, m.Text, "Duration:       30 min")
	var cycleID *string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT cycle_id FROM notifications`).Scan(&cycleID))
	require.Nil(t, cycleID)
	require.Contains(t, b.logs.String(), "the cycle has no cycles row")

	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.True(t, res.Sent[0].AlreadySent, "idempotent by cycle id even without the row")

	_, err = b.n.Handle(ctx, cycle.State{})
	var bad *cycle.BadInputError
	require.ErrorAs(t, err, &bad)
}

func TestLambdaEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	h := lambda.NewHandler(b.n.Handle)

	b.setClock(time.Date(2026, 11, 29, 2, 12, 0, 0, time.UTC))
	payload, err := os.ReadFile("../../events/notify-success.json")
	require.NoError(t, err)
	out, err := h.Invoke(ctx, payload)
	require.NoError(t, err)
	var res struct {
		Sent []struct {
			Kind       string   `json:"kind"`
			Recipients []string `json:"recipients"`
			MessageID  string   `json:"message_id"`
		} `json:"sent"`
		Skipped []struct{ Kind, Reason string } `json:"skipped"`
		Failed  []any                           `json:"failed"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res.Sent, 1)
	require.Equal(t, "weekly_report", res.Sent[0].Kind)
	require.Equal(t, []string{"ops@scentmatch.local"}, res.Sent[0].Recipients)
	require.FileExists(t, res.Sent[0].MessageID)
	require.Len(t, res.Skipped, 4)
	require.NotNil(t, res.Failed, "an empty list, not null")
	m := parseEML(t, res.Sent[0].MessageID)
	require.Contains(t, m.Text, "health score 94.5 / 100")
	require.Contains(t, m.Text, "effective_rate_per_min   19.2")

	b.setClock(time.Date(2026, 12, 2, 9, 50, 0, 0, time.UTC))
	payload, err = os.ReadFile("../../events/notify-failure.json")
	require.NoError(t, err)
	out, err = h.Invoke(ctx, payload)
	require.NoError(t, err)
	res.Sent = nil
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res.Sent, 1)
	require.Equal(t, "error", res.Sent[0].Kind)
	m = parseEML(t, res.Sent[0].MessageID)
	require.Equal(t, "ScentMatch ERROR: cycle manual-20261202T0930 failed at import (TransientError)", m.Subject)
	require.Contains(t, m.Text, "importing batch 3: connecting to the database: dial tcp 10.0.3.17:5432: i/o timeout")
	require.True(t, strings.Contains(m.Text, "execution:scentmatch-dev-cycle:manual-20261202T0930"))
}

func TestCatalogSizesCountWhatExistedBeforeEachTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := 0; i < 10; i++ {
		b.insertFragrance(t, "Brand", "F"+string(rune('a'+i)), nil, t0.Add(time.Duration(i)*time.Hour))
	}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	sizes, err := catalogSizes(context.Background(), b.pool, []time.Time{at(5), at(0), at(20), at(5), at(-1), at(9).Add(time.Microsecond)})
	require.NoError(t, err)
	require.Equal(t, map[time.Time]int64{at(-1): 0, at(0): 0, at(5): 5, at(9).Add(time.Microsecond): 10, at(20): 10}, sizes)
	sizes, err = catalogSizes(context.Background(), b.pool, nil)
	require.NoError(t, err)
	require.Empty(t, sizes)
}

// TestAKPIPastItsThresholdIsNoHealthFailure: a first cycle (health score
// above the minimum, one KPI component at error, as coverage_completeness
// 0 percent is on a fresh clone while `scentmatch health` says all
// healthy) sends the weekly report with the KPI, and no health-failure
// alert; an error rate above thresholds.error_rate_max_percent does send
// one, as `health`'s error_rate component fails.
func TestAKPIPastItsThresholdIsNoHealthFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id := "manual-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: id, started: t0, results: results(91, true)})
	b.setClock(t0.Add(10 * time.Minute))
	res, err := b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Contains(t, sentKinds(res), "weekly_report")
	require.NotContains(t, sentKinds(res), "health_failure")
	require.Contains(t, reason(t, res, HealthFailure), "healthy: score 91 (minimum 80); KPIs past their error threshold are in the weekly report (component freshness is unhealthy")
	w := parseEML(t, sent(t, res, WeeklyReport).MessageID)
	require.Contains(t, w.Text, "execution_time_minutes", "the KPI stays in the weekly report")
	b.finish(t, id, t0.Add(10*time.Minute))

	id = "manual-20260308T0200"
	r := results(91, false)
	r["metrics"].(map[string]any)["kpis"].(map[string]any)["error_rate"] = map[string]any{"value": 7.5, "unit": "percent", "warn": 1, "error": 5, "status": "error"}
	st = b.insertCycle(t, cycleSpec{id: id, started: t0.AddDate(0, 0, 7), results: r})
	b.setClock(t0.AddDate(0, 0, 7).Add(10 * time.Minute))
	res, err = b.n.Handle(ctx, st)
	require.NoError(t, err)
	require.Contains(t, sentKinds(res), "health_failure")
}
