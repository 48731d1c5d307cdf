package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Notifier is the cycle's Notify step.
type Notifier struct {
	DB     postgres.DBTX
	Config *settings.Config
	Sender Sender
	// From overrides notifications.sender (SENDER_ADDRESS in AWS: the
	// verified SES identity).
	From string
	// StateMachineARN is the cycle state machine's ARN, for the console
	// link in error alerts (empty outside AWS).
	StateMachineARN string
	Logger          *slog.Logger
	Now             func() time.Time
}

// Result is the Notify step's result (results.notify): one entry per
// notification type, in Sent, Skipped or Failed.
type Result struct {
	Sent    []Sent    `json:"sent"`
	Skipped []Skipped `json:"skipped"`
	// Failed counts the sends SES refused; they do not fail the cycle.
	Failed []Failed `json:"failed"`
	// Via is where messages went: ses or outbox.
	Via      string  `json:"via"`
	MaxRSSMB float64 `json:"max_rss_mb"`
}

// Sent is a message that went out.
type Sent struct {
	Kind       Kind     `json:"kind"`
	Recipients []string `json:"recipients"`
	// MessageID is the SES message id, or the outbox file's path.
	MessageID string `json:"message_id"`
	Subject   string `json:"subject"`
	Resolved  bool   `json:"resolved,omitempty"`
	// AlreadySent marks a message an earlier attempt of the step sent.
	AlreadySent bool `json:"already_sent,omitempty"`
}

// Skipped is a type the cycle did not send, and why.
type Skipped struct {
	Kind   Kind   `json:"kind"`
	Reason string `json:"reason"`
}

// Failed is a send that did not go out.
type Failed struct {
	Kind       Kind     `json:"kind"`
	Recipients []string `json:"recipients"`
	Resolved   bool     `json:"resolved,omitempty"`
	ErrorKind  string   `json:"error_kind"` // rejected, sandbox, throttled, failed
	Error      string   `json:"error"`
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) logger() *slog.Logger {
	if n.Logger == nil {
		return logging.Discard()
	}
	return n.Logger
}

// decision is what the step does about one type: send intent, or skip.
type decision struct {
	intent
	skip string
	// okReason is the skip reason when a resolved message finds no open alert.
	okReason string
}

// Handle runs the Notify step on the success path (state.Error is nil: the
// report, new-fragrance, performance and health messages, and "resolved"
// messages for alerts that cleared) and on the Catch path (state.Error is
// set: the error alert only). It returns a *cycle.TransientError when SES
// still throttled a send after the client's retries, so Step Functions
// retries the step; the messages already sent are not sent again.
func (n *Notifier) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	log := n.logger().With("cycle_id", st.CycleID, "step", cycle.StepNotify)
	rep, exists, err := n.loadReport(ctx, st)
	if err != nil {
		return nil, err
	}
	res := &Result{Sent: []Sent{}, Skipped: []Skipped{}, Failed: []Failed{}, Via: n.Sender.Name()}
	var throttled []string
	for _, d := range n.decide(st, rep) {
		if d.skip != "" {
			res.Skipped = append(res.Skipped, Skipped{Kind: d.kind, Reason: d.skip})
			continue
		}
		f, err := n.deliver(ctx, log, d, rep, exists, st.DryRun, res)
		if err != nil {
			return nil, err
		}
		if f != nil && f.ErrorKind == "throttled" {
			throttled = append(throttled, string(f.Kind))
		}
	}
	res.MaxRSSMB = maxRSSMB()
	if exists {
		data, err := json.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("encoding the notify result: %w", err)
		}
		if _, err := n.DB.Exec(ctx, `UPDATE cycles SET step_results = jsonb_set(step_results, '{notify}', $2::jsonb) WHERE id = $1`, st.CycleID, postgres.JSONArg(data)); err != nil {
			return nil, fmt.Errorf("storing the notify result of cycle %s: %w", st.CycleID, err)
		}
	}
	log.InfoContext(ctx, "notify finished", "via", res.Via, "sent", len(res.Sent), "skipped", len(res.Skipped), "failed", len(res.Failed))
	if len(throttled) > 0 {
		return nil, &cycle.TransientError{Err: fmt.Errorf("SES throttled %s after retries; a retry of the step sends only what is missing", strings.Join(throttled, ", "))}
	}
	return res, nil
}

// decide says, for each type, what the cycle calls for.
func (n *Notifier) decide(st cycle.State, rep *Report) []decision {
	th := n.Config.Monitoring.Thresholds
	failed := st.Error != nil
	key := func(k Kind) string { return "cycle:" + st.CycleID + ":" + string(k) }
	send := func(k Kind) decision { return decision{intent: intent{kind: k, dedupeKey: key(k)}} }
	alert := func(k Kind, alertKey string) decision {
		return decision{intent: intent{kind: k, dedupeKey: key(k), alertKey: alertKey}}
	}
	resolve := func(k Kind, ok string) decision {
		return decision{intent: intent{kind: k, dedupeKey: key(k) + ":resolved", alertKey: string(k), resolves: true}, okReason: ok}
	}
	skip := func(k Kind, why string) decision { return decision{intent: intent{kind: k}, skip: why} }
	const onlyError = "the cycle failed: the Catch path sends the error alert only"

	var out []decision
	for _, k := range Kinds {
		switch k {
		case WeeklyReport:
			if failed {
				out = append(out, skip(k, onlyError))
			} else {
				out = append(out, send(k))
			}
		case NewFragrance:
			switch {
			case failed:
				out = append(out, skip(k, onlyError))
			case rep.NewFragranceCount == 0:
				out = append(out, skip(k, "no new fragrances this cycle"))
			default:
				out = append(out, send(k))
			}
		case PerformanceWarning:
			limit := time.Duration(th.PerformanceWarningMinutes * float64(time.Minute))
			switch {
			case failed:
				out = append(out, skip(k, onlyError))
			case rep.Duration > limit:
				out = append(out, alert(k, string(k)))
			default:
				out = append(out, resolve(k, fmt.Sprintf("the cycle took %s, within the %s-minute threshold", duration(rep.Duration), formatNumber(th.PerformanceWarningMinutes))))
			}
		case HealthFailure:
			switch {
			case failed:
				out = append(out, skip(k, onlyError))
			case !rep.HealthKnown():
				out = append(out, skip(k, "no health score or components: n/a from the metrics step"))
			case len(rep.HealthFailures(th.HealthScoreMin, th.ErrorRateMaxPercent)) > 0:
				out = append(out, alert(k, string(k)))
			default:
				ok := fmt.Sprintf("healthy: score %s (minimum %s), no unhealthy component", optNum(rep.HealthScore), formatNumber(th.HealthScoreMin))
				if past := rep.Unhealthy(th.HealthScoreMin); len(past) > 0 {
					ok = fmt.Sprintf("healthy: score %s (minimum %s); KPIs past their error threshold are in the weekly report (%s)",
						optNum(rep.HealthScore), formatNumber(th.HealthScoreMin), strings.Join(past, "; "))
				}
				out = append(out, resolve(k, ok))
			}
		case ErrorAlert:
			if failed {
				out = append(out, alert(k, "error:"+rep.Failure.Step+":"+rep.Failure.Type))
			} else {
				out = append(out, resolve(k, "the cycle did not fail"))
			}
		}
	}
	return out
}

// deliver sends one message unless it was sent before, is switched off,
// has nobody to go to, repeats an alert within the window, or the cycle is
// a dry run. It records the outcome in res; a send failure is returned too.
func (n *Notifier) deliver(ctx context.Context, log *slog.Logger, d decision, rep *Report, exists, dryRun bool, res *Result) (*Failed, error) {
	kind := d.kind
	cfg := n.Config.Monitoring.Notifications
	skip := func(why string) (*Failed, error) {
		res.Skipped = append(res.Skipped, Skipped{Kind: kind, Reason: why})
		return nil, nil
	}
	if !dryRun {
		rec, found, err := existing(ctx, n.DB, d.dedupeKey)
		if err != nil {
			return nil, err
		}
		switch {
		case found && rec.Status == "sent":
			res.Sent = append(res.Sent, Sent{Kind: kind, Recipients: nil, MessageID: deref(rec.MessageID), Resolved: d.resolves, AlreadySent: true})
			if err := n.fillSent(ctx, d.dedupeKey, &res.Sent[len(res.Sent)-1]); err != nil {
				return nil, err
			}
			return nil, nil
		case found && rec.Status == "pending":
			return skip(fmt.Sprintf("an earlier attempt recorded this message at %s and did not finish: not sent again (at most once)", rec.CreatedAt.UTC().Format(time.RFC3339)))
		case found && deref(rec.ErrorKind) != "throttled":
			return skip(fmt.Sprintf("an earlier attempt failed (%s): %s", deref(rec.ErrorKind), deref(rec.Error)))
		}
	}
	var since time.Time
	if d.resolves {
		open, at, err := alertOpen(ctx, n.DB, kind)
		if err != nil {
			return nil, err
		}
		if !open {
			return skip(d.okReason)
		}
		since = at
	}
	if !cfg.Enabled {
		return skip("notifications are disabled ($.notifications.enabled is false)")
	}
	if !cfg.TypeEnabled(string(kind)) {
		return skip(fmt.Sprintf("%s is switched off ($.notifications.types.%s.enabled is false)", kind, kind))
	}
	to := cfg.Recipients[string(kind)]
	if len(to) == 0 {
		log.WarnContext(ctx, "configuration warning", "path", "$.notifications.recipients."+string(kind), "rule", "recipients",
			"problem", fmt.Sprintf("no recipients: the %s message is not sent", kind))
		return skip(fmt.Sprintf("no recipients ($.notifications.recipients.%s is empty)", kind))
	}
	now := n.now()
	if d.alertKey != "" && !d.resolves {
		if window := cfg.DedupeWindow(string(kind)); window > 0 {
			at, found, err := recentAlert(ctx, n.DB, kind, d.alertKey, now.Add(-window))
			if err != nil {
				return nil, err
			}
			if found {
				return skip(fmt.Sprintf("the same alert went out at %s, within the %s dedupe window", at.UTC().Format(time.RFC3339), duration(window)))
			}
		}
	}
	content, err := Render(kind, rep, RenderOptions{Resolved: d.resolves, AlertSince: since, Thresholds: n.Config.Monitoring.Thresholds, Now: now})
	if err != nil {
		return nil, err
	}
	if dryRun {
		return skip(fmt.Sprintf("dry run: would send %q to %s", content.Subject, strings.Join(to, ", ")))
	}
	var cycleID *string
	if exists {
		cycleID = &rep.CycleID
	}
	id, claimed, err := claim(ctx, n.DB, d.intent, cycleID, to, content.Subject, now)
	if err != nil {
		return nil, err
	}
	if !claimed {
		return skip("another attempt recorded this message first: not sent twice")
	}
	from := n.From
	if from == "" {
		from = cfg.Sender
	}
	msgID, sendErr := n.Sender.Send(ctx, Message{Kind: kind, From: from, To: to, Subject: content.Subject, Text: content.Text, HTML: content.HTML})
	done := n.now()
	if sendErr != nil {
		if err := markFailed(ctx, n.DB, id, sendErr, done); err != nil {
			return nil, err
		}
		f := Failed{Kind: kind, Recipients: to, Resolved: d.resolves, ErrorKind: errorKind(sendErr), Error: sendErr.Error()}
		res.Failed = append(res.Failed, f)
		log.ErrorContext(ctx, "e-mail not sent", "kind", kind, "recipients", len(to), "error_kind", f.ErrorKind, "err", sendErr)
		return &f, nil
	}
	if err := markSent(ctx, n.DB, id, msgID, done); err != nil {
		return nil, err
	}
	res.Sent = append(res.Sent, Sent{Kind: kind, Recipients: to, MessageID: msgID, Subject: content.Subject, Resolved: d.resolves})
	log.InfoContext(ctx, "e-mail sent", "kind", kind, "resolved", d.resolves, "recipients", len(to), "via", n.Sender.Name(), "message_id", msgID)
	return nil, nil
}

// fillSent completes an already-sent entry from its record.
func (n *Notifier) fillSent(ctx context.Context, dedupeKey string, s *Sent) error {
	err := n.DB.QueryRow(ctx, `SELECT recipients, subject FROM notifications WHERE dedupe_key = $1`, dedupeKey).Scan(&s.Recipients, &s.Subject)
	if err != nil {
		return fmt.Errorf("reading notification %s: %w", dedupeKey, err)
	}
	return nil
}
