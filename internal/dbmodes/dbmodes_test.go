// Package dbmodes runs one operator walk-through, through the real CLI, in
// every way the pipeline can reach PostgreSQL: directly with each pgx
// execution mode, with the template's SCENTMATCH_DB_POOLING=transaction,
// and through PgBouncer in transaction mode (idle and busy). After each
// walk no advisory lock or temporary table is left and the tables hold
// what the direct walk left.
package dbmodes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cli"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type result struct {
	code           int
	stdout, stderr string
}

// walker drives the CLI in-process with exactly the given environment.
type walker struct {
	t   *testing.T
	env map[string]string
	pw  string // the password, which no output may contain
}

func (w *walker) run(args ...string) result {
	w.t.Helper()
	start := time.Now()
	var out, errOut bytes.Buffer
	c := &cli.CLI{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return w.env[k] }}
	code := c.Run(context.Background(), args)
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	w.t.Logf("%v: exit %d in %s", args, code, time.Since(start).Round(time.Millisecond))
	if w.pw != "" {
		require.NotContains(w.t, r.stdout+r.stderr, w.pw, "%v printed the password", args)
	}
	return r
}

func (w *walker) ok(args ...string) result {
	w.t.Helper()
	r := w.run(args...)
	require.Equal(w.t, cli.ExitOK, r.code, "%v\nstderr: %s\nstdout: %s", args, r.stderr, r.stdout)
	return r
}

func withParam(u, k, v string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

// walk is the operator's sequence: every query path of the CLI once.
func walk(t *testing.T, env map[string]string, directURL string) {
	w := &walker{t: t, env: env}
	if u, err := url.Parse(directURL); err == nil {
		w.pw, _ = u.User.Password()
	}
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	if env[postgres.EnvPooling] == string(postgres.PoolingTransaction) && env[postgres.EnvMigrationURL] != "" {
		// Through a pooler, migrations refuse to run without a direct URL.
		noDirect := &walker{t: t, env: map[string]string{}, pw: w.pw}
		for k, v := range env {
			if k != postgres.EnvMigrationURL {
				noDirect.env[k] = v
			}
		}
		r := noDirect.run("db", "migrate")
		require.Equal(t, cli.ExitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, postgres.EnvMigrationURL)
	}
	w.ok("db", "migrate")
	w.ok("config", "validate")
	w.ok("health", "--json")

	base := file("base.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Calvin Klein", "name": "Eternity", "gender": "women", "year": 1988, "accords": [{"name": "floral", "weight": 0.9}]}`,
		`{"source_id": "2", "brand": "Calvin Klein", "name": "Eternity", "gender": "men", "year": 1989}`,
		`{"source_id": "3", "brand": "Guerlain", "name": "Shalimar", "year": 1925, "notes_top": ["bergamot", "lemon"]}`,
		`{"source_id": "4", "brand": "Guerlain", "year": 1925}`,
	}, "\n"))
	w.ok("import", "--fragrances", base, "--source", "cat")
	incoming := file("in.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Calvin Klein", "name": "Eternity"}`,
		`{"source_id": "b", "brand": "Calvin Klein", "name": "ETERNITY", "concentration": "EDP"}`,
		`{"source_id": "c", "brand": "Guerlain", "name": "Shalimr", "votes": 5000, "rating": 4.1}`,
	}, "\n"))
	w.ok("import", "--fragrances", incoming, "--source", "shop")
	again := w.ok("import", "--fragrances", base, "--source", "cat", "--json")
	require.Regexp(t, `"inserted": 0`, again.stdout, "a second import changes nothing")

	var items []struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(w.ok("review", "list", "--json").stdout), &items))
	require.Len(t, items, 2)
	w.ok("review", "reject", strconv.FormatInt(items[0].ID, 10))
	w.ok("review", "accept", strconv.FormatInt(items[1].ID, 10))
	// Undo the newest merge (the one the accept just logged), then accept
	// nothing more: unmerge's writes are compared like every other path's.
	w.ok("review", "unmerge", strconv.FormatInt(newestMerge(t, directURL), 10))
	// A brand spelling no rule resolves, sharing names with a catalog
	// brand: a brand-alias proposal holds its records; accepting it stores
	// the alias and decides them again in one transaction.
	w.ok("import", "--fragrances", file("house.jsonl", strings.Join([]string{
		`{"source_id": "h1", "brand": "Maison Verlaine", "name": "Velvet Orchid Dream"}`,
		`{"source_id": "h2", "brand": "Maison Verlaine", "name": "Cedar Whisper"}`,
	}, "\n")), "--source", "cat")
	w.ok("import", "--fragrances", file("atelier.jsonl", strings.Join([]string{
		`{"source_id": "v1", "brand": "Verlaine Atelier", "name": "Velvet Orchid Dream"}`,
		`{"source_id": "v2", "brand": "Verlaine Atelier", "name": "Cedar Whisper"}`,
		`{"source_id": "v3", "brand": "Verlaine Atelier", "name": "Brand New Thing"}`,
	}, "\n")), "--source", "shop")
	var open []struct {
		ID   int64  `json:"id"`
		Kind string `json:"kind"`
	}
	require.NoError(t, json.Unmarshal([]byte(w.ok("review", "list", "--json").stdout), &open))
	require.Len(t, open, 4, "the proposal and the three records it holds")
	require.Equal(t, "brand-alias", open[0].Kind)
	w.ok("review", "show", strconv.FormatInt(open[0].ID, 10), "--json")
	accepted := w.ok("review", "accept", strconv.FormatInt(open[0].ID, 10), "--json")
	require.Contains(t, accepted.stdout, `"duplicate": 2`)
	w.ok("quarantine", "list", "--json")
	w.ok("quarantine", "replay", "--json")
	w.ok("embeddings", "regenerate", "--all")
	w.ok("embeddings", "status", "--json")

	w.ok("cycle", "--max-fragrances", "3", "--name", "manual-20261129T0900", "--log-level", "warn")
	w.ok("status", "--json")
	w.ok("notify", "--cycle", "manual-20261129T0900")
	w.ok("maintain", "--json")
	w.ok("metrics", "--json")
	w.ok("stop", "--reason", "modes walk", "--json")
	w.ok("start")
	w.ok("stop", "--reason", "kept through the restore")

	bak := filepath.Join(dir, "backup")
	w.ok("backup", "--to", bak, "--json")
	w.ok("verify")
	w.ok("restore", "--from", bak, "--force")
	w.ok("verify")
	w.ok("start")
	w.ok("health", "--json")
}

// newestMerge returns the id of the newest merge_log row.
func newestMerge(t *testing.T, directURL string) int64 {
	ctx := context.Background()
	pool, err := postgres.Connect(ctx, directURL, postgres.PoolOptions{MaxConns: 1})
	require.NoError(t, err)
	defer pool.Close()
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM merge_log ORDER BY id DESC LIMIT 1`).Scan(&id), "the accepted review left a merge_log row")
	return id
}

// snapshot is what the walk leaves in the tables, without the values that
// differ from run to run (ids, times, durations).
func snapshot(t *testing.T, ctx context.Context, directURL string) map[string][]string {
	pool, err := postgres.Connect(ctx, directURL, postgres.PoolOptions{MaxConns: 1})
	require.NoError(t, err)
	defer pool.Close()
	queries := map[string]string{
		"fragrances":        `SELECT b.name || '|' || f.name || '|' || coalesce(f.concentration, '') || '|' || coalesce(f.gender, '') || '|' || coalesce(f.votes::text, '') || '|' || f.accords::text || '|' || array_to_string(f.notes_top, ',') FROM fragrances f JOIN brands b ON b.id = f.brand_id`,
		"source_identities": `SELECT s.source || '|' || s.source_id || '|' || f.name FROM source_identities s JOIN fragrances f ON f.id = s.fragrance_id`,
		"review_queue":      `SELECT status || '|' || (candidate->>'name') || '|' || reasons::text FROM review_queue`,
		"quarantine":        `SELECT status || '|' || rule || '|' || coalesce(source_id, '') || '|' || coalesce(record::text, '') FROM quarantined_records`,
		"notifications":     `SELECT kind || '|' || coalesce(cycle_id, '') FROM notifications`,
		"embeddings":        `SELECT count(*)::text FROM embeddings`,
		"merge_log":         `SELECT coalesce(merged_source, '') || '|' || coalesce(merged_source_id, '') || '|' || (merged_record->>'name') FROM merge_log`,
		"import_runs":       `SELECT status || '|' || counts::text FROM import_runs`,
		"cycles":            `SELECT id || '|' || status || '|' || (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(step_results) k) || '|' || (kpis IS NOT NULL)::text FROM cycles`,
		"pipeline_settings": `SELECT key || '|' || (value ?| ARRAY['reason'])::text FROM pipeline_settings`,
		"crawl_cache":       `SELECT source || '|' || url FROM crawl_cache`,
	}
	out := map[string][]string{}
	for name, q := range queries {
		rows, err := pool.Query(ctx, q+` ORDER BY 1`)
		require.NoError(t, err, name)
		for rows.Next() {
			var s *string
			require.NoError(t, rows.Scan(&s), name)
			if s != nil {
				out[name] = append(out[name], *s)
			} else {
				out[name] = append(out[name], "<null>")
			}
		}
		require.NoError(t, rows.Err(), name)
	}
	return out
}

// checkClean fails when the walk left session state on the server: an
// advisory lock or a temporary table of any session.
func checkClean(t *testing.T, ctx context.Context, directURL string) {
	pool, err := postgres.Connect(ctx, directURL, postgres.PoolOptions{MaxConns: 1})
	require.NoError(t, err)
	defer pool.Close()
	var locks, temps int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()`).Scan(&locks))
	require.Zero(t, locks, "an advisory lock is still held")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relpersistence = 't'`).Scan(&temps))
	require.Zero(t, temps, "a temporary table is left")
}

// mode is one way of reaching the database.
type mode struct {
	name string
	// via, when set, reaches the database through PgBouncer.
	via dbtest.Via
	// env returns the environment of the walk, given a fresh database.
	env func(t *testing.T, ctx context.Context, directURL string) map[string]string
}

func baseEnv(t *testing.T, databaseURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":    databaseURL,
		"SCENTMATCH_HOME": t.TempDir(),
	}
}

func execMode(m string) mode {
	return mode{name: "direct-" + m, env: func(t *testing.T, _ context.Context, u string) map[string]string {
		return baseEnv(t, withParam(u, "default_query_exec_mode", m))
	}}
}

// TestEveryQueryPathInEveryMode walks the CLI in each mode on a database of
// its own and compares what each walk leaves with the direct walk.
func TestEveryQueryPathInEveryMode(t *testing.T) {
	ctx := context.Background()
	direct := mode{name: "direct", env: func(t *testing.T, _ context.Context, u string) map[string]string { return baseEnv(t, u) }}
	modes := []mode{
		execMode("cache_describe"),
		execMode("describe_exec"),
		execMode("exec"),
		execMode("simple_protocol"),
		{name: "direct-template-pooling", env: func(t *testing.T, _ context.Context, u string) map[string]string {
			env := baseEnv(t, u)
			env[postgres.EnvPooling] = string(postgres.PoolingTransaction)
			env[postgres.EnvMigrationURL] = u
			return env
		}},
	}
	modes = append(modes, pooledModes()...)

	var want map[string][]string
	t.Run(direct.name, func(t *testing.T) {
		u := dbtest.URL(t)
		walk(t, direct.env(t, ctx, u), u)
		checkClean(t, ctx, u)
		want = snapshot(t, ctx, u)
	})
	require.NotNil(t, want, "the direct walk failed")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			var env map[string]string
			u := ""
			if m.via != "" {
				var pooled string
				pooled, u = dbtest.URLVia(t, m.via)
				env = baseEnv(t, pooled)
				env[postgres.EnvPooling] = string(postgres.PoolingTransaction)
				env[postgres.EnvMigrationURL] = u
			} else {
				u = dbtest.URL(t)
				env = m.env(t, ctx, u)
			}
			walk(t, env, u)
			checkClean(t, ctx, u)
			got := snapshot(t, ctx, u)
			for table, rows := range want {
				require.Equal(t, rows, got[table], fmt.Sprintf("%s after the %s walk", table, m.name))
			}
		})
	}
}

// pooledModes are the modes through PgBouncer in transaction mode, as
// deployed: the main URL through the pooler with the template's pooling
// variable, migrations over the direct URL.
func pooledModes() []mode {
	var out []mode
	for _, via := range []dbtest.Via{dbtest.PgBouncer, dbtest.PgBouncerBusy} {
		out = append(out, mode{name: string(via), via: via})
	}
	return out
}
