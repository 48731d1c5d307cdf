package health_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSourcesReadsBothShapes(t *testing.T) {
	t.Parallel()
	named, err := health.Sources([]byte(`{
		"sandbox": {"enabled": true, "kind": "sandbox", "base_url": "http://127.0.0.1:9", "user_agent": "bot", "rate_limit": {"delay_ms": 1}},
		"shop": {"enabled": false, "kind": "http", "base_url": "https://shop.example"},
		"notes": "not a source"}`))
	require.NoError(t, err)
	require.Equal(t, []health.Source{
		{Name: "sandbox", Kind: "sandbox", BaseURL: "http://127.0.0.1:9", UserAgent: "bot", Enabled: true},
		{Name: "shop", Kind: "http", BaseURL: "https://shop.example"},
	}, named)

	flat, err := health.Sources([]byte(`{"kind": "http", "base_url": "https://api.example", "user_agent": "bot", "delay_ms": 3000, "new_key": [1]}`))
	require.NoError(t, err)
	require.Equal(t, []health.Source{{Name: "upstream", Kind: "http", BaseURL: "https://api.example", UserAgent: "bot", Enabled: true}}, flat)

	_, err = health.Sources([]byte(`[`))
	require.Error(t, err)
	def, err := health.ReadEthics(context.Background(), nil)
	require.NoError(t, err)
	srcs, err := health.Sources(def)
	require.NoError(t, err)
	require.NotEmpty(t, srcs)
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

func only(t *testing.T, in health.Inputs, name string) health.Component {
	t.Helper()
	in.Only = []string{name}
	rep := health.Check(context.Background(), in)
	require.Len(t, rep.Components, 1, "%v", rep.Components)
	return rep.Components[name]
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	var ua atomic.Value
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		ua.Store(r.UserAgent())
		w.WriteHeader(int(status.Load()))
		fmt.Fprintln(w, "User-agent: *\nAllow: /")
	}))
	t.Cleanup(srv.Close)
	ethics := func(kind, url string, enabled bool) []byte {
		return []byte(fmt.Sprintf(`{"src": {"enabled": %t, "kind": %q, "base_url": %q, "user_agent": "ScentMatchBot/1.0 (+mailto:ops@x.y)"}}`, enabled, kind, url))
	}
	noDB := health.Inputs{Connect: func(context.Context) (*pgxpool.Pool, error) { return nil, fmt.Errorf("no database") }}

	in := noDB
	in.Ethics = ethics("http", srv.URL+"/catalog/", true)
	c := only(t, in, health.Upstream)
	require.True(t, c.Healthy, c.Detail)
	require.False(t, c.Skipped)
	require.Contains(t, c.Detail, "/robots.txt reachable (HTTP 200)")
	require.Equal(t, "ScentMatchBot/1.0 (+mailto:ops@x.y)", ua.Load())

	status.Store(404) // no robots.txt: reachable, everything allowed
	require.True(t, only(t, in, health.Upstream).Healthy)
	status.Store(503)
	c = only(t, in, health.Upstream)
	require.False(t, c.Healthy)
	require.Contains(t, c.Detail, "HTTP 503")

	// A stopped sandbox is skipped; a stopped real site is not.
	dead := "http://" + refusedAddr(t)
	in.Ethics = ethics("sandbox", dead, true)
	c = only(t, in, health.Upstream)
	require.True(t, c.Healthy)
	require.True(t, c.Skipped)
	require.Contains(t, c.Detail, "sandbox is not running")
	in.Ethics = ethics("http", dead, true)
	require.False(t, only(t, in, health.Upstream).Healthy)

	in.Ethics = ethics("http", dead, false)
	c = only(t, in, health.Upstream)
	require.True(t, c.Healthy && c.Skipped)
	require.Equal(t, "no enabled source", c.Detail)
}

// sesAccount serves SES v2 GetAccount with the given flags.
func sesAccount(t *testing.T, sending, production bool, status int) *sesv2.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v2/email/account" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if status != 200 {
			w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
			w.WriteHeader(status)
			fmt.Fprint(w, `{"message": "slow down"}`)
			return
		}
		fmt.Fprintf(w, `{"SendingEnabled": %t, "ProductionAccessEnabled": %t, "EnforcementStatus": "HEALTHY",
			"SendQuota": {"Max24HourSend": 50000, "MaxSendRate": 14, "SentLast24Hours": 12}}`, sending, production)
	}))
	t.Cleanup(srv.Close)
	return sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{},
		RetryMaxAttempts: 1})
}

func TestEmailSES(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := health.SES{Client: sesAccount(t, true, true, 200)}.CheckEmail(ctx)
	require.True(t, c.Healthy, c.Detail)
	require.Contains(t, c.Detail, "sent 12 of 50000")
	c = health.SES{Client: sesAccount(t, true, false, 200)}.CheckEmail(ctx)
	require.False(t, c.Healthy)
	require.Contains(t, c.Detail, "sandbox")
	c = health.SES{Client: sesAccount(t, false, true, 200)}.CheckEmail(ctx)
	require.False(t, c.Healthy)
	require.Contains(t, c.Detail, "disabled")
	c = health.SES{Client: sesAccount(t, true, true, 429)}.CheckEmail(ctx)
	require.False(t, c.Healthy)
	require.Contains(t, c.Detail, "GetAccount")
}

func TestEmailOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	home := t.TempDir()
	c := health.Outbox{Dir: filepath.Join(home, "outbox")}.CheckEmail(ctx)
	require.True(t, c.Healthy, c.Detail)
	require.Contains(t, c.Detail, "will be created")
	require.NoDirExists(t, filepath.Join(home, "outbox"), "the check creates nothing")

	require.NoError(t, os.Mkdir(filepath.Join(home, "outbox"), 0o755))
	c = health.Outbox{Dir: filepath.Join(home, "outbox")}.CheckEmail(ctx)
	require.True(t, c.Healthy, c.Detail)
	entries, err := os.ReadDir(filepath.Join(home, "outbox"))
	require.NoError(t, err)
	require.Empty(t, entries, "the probe file is removed")

	require.NoError(t, os.WriteFile(filepath.Join(home, "file"), nil, 0o644))
	require.False(t, health.Outbox{Dir: filepath.Join(home, "file")}.CheckEmail(ctx).Healthy)
	require.False(t, health.Outbox{Dir: filepath.Join(home, "file", "outbox")}.CheckEmail(ctx).Healthy)
}

func TestLastCycleAndErrorRate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name            string
		setup           string
		lastOK, errOK   bool
		lastIs, errorIs string
	}{
		{name: "no cycles", lastOK: true, errOK: true, lastIs: "no cycle has run yet", errorIs: "no cycle has recorded"},
		{name: "recent success",
			setup:  `INSERT INTO cycles (id, trigger, status, started_at, finished_at, kpis) VALUES ('a', 'schedule', 'succeeded', $1::timestamptz - interval '1 day', $1, '{"error_rate": {"value": 2.5, "status": "ok"}}')`,
			lastOK: true, errOK: true, lastIs: "last cycle a succeeded, started 1.0 days ago", errorIs: "2.50% in cycle a"},
		{name: "too old",
			setup:  `INSERT INTO cycles (id, trigger, status, started_at, finished_at) VALUES ('a', 'schedule', 'succeeded', $1::timestamptz - interval '9 days', $1::timestamptz - interval '9 days')`,
			lastOK: false, errOK: true, lastIs: "more than 8 days"},
		{name: "failed, high error rate",
			setup: `INSERT INTO cycles (id, trigger, status, started_at, finished_at, failed_step, error_type, kpis) VALUES
				('a', 'schedule', 'failed', $1::timestamptz - interval '2 days', $1, 'import', 'TransientError', '{"error_rate": {"value": 7, "status": "error"}}')`,
			lastOK: false, errOK: false, lastIs: "failed (step import, TransientError)", errorIs: "above 5%"},
		{name: "succeeded with no source enabled",
			setup:  `INSERT INTO cycles (id, trigger, status, started_at, finished_at, step_results) VALUES ('a', 'schedule', 'succeeded', $1::timestamptz - interval '1 day', $1, '{"detect": {"candidate_count": 0, "warnings": ["no source enabled: scraping_ethics.json enables none"]}}')`,
			lastOK: true, errOK: true, lastIs: "last cycle a succeeded, started 1.0 days ago; warning: no source enabled: scraping_ethics.json enables none"},
		{name: "running",
			setup:  `INSERT INTO cycles (id, trigger, status, started_at, lease_expires_at) VALUES ('a', 'manual', 'running', $1::timestamptz - interval '10 minutes', $1::timestamptz + interval '1 hour')`,
			lastOK: true, errOK: true, lastIs: "cycle a running"},
		{name: "stuck",
			setup:  `INSERT INTO cycles (id, trigger, status, started_at, lease_expires_at) VALUES ('a', 'manual', 'running', $1::timestamptz - interval '3 hours', $1::timestamptz - interval '1 hour')`,
			lastOK: false, errOK: true, lastIs: "lease expired"},
		{name: "error rate from the newest cycle that has one",
			setup: `INSERT INTO cycles (id, trigger, status, started_at, kpis) VALUES
				('a', 'schedule', 'succeeded', $1::timestamptz - interval '8 days', '{"error_rate": {"value": 9}}'),
				('b', 'schedule', 'succeeded', $1::timestamptz - interval '1 days', '{"error_rate": {"value": null, "status": "unknown"}}')`,
			lastOK: true, errOK: false, errorIs: "9.00% in cycle a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			if tc.setup != "" {
				_, err := pool.Exec(context.Background(), tc.setup, now)
				require.NoError(t, err)
			}
			cfg := settings.Default()
			rep := health.Check(context.Background(), health.Inputs{Pool: pool, Config: cfg, Now: func() time.Time { return now },
				Only: []string{health.LastCycle, health.ErrorRate}})
			require.True(t, rep.DatabaseConnection)
			last, er := rep.Components[health.LastCycle], rep.Components[health.ErrorRate]
			require.Equal(t, tc.lastOK, last.Healthy, last.Detail)
			require.Equal(t, tc.errOK, er.Healthy, er.Detail)
			require.Contains(t, last.Detail, tc.lastIs)
			require.Contains(t, er.Detail, tc.errorIs)
			require.Equal(t, tc.lastOK && tc.errOK, rep.Healthy)
			require.NoError(t, pool.Ping(context.Background()), "a pool passed in stays open")
		})
	}
}

func TestEveryComponentIsReported(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	cfg, problems, err := settings.Check(context.Background(), nil)
	require.NoError(t, err)
	ethics, err := health.ReadEthics(context.Background(), nil)
	require.NoError(t, err)
	ethics = []byte(strings.Replace(string(ethics), `"http://127.0.0.1"`, `"http://`+refusedAddr(t)+`"`, 1))
	rep := health.Check(context.Background(), health.Inputs{Pool: pool, Config: cfg, Problems: problems, Ethics: ethics,
		Email: health.Outbox{Dir: filepath.Join(t.TempDir(), "outbox")}})
	require.True(t, rep.Healthy, "%+v", rep.Components)
	for _, n := range health.Names {
		require.Contains(t, rep.Components, n)
	}
	require.True(t, rep.Components[health.Upstream].Skipped)
}

func TestEmailUnhealthyAfterARefusedSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	in := health.Inputs{Pool: pool, Email: health.Outbox{Dir: t.TempDir()}, Only: []string{health.Email}}
	require.True(t, health.Check(ctx, in).Components[health.Email].Healthy)

	_, err := pool.Exec(ctx, `INSERT INTO notifications (kind, dedupe_key, recipients, subject, status, error, error_kind, failed_at)
		VALUES ('weekly_report', 'c1:weekly_report', '{ops@example.com}', 's', 'failed', 'MessageRejected: Email address is not verified', 'sandbox', now())`)
	require.NoError(t, err)
	rep := health.Check(ctx, in)
	c := rep.Components[health.Email]
	require.False(t, c.Healthy)
	require.Contains(t, c.Detail, "Email address is not verified")
	require.False(t, rep.Healthy)

	// A later successful send clears it.
	_, err = pool.Exec(ctx, `INSERT INTO notifications (kind, dedupe_key, recipients, subject, status, sent_at)
		VALUES ('weekly_report', 'c2:weekly_report', '{ops@example.com}', 's', 'sent', now() + interval '1 second')`)
	require.NoError(t, err)
	require.True(t, health.Check(ctx, in).Components[health.Email].Healthy)
}
