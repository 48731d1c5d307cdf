package faultinject_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/steps"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// stallingSender delivers the first message, then freezes until the
// invocation's deadline, as a Lambda that times out after SES took the
// message but before the step recorded it.
type stallingSender struct {
	notify.Sender
	sent atomic.Int32
}

func (s *stallingSender) Send(ctx context.Context, m notify.Message) (string, error) {
	id, err := s.Sender.Send(ctx, m)
	if err == nil && s.sent.Add(1) == 1 {
		<-ctx.Done()
	}
	return id, err
}

// TestNotifyRetriedAfterItsSend retries the Notify step of a cycle after
// its messages went out, as Step Functions would after a timeout that came
// after the send: the outbox holds one message per kind, never two.
func TestNotifyRetriedAfterItsSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// first is the first Notify attempt; it must fail.
		first func(t *testing.T, p *pipeline, real func(context.Context, json.RawMessage) (json.RawMessage, error), ctx context.Context, in json.RawMessage) error
		// stalled is the kind whose send was not recorded, if any.
		stalled string
	}{
		{
			name: "after every send was recorded",
			first: func(t *testing.T, p *pipeline, real func(context.Context, json.RawMessage) (json.RawMessage, error), ctx context.Context, in json.RawMessage) error {
				_, err := real(ctx, in)
				if err != nil {
					return err
				}
				return &cycle.TransientError{Err: errors.New("injected: the invocation timed out after its sends")}
			},
		},
		{
			name:    "between a send and its record",
			stalled: string(notify.WeeklyReport),
			first: func(t *testing.T, p *pipeline, _ func(context.Context, json.RawMessage) (json.RawMessage, error), ctx context.Context, in json.RawMessage) error {
				var st cycle.State
				if err := json.Unmarshal(in, &st); err != nil {
					return err
				}
				d, err := p.deps.Get(ctx)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				n := &notify.Notifier{DB: d.Pool, Config: d.Config, From: d.Config.Monitoring.Notifications.Sender,
					Sender: &stallingSender{Sender: &notify.Outbox{Dir: filepath.Join(p.home, notify.OutboxDir)}}}
				_, err = n.Handle(ctx, st)
				if err == nil {
					return errors.New("the stalled attempt did not time out")
				}
				return cycle.Classify(err)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := dbtest.URL(t)
			p := newPipeline(t, url, tempHome(t), nil)
			fns := p.steps.Functions()
			real := fns[definitions.NotifyFunction]
			var calls atomic.Int32
			var firstErr error
			fns[definitions.NotifyFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
				if calls.Add(1) == 1 {
					firstErr = tc.first(t, p, real, ctx, in)
					return nil, firstErr
				}
				return real(ctx, in)
			}
			sum, err := p.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0200", MaxFragrances: 3, Options: p.options(), Functions: fns})
			require.NoError(t, err)
			require.IsType(t, &cycle.TransientError{}, firstErr, "%v", firstErr)
			require.Equal(t, []string{"Notify: TransientError"}, p.retried())
			require.Equal(t, int32(2), calls.Load())
			require.Equal(t, "succeeded", sum.Outcome, "%+v", sum)

			sent := outbox(t, p.home)
			require.NotEmpty(t, sent)
			for kind, n := range sent {
				require.Equal(t, 1, n, "%s: one message, not %d", kind, n)
			}
			require.Equal(t, 1, sent[string(notify.WeeklyReport)])

			db := connect(t, url)
			require.Equal(t, scalar(t, db, `SELECT count(DISTINCT dedupe_key) FROM notifications`), scalar(t, db, `SELECT count(*) FROM notifications`))
			require.Equal(t, len(sent), scalar(t, db, `SELECT count(*) FROM notifications WHERE status IN ('sent', 'pending')`))
			rec, err := (&cycle.Store{DB: db}).Get(ctx, sum.CycleID)
			require.NoError(t, err)
			var res notify.Result
			require.NoError(t, json.Unmarshal(rec.StepResults[cycle.StepNotify], &res))
			var kinds []string
			for _, m := range res.Sent {
				kinds = append(kinds, string(m.Kind))
				if tc.stalled == "" {
					require.True(t, m.AlreadySent, "%s: the retry reports the first attempt's send", m.Kind)
				}
			}
			if tc.stalled != "" {
				var skipped string
				for _, s := range res.Skipped {
					if string(s.Kind) == tc.stalled {
						skipped = s.Reason
					}
				}
				require.Contains(t, skipped, "not sent again (at most once)")
				require.Equal(t, 1, scalar(t, db, `SELECT count(*) FROM notifications WHERE status = 'pending' AND kind = $1`, tc.stalled))
			}
			t.Logf("%s: first attempt %v; outbox %v; the retry's result: sent %s, %d skipped", tc.name, firstErr, sent,
				strings.Join(kinds, ", "), len(res.Skipped))
		})
	}
}
