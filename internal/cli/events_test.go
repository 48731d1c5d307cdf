package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/mototest"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/runner"
	"github.com/scentmatch/pipeline/internal/statemachine"
	"github.com/scentmatch/pipeline/internal/steps"
)

// TestEverySampleEventRunsThroughItsHandler feeds each events/<function>*.json
// to that function's handler (lambda.NewHandler(h).Invoke, through
// scentmatch invoke) against a fresh embedded database, with S3 served by
// moto (internal/mototest); events/schedule.json (the schedule's input)
// runs the cycle definition. Each event runs on buckets of its own, named
// in place of the ones the sample events name.
func TestEverySampleEventRunsThroughItsHandler(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	functions := map[string]bool{}
	dirs, err := os.ReadDir(filepath.Join("..", "..", "functions"))
	require.NoError(t, err)
	for _, d := range dirs {
		functions[d.Name()] = true
	}
	covered := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		if name == "env" {
			continue // sam local invoke --env-vars, not an event (internal/deploy checks it)
		}
		fn, _, _ := strings.Cut(name, "-")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, data, backups := mototest.S3(t), mototest.Bucket(t), mototest.Bucket(t)
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(data), Key: aws.String("imports/sample.jsonl"),
				Body: strings.NewReader(strings.Join([]string{
					`{"brand": "Acme", "name": "Sample One", "source_id": "s1", "notes": ["Rose"]}`,
					`{"brand": "Acme", "name": "Sample Two", "source_id": "s2", "accords": ["woody"]}`,
					`{"brand": "", "name": "No Brand", "source_id": "s3"}`,
				}, "\n") + "\n")})
			require.NoError(t, err)
			home := t.TempDir()
			env := map[string]string{
				"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": home,
				"AWS_ENDPOINT_URL_S3": mototest.URL(t), "AWS_REGION": mototest.Region,
				"AWS_ACCESS_KEY_ID": mototest.AccessKey, "AWS_SECRET_ACCESS_KEY": mototest.SecretKey, "AWS_EC2_METADATA_DISABLED": "true",
				"AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"),
			}
			event, err := os.ReadFile(file)
			require.NoError(t, err)
			eventFile := filepath.Join(t.TempDir(), filepath.Base(file))
			event = []byte(strings.NewReplacer("scentmatch-dev-bucket", data, "scentmatch-dev-backups", backups).Replace(string(event)))
			require.NoError(t, os.WriteFile(eventFile, event, 0o644))
			if fn == "schedule" {
				runSchedule(t, env, eventFile)
				return
			}
			require.True(t, functions[fn], "events/%s.json names no function under functions/", name)
			r := run(t, env, "invoke", fn, "-e", eventFile, "--log-level", "error")
			require.Equal(t, ExitOK, r.code, "%s: %s", name, r.stderr)
			require.True(t, json.Valid([]byte(r.stdout)), r.stdout)
		})
		covered[fn] = true
	}
	for fn := range functions {
		require.True(t, covered[fn], "functions/%s has no sample event in events/", fn)
	}
	require.True(t, covered["schedule"], "events/schedule.json, the schedule's input, is missing")
}

// runSchedule starts the cycle definition with the schedule's input.
func runSchedule(t *testing.T, env map[string]string, file string) {
	input, err := os.ReadFile(file)
	require.NoError(t, err)
	e := &app.Env{Getenv: func(k string) string { return env[k] }, Logger: logging.Discard()}
	deps := &app.Lazy{Env: e, Pool: postgres.PoolOptions{MaxConns: 4}}
	defer deps.Close()
	s := &steps.Steps{Env: e, Deps: deps, Bucket: bucket.Local(env["SCENTMATCH_HOME"]), Open: steps.LocalOpener(logging.Discard(), nil)}
	m, err := runner.Cycle(s.Functions(), statemachine.WithSleeper(func(context.Context, time.Duration) error { return nil }))
	require.NoError(t, err)
	ex, err := m.Start(context.Background(), statemachine.ExecutionOptions{Name: "schedule-test", Input: input})
	require.NoError(t, err)
	require.Equal(t, statemachine.StatusSucceeded, ex.Status, "%s: %s", ex.Error, ex.Cause)
	var out struct {
		Trigger string `json:"trigger"`
	}
	require.NoError(t, json.Unmarshal(ex.Output, &out))
	require.Equal(t, "schedule", out.Trigger)
}

// TestInvokedDetectHoldsTheCycleUntilItsFailureIsRecorded: the sample detect
// event begins cycle schedule-20261129T0200 and leaves it running, so a
// cycle is refused; the metrics function's failure path (the remedy
// docs/operations.md and invoke --help give) ends it and frees the lease.
func TestInvokedDetectHoldsTheCycleUntilItsFailureIsRecorded(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": t.TempDir()}
	events := filepath.Join("..", "..", "events")
	r := run(t, env, "invoke", "detect", "-e", filepath.Join(events, "detect.json"), "--log-level", "error")
	require.Equal(t, ExitOK, r.code, r.stderr)

	r = run(t, env, "cycle", "--name", "manual-20261203T1000", "--log-level", "error")
	require.Equal(t, ExitFailure, r.code, r.stdout)
	require.Contains(t, r.stderr, "cycle already running (schedule-20261129T0200")

	r = run(t, env, "invoke", "metrics", "-e", filepath.Join(events, "metrics-failure.json"), "--log-level", "error")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, env, "status", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	last := decode[struct {
		LastCycle struct {
			ID      string `json:"id"`
			Outcome string `json:"outcome"`
		} `json:"last_cycle"`
	}](t, r.stdout).LastCycle
	require.Equal(t, "schedule-20261129T0200", last.ID)
	require.Equal(t, "failed", last.Outcome)

	r = run(t, env, "cycle", "--name", "manual-20261203T1000", "--max-fragrances", "1", "--log-level", "error")
	require.Equal(t, ExitOK, r.code, r.stderr)
}
