package cli

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// readOutbox parses every .eml in the home's outbox with net/mail and
// returns subject -> the content types of its parts.
func readOutbox(t *testing.T, home string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(home, "outbox", "*.eml"))
	require.NoError(t, err)
	out := map[string][]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		require.NoError(t, err)
		msg, err := mail.ReadMessage(fh)
		require.NoError(t, err, f)
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		require.NoError(t, err)
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		require.NoError(t, err)
		mr := multipart.NewReader(msg.Body, params["boundary"])
		var types []string
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			require.NoError(t, err)
			body, err := io.ReadAll(p)
			require.NoError(t, err)
			require.NotEmpty(t, body)
			types = append(types, ct)
		}
		fh.Close()
		out[subject] = types
	}
	return out
}

func TestNotifyTestLeavesFiveParseableMessages(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := map[string]string{"SCENTMATCH_HOME": home}
	r := run(t, env, "notify", "--test")
	require.Equal(t, ExitOK, r.code, r.stderr)
	msgs := readOutbox(t, home)
	require.Len(t, msgs, 5)
	for subject, parts := range msgs {
		require.True(t, strings.HasPrefix(subject, "[TEST] ScentMatch"), subject)
		require.Equal(t, []string{"text/plain", "text/html"}, parts, subject)
	}
	require.Contains(t, r.stdout, "5 test message(s) via outbox, 0 failed.")
	require.Contains(t, r.stdout, filepath.Join(home, "outbox"), "the outbox paths are printed")

	// One type, another recipient, JSON.
	home2 := t.TempDir()
	r = run(t, map[string]string{"SCENTMATCH_HOME": home2}, "notify", "--test", "--type", "error", "--to", "me@example.com", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	res := decode[struct {
		Via      string               `json:"via"`
		Messages []notify.TestOutcome `json:"messages"`
	}](t, r.stdout)
	require.Equal(t, "outbox", res.Via)
	require.Len(t, res.Messages, 1)
	require.Equal(t, []string{"me@example.com"}, res.Messages[0].Recipients)
	require.FileExists(t, res.Messages[0].MessageID)
	require.Len(t, readOutbox(t, home2), 1)

	for _, args := range [][]string{
		{"notify"},
		{"notify", "--test", "--type", "sms"},
		{"notify", "--test", "--to", "not an address"},
		{"notify", "--test", "--cycle", "x"},
		{"notify", "--cycle", "x", "--type", "error"},
	} {
		r := run(t, env, args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
	}
	r = run(t, map[string]string{"SCENTMATCH_HOME": home, "SCENTMATCH_EMAIL": "pigeon"}, "notify", "--test")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `SCENTMATCH_EMAIL="pigeon": use ses or outbox`)
}

func TestNotifyTestWithoutRecipientsWarns(t *testing.T) {
	t.Parallel()
	home, dir := t.TempDir(), t.TempDir()
	data, err := os.ReadFile("../../config/monitoring_config.json")
	require.NoError(t, err)
	cfg := strings.Replace(string(data), `"new_fragrance": ["catalog@scentmatch.local"]`, `"new_fragrance": []`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "monitoring_config.json"), []byte(cfg), 0o644))
	r := run(t, map[string]string{"SCENTMATCH_HOME": home, "SCENTMATCH_CONFIG_DIR": dir}, "notify", "--test", "--type", "new_fragrance")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "skipped  new_fragrance  no recipients ($.notifications.recipients.new_fragrance is empty; --to sends anyway)")
	require.Contains(t, r.stderr, "configuration warning")
	require.Empty(t, readOutbox(t, home))
}

func TestNotifyCycleSendsTheErrorAlertOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	home := t.TempDir()
	env := map[string]string{"DATABASE_URL": url, "SCENTMATCH_HOME": home}
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	_, err = pool.Exec(ctx, `INSERT INTO cycles (id, trigger, status, started_at, finished_at, step_results, failed_step, error_type, error_message)
		VALUES ('schedule-20261129T0200', 'schedule', 'failed', $1, $2, '{"detect": {"candidate_count": 3}}', 'import', 'TransientError',
		'importing batch 2: connecting to the database: dial tcp 10.0.0.5:5432: i/o timeout')`, start, start.Add(20*time.Minute))
	require.NoError(t, err)

	r := run(t, env, "notify", "--cycle", "schedule-20261129T0200")
	require.Equal(t, ExitOK, r.code, r.stderr)
	msgs := readOutbox(t, home)
	require.Len(t, msgs, 1)
	require.Contains(t, msgs, "ScentMatch ERROR: cycle schedule-20261129T0200 failed at import (TransientError)")
	require.Contains(t, r.stdout, "Cycle schedule-20261129T0200 (failed): 1 message(s) sent via outbox, 0 already sent, 4 skipped, 0 failed.")
	require.Contains(t, r.stdout, filepath.Join(home, "outbox"))

	r = run(t, env, "notify", "--cycle", "schedule-20261129T0200")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Len(t, readOutbox(t, home), 1, "the second call sends nothing")
	require.Contains(t, r.stdout, "already sent")
	require.Contains(t, r.stdout, "0 message(s) sent via outbox, 1 already sent")

	r = run(t, env, "notify", "--cycle", "schedule-20261129T0200", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	res := decode[notify.Result](t, r.stdout)
	require.Len(t, res.Sent, 1)
	require.True(t, res.Sent[0].AlreadySent)

	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE cycle_id = 'schedule-20261129T0200' AND kind = 'error' AND status = 'sent'`).Scan(&n))
	require.Equal(t, 1, n)

	r = run(t, env, "notify", "--cycle", "schedule-20990101T0000")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `no cycle "schedule-20990101T0000"`)

	_, err = pool.Exec(ctx, `INSERT INTO cycles (id, trigger, status) VALUES ('manual-20261130T1000', 'manual', 'running')`)
	require.NoError(t, err)
	r = run(t, env, "notify", "--cycle", "manual-20261130T1000")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stderr, "still running")
}
