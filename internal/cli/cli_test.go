package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/mototest"
	"github.com/scentmatch/pipeline/internal/pglocal"
)

// TestMain stops the tests' moto server (started on first use) as well.
func TestMain(m *testing.M) { dbtest.Main(m, mototest.Stop) }

type result struct {
	code           int
	stdout, stderr string
}

// run executes the CLI in-process with exactly the given environment.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	code := c.Run(context.Background(), args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(s), &v), s)
	return v
}

type healthJSON struct {
	Healthy            bool `json:"healthy"`
	DatabaseConnection bool `json:"database_connection"`
	Components         map[string]struct {
		Healthy       bool     `json:"healthy"`
		LatencyMS     *float64 `json:"latency_ms"`
		ServerVersion string   `json:"server_version"`
		Detail        string   `json:"detail"`
	} `json:"components"`
}

func TestHealthOnMigratedDatabase(t *testing.T) {
	t.Parallel()
	r := run(t, map[string]string{"DATABASE_URL": dbtest.URL(t)}, "health", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr+r.stdout)
	h := decode[healthJSON](t, r.stdout)
	require.True(t, h.Healthy)
	require.True(t, h.DatabaseConnection)
	for _, name := range []string{"database", "migrations", "configuration"} {
		require.True(t, h.Components[name].Healthy, name)
	}
	require.NotNil(t, h.Components["database"].LatencyMS)
	require.Contains(t, h.Components["database"].Detail, "PostgreSQL")
	// The server's version as its own field, the same the server reports.
	var version string
	require.NoError(t, dbtest.Pool(t).QueryRow(context.Background(), "SHOW server_version").Scan(&version))
	require.Equal(t, version, h.Components["database"].ServerVersion)
	require.Contains(t, h.Components["database"].Detail, "PostgreSQL "+version)
}

func TestHealthReportsPendingMigrations(t *testing.T) {
	t.Parallel()
	r := run(t, map[string]string{"DATABASE_URL": dbtest.EmptyURL(t)}, "health", "--json")
	require.Equal(t, ExitFailure, r.code)
	h := decode[healthJSON](t, r.stdout)
	require.False(t, h.Healthy)
	require.True(t, h.DatabaseConnection)
	require.False(t, h.Components["migrations"].Healthy)
	require.Contains(t, h.Components["migrations"].Detail, "scentmatch db migrate")
}

func TestHealthUnreachableDatabaseAnswersQuickly(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never answers: the worst case.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); <-done; c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); close(done); conns.Wait() })

	url := "postgres://app:hunter2@" + l.Addr().String() + "/catalog"
	start := time.Now()
	r := run(t, map[string]string{"DATABASE_URL": url}, "health", "--json")
	elapsed := time.Since(start)
	require.Equal(t, ExitFailure, r.code)
	h := decode[healthJSON](t, r.stdout)
	require.False(t, h.DatabaseConnection)
	require.False(t, h.Components["database"].Healthy)
	require.Contains(t, h.Components["database"].Detail, "xxxxx")
	require.NotContains(t, r.stdout+r.stderr, "hunter2")
	// The contract is an answer within 5 seconds; allow scheduling noise.
	require.Less(t, elapsed, 8*time.Second)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "config", "validate")
	require.Equal(t, ExitOK, r.code, r.stdout)
	require.Contains(t, r.stdout, "Configuration is valid.")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scraping_ethics.json"), []byte(`{"sandbox": {"enabled": true, "kind": "sandbox", "base_url": "http://127.0.0.1",
  "user_agent": "bot (+mailto:a@b.c)", "respect_robots_txt": true, "terms_reviewed": true,
  "rate_limit": 60, "delay_ms": -100, "max_concurrency": 1, "max_retries": 3,
  "timeout_ms": 1000, "max_requests_per_cycle": 5, "colour": "red"}}`), 0o644))
	r = run(t, nil, "config", "validate", dir, "--json")
	require.Equal(t, ExitFailure, r.code)
	rep := decode[configReport](t, r.stdout)
	require.False(t, rep.Valid)
	require.Equal(t, 2, rep.Errors, r.stdout)
	paths := []string{}
	for _, p := range rep.Problems {
		paths = append(paths, p.Path+" "+p.Rule)
		require.Equal(t, filepath.Join(dir, "scraping_ethics.json"), p.File)
	}
	require.ElementsMatch(t, []string{"$.sandbox.colour unknown-key", "$.sandbox.delay_ms minimum"}, paths)

	// The human form names file, path and rule too.
	r = run(t, map[string]string{"SCENTMATCH_CONFIG_DIR": dir}, "config", "validate")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stdout, "scraping_ethics.json $.sandbox.delay_ms")
	require.Contains(t, r.stdout, "INVALID")

	// A directory that does not exist is bad input.
	r = run(t, nil, "config", "validate", filepath.Join(dir, "nope"))
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "nope")
}

func TestHealthRefusesBrokenConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "brand_priorities.json"), []byte(`{"brands": [{"name": "Dior", "priority": 9}]}`), 0o644))
	r := run(t, map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_CONFIG_DIR": dir}, "health", "--json")
	require.Equal(t, ExitFailure, r.code)
	h := decode[healthJSON](t, r.stdout)
	require.True(t, h.DatabaseConnection)
	require.False(t, h.Components["configuration"].Healthy)
	require.Contains(t, h.Components["configuration"].Detail, "$.brands[0].priority")
}

func TestMigrateAndStatus(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.EmptyURL(t)}
	r := run(t, env, "db", "status", "--json")
	require.Equal(t, ExitFailure, r.code, "pending migrations")
	st := decode[dbStatusReport](t, r.stdout)
	require.True(t, st.Reachable)
	require.Positive(t, st.Schema.Pending)
	require.Contains(t, st.URL, "xxxxx")

	r = run(t, env, "db", "migrate")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "00001_catalog.sql")
	require.Contains(t, r.stdout, "Schema migrated from version 0")

	r = run(t, env, "db", "migrate", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Empty(t, decode[struct {
		Applied []any `json:"applied"`
	}](t, r.stdout).Applied)

	r = run(t, env, "db", "status")
	require.Equal(t, ExitOK, r.code, r.stdout)
	require.Contains(t, r.stdout, "00002_vector_index.go")
	require.NotContains(t, r.stdout, "pending\n")
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"health", "--bogus"},
		{"nonsense"},
		{"--log-level", "loud", "version"},
		{"config", "validate", "a", "b"},
		{"db", "stop", "extra"},
	} {
		r := run(t, nil, args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
		require.NotEmpty(t, r.stderr)
	}
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	t.Parallel()
	c := &CLI{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	root := c.rootCommand(&globals{})
	walked := map[string]bool{}
	for _, cmd := range allCommands(root) {
		if cmd.Hidden {
			continue
		}
		walked[cmd.CommandPath()] = true
		require.NotEmpty(t, cmd.Short, cmd.CommandPath())
		require.NotEmpty(t, cmd.Example, "%s has no example", cmd.CommandPath())
	}
	// cobra's own commands are part of the tree walked, not left out.
	for _, p := range []string{"help", "completion", "completion bash", "completion fish", "completion powershell", "completion zsh"} {
		require.True(t, walked["scentmatch "+p], "scentmatch %s was not checked", p)
	}
	// And what --help prints shows it.
	r := run(t, nil, "completion", "bash", "--help")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "Examples:\n  source <(scentmatch completion bash)")
}

// TestRootHelpDescribesEveryCommand: the top-level --help names every
// command there is, so it describes the CLI as it is (it once said
// "as they land" of commands long landed).
func TestRootHelpDescribesEveryCommand(t *testing.T) {
	t.Parallel()
	c := &CLI{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	root := c.rootCommand(&globals{})
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(root.Long, func(r rune) bool { return !unicode.IsLetter(r) }) {
		words[w] = true
	}
	for _, cmd := range root.Commands() {
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" || cmd.Name() == "version" {
			continue
		}
		require.True(t, words[cmd.Name()], "scentmatch --help does not mention the %s command", cmd.Name())
	}
	require.NotContains(t, root.Long, "as they land")
}

// TestEmbeddedDatabaseLifecycle runs the commands with no DATABASE_URL, on
// an embedded cluster of the test's own home: concurrent starts reuse one
// server, stop stops it, and health starts it again.
func TestEmbeddedDatabaseLifecycle(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := map[string]string{"SCENTMATCH_HOME": home}
	t.Cleanup(func() {
		if c, err := pglocal.Open(home, nil); err == nil {
			_ = c.Destroy(context.Background())
		}
	})

	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = run(t, env, "db", "url") }()
	}
	wg.Wait()
	for _, r := range results {
		require.Equal(t, ExitOK, r.code, r.stderr)
		require.Equal(t, results[0].stdout, r.stdout, "concurrent callers share one cluster")
	}
	require.Contains(t, results[0].stdout, "postgres://scentmatch:")

	r := run(t, env, "db", "migrate")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "health", "--json")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)

	r = run(t, env, "db", "stop")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "stopped")
	cl, err := pglocal.Open(home, nil)
	require.NoError(t, err)
	require.False(t, cl.Running())

	r = run(t, env, "db", "status", "--json")
	require.Equal(t, ExitFailure, r.code)
	require.False(t, decode[dbStatusReport](t, r.stdout).Embedded.Running)

	r = run(t, env, "health")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.True(t, cl.Running(), "health starts the embedded database")
	r = run(t, env, "db", "stop")
	require.Equal(t, ExitOK, r.code)
	r = run(t, env, "db", "stop")
	require.Contains(t, r.stdout, "already stopped")

	r = run(t, env, "db", "stop", "--delete-data")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NoDirExists(t, cl.DataDir)
	require.NoDirExists(t, cl.SocketDir)
	r = run(t, env, "db", "stop")
	require.Contains(t, r.stdout, "nothing to stop")
}

func allCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		out = append(out, allCommands(c)...)
	}
	return out
}

// TestHelpExamplesNameWhatExists: examples that name a deployed schedule
// use the name template.yaml gives it, and detect's --source examples name
// a source the shipped scraping_ethics.json enables, so they run as shown.
func TestHelpExamplesNameWhatExists(t *testing.T) {
	t.Parallel()
	c := &CLI{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	root := c.rootCommand(&globals{})
	tpl, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	require.NoError(t, err)
	schedules := 0
	for _, cmd := range allCommands(root) {
		for _, m := range regexp.MustCompile(`SCHEDULE_NAME=scentmatch-prod-(\S+)`).FindAllStringSubmatch(cmd.Example, -1) {
			schedules++
			require.Contains(t, string(tpl), "Name: !Sub scentmatch-${Stage}-"+m[1]+"\n", "%s: no schedule scentmatch-<stage>-%s in template.yaml", cmd.CommandPath(), m[1])
		}
	}
	require.Positive(t, schedules)

	var ethics map[string]struct {
		Enabled bool `json:"enabled"`
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "scraping_ethics.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &ethics))
	detect, _, err := root.Find([]string{"detect"})
	require.NoError(t, err)
	sources := regexp.MustCompile(`--source (\S+)`).FindAllStringSubmatch(detect.Example, -1)
	require.NotEmpty(t, sources)
	for _, m := range sources {
		require.True(t, ethics[m[1]].Enabled, "detect --help: source %s is not enabled in config/scraping_ethics.json", m[1])
	}
}
