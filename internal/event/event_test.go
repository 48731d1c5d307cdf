package event_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/statemachine"
	"github.com/scentmatch/pipeline/internal/status"
	"github.com/scentmatch/pipeline/internal/steps"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestDecode(t *testing.T) {
	t.Parallel()
	type inner struct {
		N int `json:"n"`
	}
	type ev struct {
		Name  string `json:"name"`
		Flag  bool   `json:"flag"`
		Inner inner  `json:"inner"`
	}
	for _, tc := range []struct {
		payload, err string
	}{
		{`{"name": "a", "flag": true, "inner": {"n": 1}}`, ""},
		{``, ""},
		{`null`, ""},
		{`{"cycle_id": 5}`, `the event's field "cycle_id" is not one this function takes (rule: no unknown fields)`},
		{`{"name": 5}`, `the event's field "name": a JSON number where a string is expected`},
		{`{"flag": "yes"}`, `the event's field "flag": a JSON string where true or false is expected`},
		{`{"inner": {"n": "1"}}`, `the event's field "inner.n": a JSON string where a number is expected`},
		{`{"inner": {"m": 1}}`, `the event's field "m" is not one this function takes`},
		{`[1]`, `the event: a JSON array where an object is expected`},
		{`{"name": "a"} {}`, `the event: more than one JSON value`},
		{`{"name": `, `the event is not JSON`},
	} {
		var v ev
		err := event.Decode([]byte(tc.payload), &v)
		if tc.err == "" {
			require.NoError(t, err, tc.payload)
			continue
		}
		var bad *cycle.BadInputError
		require.ErrorAs(t, err, &bad, tc.payload)
		require.Contains(t, err.Error(), tc.err, tc.payload)
	}
}

// errorType is the Lambda errorType aws-lambda-go reports for err: its
// Go type name.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// tables counts the tables of a database's public schema.
func tables(t *testing.T, url string) int {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool.Close()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n))
	return n
}

// TestEveryFunctionRefusesABadEventAndDoesNothing invokes each of the nine
// functions' handlers, wrapped as its main wraps it (event.Strict), with
// malformed events through lambda.NewHandler(h).Invoke: the answer is a
// BadInputError naming the field, and nothing happened: no connection
// made, no migration (the empty database stays empty), no backup file.
func TestEveryFunctionRefusesABadEventAndDoesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	emptyDB := dbtest.EmptyURL(t)
	home := t.TempDir()
	env := map[string]string{"DATABASE_URL": emptyDB, "SCENTMATCH_HOME": home}
	e := &app.Env{Getenv: func(k string) string { return env[k] }, Logger: logging.Discard()}
	deps := &app.Lazy{Env: e, Pool: postgres.PoolOptions{MaxConns: 1}}
	t.Cleanup(deps.Close)
	s := &steps.Steps{Env: e, Deps: deps, Bucket: bucket.Local(home), Open: steps.LocalOpener(logging.Discard(), nil)}

	var connects atomic.Int32
	migrate := &postgres.MigrateHandler{Logger: logging.Discard(), Connect: func(ctx context.Context) (*pgxpool.Pool, error) {
		connects.Add(1)
		return postgres.Connect(ctx, emptyDB, postgres.PoolOptions{})
	}}
	backupRoot := filepath.Join(home, "backups")
	bk := &backup.Handler{Root: backupRoot, Logger: logging.Discard(), Pool: func(ctx context.Context) (*pgxpool.Pool, string, error) {
		connects.Add(1)
		p, err := postgres.Connect(ctx, emptyDB, postgres.PoolOptions{})
		return p, "postgres://masked", err
	}}
	st := &status.Handler{
		Reporter: func(ctx context.Context) (*status.Reporter, error) {
			connects.Add(1)
			return nil, context.Canceled
		},
		HealthInputs: func(ctx context.Context) health.Inputs { connects.Add(1); return health.Inputs{} },
	}

	handlers := map[string]any{
		"migrate":  event.Strict(migrate.Handle),
		"backup":   event.Strict(bk.Handle),
		"status":   event.Strict(st.Handle),
		"detect":   event.Strict(s.Detect),
		"import":   event.Strict(s.Import),
		"dataset":  event.Strict(s.Dataset),
		"maintain": event.Strict(s.Maintain),
		"metrics":  event.Strict(s.Metrics),
		"notify":   event.Strict(s.Notify),
	}
	dirs, err := os.ReadDir(filepath.Join("..", "..", "functions"))
	require.NoError(t, err)
	require.Len(t, handlers, len(dirs), "one handler per functions/<dir>")

	// field is what the error must name.
	bad := map[string][]struct{ payload, field string }{
		"migrate":  {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"status_only": "yes"}`, `"status_only"`}},
		"backup":   {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"to": 5}`, `"to"`}},
		"status":   {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"health": "yes"}`, `"health"`}, {`{"month": 202611}`, `"month"`}},
		"detect":   {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"cycle_id": "c", "trigger": "manual", "max": 3}`, `"max"`}},
		"import":   {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"object": 5}`, `"object"`}, {`{"object": "s3://b/k", "bucket": "b"}`, `"bucket"`}},
		"dataset":  {{`{"action": "split", "bucket": 5}`, `"bucket"`}, {`{"action": "split", "prefix": "x"}`, `"prefix"`}},
		"maintain": {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"cycle_id": "c", "dry_run": "no"}`, `"dry_run"`}},
		"metrics":  {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"cycle_id": "c", "error": {"Error": "x", "Cause": "y", "Code": 1}}`, `"Code"`}},
		"notify":   {{`{"cycle_id": 5}`, `"cycle_id"`}, {`{"cycle_id": "c", "results": []}`, `"results"`}},
	}
	for fn, h := range handlers {
		require.Contains(t, bad, fn)
		for _, c := range bad[fn] {
			_, err := lambda.NewHandler(h).Invoke(ctx, []byte(c.payload))
			require.Error(t, err, "%s %s", fn, c.payload)
			require.Equal(t, "BadInputError", errorType(err), "%s %s: %v", fn, c.payload, err)
			require.Contains(t, err.Error(), c.field, "%s %s: the error names the field", fn, c.payload)
		}
	}
	require.Zero(t, connects.Load(), "no handler ran")
	require.Zero(t, tables(t, emptyDB), "no migration ran: the database is still empty")
	_, err = os.Stat(backupRoot)
	require.ErrorIs(t, err, os.ErrNotExist, "no backup was written")
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing was written under the home")

	// And a good event still works through the same wrapper.
	out, err := lambda.NewHandler(event.Strict(migrate.Handle)).Invoke(ctx, []byte(`{"status_only": true}`))
	require.NoError(t, err)
	var res postgres.MigrateOutput
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, int32(1), connects.Load())
}

// TestStrictTypesTransientFailures: whatever wrapping a handler's error
// went through, a failure a retry may cure leaves the Lambda boundary as
// *cycle.TransientError (errorType "TransientError"), the name Retry
// matches; other errors keep their own type.
func TestStrictTypesTransientFailures(t *testing.T) {
	t.Parallel()
	type in struct{}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("saving the step: %w", &pgconn.PgError{Code: "57P01"}), "TransientError"},
		{fmt.Errorf("opening: %w", &pgconn.PgError{Code: "53300"}), "TransientError"},
		{fmt.Errorf("batch 2: %w", &pgconn.PgError{Code: "08P01", Message: "server conn crashed?"}), "TransientError"},
		{fmt.Errorf("reading: %w", pgconn.ErrConnClosed), "TransientError"},
		{fmt.Errorf("wrapped: %w", &cycle.StoppedError{}), "StoppedError"},
		{fmt.Errorf("unique: %w", &pgconn.PgError{Code: "23505"}), "wrapError"},
	} {
		h := event.Strict(func(context.Context, in) (string, error) { return "", tc.err })
		_, err := lambda.NewHandler(h).Invoke(context.Background(), []byte(`{}`))
		require.Error(t, err)
		require.Equal(t, tc.want, statemachine.ErrorName(err), tc.err.Error())
	}
}
