package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// secretRole creates a login role with a password of its own on the shared
// test server, gives it a new migrated database (it owns the schema's
// tables, as an application role owns its catalog), and returns the URL it
// connects with. The role is dropped after the database.
func secretRole(t *testing.T, password string) string {
	t.Helper()
	ctx := context.Background()
	admin := dbtest.AdminURL(t)
	role := "sec_" + randomHex(t, 6)
	run := func(connURL string, stmts ...string) {
		t.Helper()
		conn, err := postgres.ConnectOne(ctx, connURL, postgres.PoolOptions{})
		require.NoError(t, err)
		defer conn.Close(ctx)
		for _, s := range stmts {
			_, err := conn.Exec(ctx, s)
			require.NoError(t, err, s)
		}
	}
	quoted := func(connURL, format string, args ...any) string {
		t.Helper()
		conn, err := postgres.ConnectOne(ctx, connURL, postgres.PoolOptions{})
		require.NoError(t, err)
		defer conn.Close(ctx)
		var s string
		require.NoError(t, conn.QueryRow(ctx, "SELECT format($1::text, VARIADIC $2::text[])", format, args).Scan(&s))
		return s
	}
	run(admin, quoted(admin, "CREATE ROLE %I LOGIN PASSWORD %L", role, password))
	t.Cleanup(func() {
		conn, err := postgres.ConnectOne(context.Background(), admin, postgres.PoolOptions{})
		if err != nil {
			t.Logf("dropping role %s: %v", role, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Logf("dropping role %s: %v", role, err)
		}
	})
	dbURL := dbtest.URL(t) // dropped before the role (cleanups run last first)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	db := strings.TrimPrefix(u.Path, "/")

	// The role owns the database, its schema and every relation in it
	// (sequences of identity columns follow their table; a standalone one,
	// such as catalog_changes, is handed over by itself).
	conn, err := postgres.ConnectOne(ctx, dbURL, postgres.PoolOptions{})
	require.NoError(t, err)
	rows, err := conn.Query(ctx, `SELECT format('ALTER TABLE public.%I OWNER TO %I', c.relname, $1::text)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND (c.relkind IN ('r', 'p', 'v', 'm')
			OR (c.relkind = 'S' AND NOT EXISTS (SELECT 1 FROM pg_depend d
				WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))))`, role)
	require.NoError(t, err)
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	conn.Close(ctx)
	stmts = append(stmts, quoted(admin, "ALTER DATABASE %I OWNER TO %I", db, role), quoted(admin, "ALTER SCHEMA public OWNER TO %I", role))
	run(dbURL, stmts...)

	u.User = url.UserPassword(role, password)
	return u.String()
}

// fakeSecretsManager answers GetSecretValue for one ARN, as the real
// service does.
func fakeSecretsManager(t *testing.T, arn, value string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct{ SecretId string }
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretId != arn {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "scentmatch/db", "SecretString": value})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// leakScanner collects every piece of text the runs produce and looks for
// the secrets in each, in every spelling they could take.
type leakScanner struct {
	mu      sync.Mutex
	secrets map[string]string // spelling -> which secret
	scanned map[string]int    // what -> bytes
}

func newLeakScanner(secrets map[string]string) *leakScanner {
	s := &leakScanner{secrets: map[string]string{}, scanned: map[string]int{}}
	for name, v := range secrets {
		j, _ := json.Marshal(v)
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), string(j[1 : len(j)-1]), strings.ToLower(v)} {
			s.secrets[form] = name
		}
	}
	return s
}

func (s *leakScanner) check(t *testing.T, what, text string) {
	t.Helper()
	s.mu.Lock()
	s.scanned[what] += len(text)
	s.mu.Unlock()
	for form, name := range s.secrets {
		if i := strings.Index(text, form); i >= 0 {
			lo, hi := max(i-120, 0), min(i+len(form)+40, len(text))
			t.Errorf("%s holds the %s: ...%s...", what, name, text[lo:hi])
		}
	}
}

func (s *leakScanner) run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := run(t, env, args...)
	what := "scentmatch " + strings.Join(args, " ")
	s.check(t, what+" (stdout)", r.stdout)
	s.check(t, what+" (stderr)", r.stderr)
	return r
}

// files scans every file under dir (outbox e-mails, EMF lines, the local
// bucket, backups).
func (s *leakScanner) files(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, path)
		s.check(t, "file "+rel, string(b))
		return nil
	}))
}

// database scans every row of every table of the public schema, as text.
func (s *leakScanner) database(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	conn, err := postgres.ConnectOne(ctx, dbURL, postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "cycles")
	for _, table := range tables {
		var text string
		require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+pgx.Identifier{"public", table}.Sanitize()+` t`).Scan(&text))
		s.check(t, "table "+table, text)
	}
}

// TestNoSecretInAnythingPrintedOrLogged runs a full cycle and a failed one
// (debug logs on), then the commands an operator reaches for, with a
// database password, AWS keys and a Secrets Manager secret that are each
// unique, and scans for them everything the runs left: stdout, stderr
// (the logs), the outbox e-mails, the EMF lines, the local bucket, a
// backup, and every row of every table (the cycle rows, their step
// results and errors, the notifications). Wrong passwords must not be
// echoed in error messages either. Only `db url` prints the password, on
// purpose (for psql); `db url --masked` does not.
func TestNoSecretInAnythingPrintedOrLogged(t *testing.T) {
	t.Parallel()
	password := "S3cr3t-pw-" + randomHex(t, 8)
	wrong := "Wr0ng-pw-" + randomHex(t, 8)
	awsSecret := "wJalrXUtnFEMI/K7MDENG/" + randomHex(t, 10)
	awsToken := "FwoGZXIvYXdzEtoken" + randomHex(t, 16)
	dbURL := secretRole(t, password)
	admin, err := url.Parse(dbtest.AdminURL(t))
	require.NoError(t, err)
	adminPassword, _ := admin.User.Password()

	secrets := map[string]string{"database password": password, "wrong password": wrong,
		"AWS secret access key": awsSecret, "AWS session token": awsToken}
	if adminPassword != "" {
		secrets["test server's superuser password"] = adminPassword
	}
	scan := newLeakScanner(secrets)

	home := t.TempDir()
	env := map[string]string{
		"DATABASE_URL": dbURL, "SCENTMATCH_HOME": home,
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLESECURITY", "AWS_SECRET_ACCESS_KEY": awsSecret, "AWS_SESSION_TOKEN": awsToken,
	}

	// 1. A full cycle, debug logs, then what an operator looks at.
	r := scan.run(t, env, "cycle", "--max-fragrances", "3", "--name", "manual-20261129T0900", "--debug", "--log-format", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, `"level":"DEBUG"`, "debug logs were on")
	require.Equal(t, "succeeded", decode[struct {
		Outcome string `json:"outcome"`
	}](t, r.stdout).Outcome)
	for _, args := range [][]string{
		{"status", "--json"}, {"health", "--json"}, {"health"}, {"db", "status", "--json"}, {"db", "status"},
		{"metrics", "--json"}, {"backup", "--to", filepath.Join(home, "backups", "b1"), "--log-level", "debug"},
		{"invoke", "status", "-e", "../../events/status-month-health.json", "--log-level", "debug"},
	} {
		r := scan.run(t, env, args...)
		require.NotEqual(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
	}

	// 2. A failed cycle, its database URL from Secrets Manager: the only
	// source is a snapshot directory with no files, so Detect fails and
	// the Catch path records the failure and sends the error alert.
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:scentmatch/db-AbCdEf"
	cfgDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "scraping_ethics.json"),
		[]byte(`{"files": {"enabled": true, "kind": "snapshot", "snapshot_dir": "`+t.TempDir()+`"}}`), 0o644))
	failEnv := map[string]string{
		"DATABASE_SECRET_ARN": arn, "AWS_ENDPOINT_URL": fakeSecretsManager(t, arn, dbURL), "SCENTMATCH_CONFIG_DIR": cfgDir,
	}
	for k, v := range env {
		if k != "DATABASE_URL" {
			failEnv[k] = v
		}
	}
	r = scan.run(t, failEnv, "cycle", "--name", "manual-20261129T1000", "--debug", "--log-format", "json")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	failed := decode[struct {
		Outcome    string `json:"outcome"`
		FailedStep string `json:"failed_step"`
		Error      string `json:"error"`
		Messages   []struct {
			Kind string `json:"kind"`
		} `json:"messages"`
	}](t, r.stdout)
	require.Equal(t, "failed", failed.Outcome)
	require.Equal(t, "detect", failed.FailedStep)
	require.Equal(t, "BadInputError", failed.Error)
	require.NotEmpty(t, failed.Messages, "the error alert went out")
	require.Equal(t, "error", failed.Messages[0].Kind)
	r = scan.run(t, failEnv, "status", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"failed"`, "status shows the failed cycle")

	// 3. Wrong passwords: every command that connects fails and says why
	// without echoing the password.
	bad, err := url.Parse(dbURL)
	require.NoError(t, err)
	bad.User = url.UserPassword(bad.User.Username(), wrong)
	badEnv := map[string]string{"DATABASE_URL": bad.String(), "SCENTMATCH_HOME": t.TempDir(), "AWS_SECRET_ACCESS_KEY": awsSecret}
	for _, args := range [][]string{
		{"cycle", "--max-fragrances", "1", "--debug"}, {"health", "--json"}, {"health"}, {"db", "status", "--json"},
		{"db", "migrate"}, {"status", "--json"}, {"import", "--fragrances", "../../events/detect.json"},
		{"backup", "--to", t.TempDir()},
	} {
		r := scan.run(t, badEnv, args...)
		require.NotEqual(t, ExitOK, r.code, "%v connected with a wrong password", args)
		require.Contains(t, r.stdout+r.stderr, "password authentication failed", "%v says why", args)
	}

	// 4. `db url` prints the URL for psql, password included, on purpose;
	// --masked and everything on stderr do not.
	r = run(t, env, "db", "url")
	require.Equal(t, ExitOK, r.code)
	require.Equal(t, dbURL+"\n", r.stdout)
	scan.check(t, "scentmatch db url (stderr)", r.stderr)
	r = scan.run(t, env, "db", "url", "--masked")
	require.Equal(t, ExitOK, r.code)
	require.Contains(t, r.stdout, "xxxxx")

	// 5. What the runs left behind.
	scan.files(t, home)
	scan.database(t, dbURL)
	for _, want := range []string{"outbox", "metrics", "backups", "bucket"} {
		entries, err := os.ReadDir(filepath.Join(home, want))
		require.NoError(t, err, "the runs wrote %s", want)
		require.NotEmpty(t, entries, want)
	}
	scan.mu.Lock()
	defer scan.mu.Unlock()
	for _, what := range []string{"table cycles", "table notifications", "file metrics/emf.jsonl"} {
		require.Positive(t, scan.scanned[what], "%s was scanned and not empty", what)
	}
	total := 0
	for _, n := range scan.scanned {
		total += n
	}
	t.Logf("scanned %d bytes in %d outputs, files and tables for %d secrets", total, len(scan.scanned), len(secrets))
}

// TestPasswordWithURLSyntaxIsMasked gives a role a base64-like password
// holding every character that ends or splits a part of a URL ('/', '+',
// '=', '@', ':', '%', a space) and runs `db status` and `import` with it in
// each form an operator may write: percent-encoded, not encoded at all,
// keyword/value and ?password=. The password and each of its pieces
// between those characters must appear nowhere in stdout or stderr.
func TestPasswordWithURLSyntaxIsMasked(t *testing.T) {
	t.Parallel()
	var parts []string
	for _, p := range []string{"Pq", "Rs", "Tu", "Vw", "Xy"} {
		parts = append(parts, p+randomHex(t, 4))
	}
	password := parts[0] + "/" + parts[1] + "+=@" + parts[2] + ":" + parts[3] + " %41" + parts[4] + "="
	encoded := secretRole(t, password)
	u, err := url.Parse(encoded)
	require.NoError(t, err)
	role := u.User.Username()
	host, port, err := net.SplitHostPort(u.Host)
	require.NoError(t, err)
	kv := fmt.Sprintf("host=%s port=%s user=%s dbname=%s password='%s'", host, port, role, strings.TrimPrefix(u.Path, "/"), password)
	if mode := u.Query().Get("sslmode"); mode != "" {
		kv += " sslmode=" + mode
	}
	q := u.Query()
	q.Set("user", role)
	q.Set("password", password)
	// pgx reads a '+' in the query as itself: a space must be %20.
	query := "postgres://" + u.Host + u.Path + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	raw := "postgres://" + role + ":" + password + "@" + u.Host + u.Path

	secrets := map[string]string{"password": password}
	for i, p := range parts {
		secrets[fmt.Sprintf("password piece %d", i+1)] = p
	}
	scan := newLeakScanner(secrets)
	data := filepath.Join(t.TempDir(), "cat.csv")
	require.NoError(t, os.WriteFile(data, []byte("name,brand,source_id\nSauvage,Dior,1\nNo 5,Chanel,2\n"), 0o644))

	for _, tc := range []struct {
		form, url string
		code      int
	}{
		{"percent-encoded", encoded, ExitOK},
		{"keyword/value", kv, ExitOK},
		{"query", query, ExitOK},
		{"not encoded", raw, ExitFailure},
	} {
		env := map[string]string{"DATABASE_URL": tc.url, "SCENTMATCH_HOME": t.TempDir()}
		for _, args := range [][]string{{"db", "status"}, {"db", "status", "--json"}, {"import", "--fragrances", data, "--source", "cat"}} {
			r := scan.run(t, env, args...)
			require.Equal(t, tc.code, r.code, "%s: %v: %s%s", tc.form, args, r.stdout, r.stderr)
			if args[0] == "db" {
				require.Contains(t, r.stdout, "xxxxx", "%s: %v shows the masked URL", tc.form, args)
			}
			if tc.code != ExitOK {
				require.Contains(t, r.stdout+r.stderr, "percent-encoded", "%s: %v says what to fix", tc.form, args)
			}
		}
	}
}
