package maintain_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/maintain"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var now = time.Date(2026, 11, 29, 2, 30, 0, 0, time.UTC)

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n), sql)
	return n
}

// fixture holds, per retention rule, rows on both sides of the line (the
// default retention: 365 days of observations and notifications, 90 of
// resolved quarantine and reviews) and four cycles with cycles_keep 2,
// the oldest still running; three fragrances wait for a vector.
func fixture(t *testing.T) (*pgxpool.Pool, *maintain.Maintainer) {
	t.Helper()
	pool := dbtest.Pool(t)
	cfg := settings.Default()
	cfg.Monitoring.Retention.CyclesKeep = 2
	exec(t, pool, `INSERT INTO cycles (id, trigger, status, started_at) VALUES
		('c1', 'schedule', 'running', $1::timestamptz - interval '30 days'),
		('c2', 'schedule', 'failed', $1::timestamptz - interval '21 days'),
		('c3', 'schedule', 'succeeded', $1::timestamptz - interval '14 days'),
		('c4', 'manual', 'succeeded', $1::timestamptz - interval '7 days')`, now)
	exec(t, pool, `INSERT INTO source_observations (source, source_id, observed_at, cycle_id) VALUES
		('s', 'a', $1::timestamptz - interval '400 days', 'c2'), ('s', 'a', $1::timestamptz - interval '366 days', NULL),
		('s', 'a', $1::timestamptz - interval '300 days', NULL)`, now)
	exec(t, pool, `INSERT INTO import_runs (kind) VALUES ('manual')`)
	exec(t, pool, `INSERT INTO quarantined_records (import_run_id, record_index, rule, reason, status, created_at, resolved_at)
		SELECT (SELECT id FROM import_runs), i, 'r', 'x', s, $1::timestamptz - interval '200 days', $1::timestamptz - (d || ' days')::interval
		FROM (VALUES (1, 'replayed', 100), (2, 'discarded', 91), (3, 'discarded', 10), (4, 'open', 200)) v(i, s, d)`, now)
	exec(t, pool, `INSERT INTO brands (name, match_key) VALUES ('Acme', 'acme')`)
	exec(t, pool, `INSERT INTO fragrances (brand_id, name, match_key, notes_top, content_hash)
		SELECT (SELECT id FROM brands), 'F' || i, 'f' || i, '{bergamot}', 'h' || i FROM generate_series(1, 3) i`)
	exec(t, pool, `INSERT INTO review_queue (fragrance_id, candidate, score, status, created_at, resolved_at)
		SELECT (SELECT min(id) FROM fragrances), '{}', 0.85, s, $1::timestamptz - interval '200 days', $1::timestamptz - (d || ' days')::interval
		FROM (VALUES ('accepted', 120), ('rejected', 30), ('open', 0)) v(s, d)`, now)
	exec(t, pool, `INSERT INTO notifications (kind, dedupe_key, recipients, subject, status, created_at) VALUES
		('weekly_report', 'k1', '{a@b.c}', 's', 'sent', $1::timestamptz - interval '400 days'),
		('error', 'k2', '{a@b.c}', 's', 'pending', $1::timestamptz - interval '400 days'),
		('weekly_report', 'k3', '{a@b.c}', 's', 'sent', $1::timestamptz - interval '10 days')`, now)
	exec(t, pool, `INSERT INTO crawl_cache (source, url, payload, fetched_at, validated_at) VALUES
		('sandbox', '/api/v1/fragrances?page=1', '[]', $1::timestamptz - interval '60 days', $1::timestamptz - interval '31 days'),
		('sandbox', '/api/v1/fragrances?page=2', '[]', $1::timestamptz - interval '60 days', $1::timestamptz - interval '2 days')`, now)
	return pool, &maintain.Maintainer{Pool: pool, Config: cfg, Now: func() time.Time { return now }}
}

var wantPurged = map[string]int64{
	"source_observations": 2, // 400 and 366 days old
	"quarantined_records": 2, // resolved 100 and 91 days ago
	"review_queue":        1, // resolved 120 days ago
	"notifications":       1, // sent 400 days ago; the pending one stays
	"cycles":              1, // c2: beyond the newest two, not running
	"crawl_cache":         1, // validators last confirmed 31 days ago
}

func TestDryRunCountsAndChangesNothing(t *testing.T) {
	t.Parallel()
	pool, m := fixture(t)
	res, err := m.Run(context.Background(), maintain.Options{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, wantPurged, res.Purged)
	require.Empty(t, res.Vacuumed)
	require.Equal(t, "dry run", res.EmbeddingSkipped)
	require.Equal(t, int64(3), res.PendingEmbeddings)
	require.Equal(t, int64(4), count(t, pool, `SELECT count(*) FROM cycles`))
	require.Equal(t, int64(3), count(t, pool, `SELECT count(*) FROM source_observations`))
	require.Equal(t, int64(0), count(t, pool, `SELECT count(*) FROM embeddings`))
}

func TestRunPurgesBackfillsAndVacuums(t *testing.T) {
	t.Parallel()
	pool, m := fixture(t)
	res, err := m.Run(context.Background(), maintain.Options{BackfillBudget: time.Minute})
	require.NoError(t, err)
	require.Equal(t, wantPurged, res.Purged)
	require.Equal(t, []string{"c1", "c3", "c4"}, ids(t, pool, `SELECT id FROM cycles ORDER BY id`))
	require.Equal(t, int64(1), count(t, pool, `SELECT count(*) FROM source_observations`))
	require.Equal(t, int64(2), count(t, pool, `SELECT count(*) FROM quarantined_records`))
	require.Equal(t, int64(2), count(t, pool, `SELECT count(*) FROM review_queue`))
	require.Equal(t, int64(2), count(t, pool, `SELECT count(*) FROM notifications`))

	require.Equal(t, 3, res.EmbeddingsBackfilled)
	require.NotNil(t, res.Embedding)
	require.Equal(t, int64(0), res.PendingEmbeddings)
	require.Equal(t, int64(3), count(t, pool, `SELECT count(*) FROM embeddings`))

	require.Contains(t, res.Vacuumed, "fragrances")
	require.Contains(t, res.Vacuumed, "cycles")
	require.Equal(t, int64(0), count(t, pool, `SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('fragrances', 'cycles') AND last_vacuum IS NULL`))
	for _, s := range []maintain.Sizes{res.Before, res.After} {
		require.Positive(t, s.DatabaseBytes)
		var names []string
		for _, tbl := range s.Tables {
			names = append(names, tbl.Table)
		}
		require.Contains(t, names, "embeddings")
	}
	for _, part := range []string{"sizes_before", "purge", "backfill", "vacuum", "sizes_after", "total"} {
		require.Contains(t, res.Seconds, part)
	}
	require.Positive(t, res.MaxRSSMB)

	// A second run finds nothing more to purge or embed.
	res, err = m.Run(context.Background(), maintain.Options{})
	require.NoError(t, err)
	for table, n := range res.Purged {
		require.Zero(t, n, table)
	}
	require.Zero(t, res.EmbeddingsBackfilled)
}

func TestNoBackfillWithANegativeBudget(t *testing.T) {
	t.Parallel()
	_, m := fixture(t)
	res, err := m.Run(context.Background(), maintain.Options{BackfillBudget: -1})
	require.NoError(t, err)
	require.Equal(t, "no backfill budget", res.EmbeddingSkipped)
	require.Equal(t, int64(3), res.PendingEmbeddings)
}

func TestMaintainStepStoresItsResultOnce(t *testing.T) {
	t.Parallel()
	pool, m := fixture(t)
	step := &maintain.Step{Maintainer: m, BackfillBudget: time.Minute}
	h := lambda.NewHandler(step.Handle)
	payload := []byte(`{"cycle_id": "c1", "trigger": "schedule", "max_fragrances": 20, "results": {"detect": {"candidate_count": 0}}}`)
	out, err := h.Invoke(context.Background(), payload)
	require.NoError(t, err)
	var res maintain.Result
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, wantPurged, res.Purged)
	var stored []byte
	var timing map[string]any
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT step_results -> 'maintain', step_timings -> 'maintain' FROM cycles WHERE id = 'c1'`).Scan(&stored, &timing))
	require.JSONEq(t, string(out), string(stored))
	require.Contains(t, timing, "seconds")

	// Rerun: the stored result, nothing purged again.
	exec(t, pool, `INSERT INTO source_observations (source, source_id, observed_at) VALUES ('s', 'z', $1::timestamptz - interval '999 days')`, now)
	out2, err := h.Invoke(context.Background(), payload)
	require.NoError(t, err)
	require.JSONEq(t, string(out), string(out2))
	require.Equal(t, int64(2), count(t, pool, `SELECT count(*) FROM source_observations`))

	// A cycle that ended without a maintain result is bad input, by type name.
	_, err = step.Handle(context.Background(), cycle.State{CycleID: "c4"})
	var bad *cycle.BadInputError
	require.True(t, errors.As(err, &bad), "%T %v", err, err)
}

func ids(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestSampleEvent(t *testing.T) {
	t.Parallel()
	pool, m := fixture(t)
	// The running c1 ends; the event's cycle begins with the step.
	exec(t, pool, `UPDATE cycles SET status = 'succeeded', finished_at = $1 WHERE id = 'c1'`, now)
	payload, err := os.ReadFile("../../events/maintain.json")
	require.NoError(t, err)
	h := &maintain.Handler{Step: func(context.Context) (*maintain.Step, error) { return &maintain.Step{Maintainer: m}, nil }}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	require.NoError(t, err)
	var res maintain.Result
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, 3, res.EmbeddingsBackfilled)
}
