package rehearse

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/deploy"
	"github.com/scentmatch/pipeline/internal/pgbouncer"
	"github.com/scentmatch/pipeline/internal/sandbox"
	"github.com/scentmatch/pipeline/internal/statemachine"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// rehearsal is the shared state of one TestRehearsal run.
type rehearsal struct {
	t         *testing.T
	ctx       context.Context
	dir       string
	tpl       *deploy.Template
	moto      *Moto
	stack     *Stack
	rie       string
	amd64     map[string]string
	blocked   atomic.Bool // the upstream's robots.txt answers 503: detect fails UpstreamBlockedError
	dbURL     string      // what the secret holds
	directURL string      // the same database, direct (the migration secret)
	pooler    *pgbouncer.Server

	mu       sync.Mutex
	failures []failureSeen
	specs    map[string]deploy.Function
}

type failureSeen struct {
	Where, Function, ErrorType, Message string
}

func (r *rehearsal) observe(where string, l *Lambda, res Result) {
	if res.ErrorType == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, failureSeen{Where: where, Function: l.Spec.ID, ErrorType: res.ErrorType, Message: res.ErrorMessage})
}

// TestRehearsal is make rehearse: docs/rehearsal.md.
func TestRehearsal(t *testing.T) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	t.Cleanup(cancel)
	r := &rehearsal{t: t, ctx: ctx, dir: t.TempDir(), specs: map[string]deploy.Function{}}
	var err error
	r.tpl, err = deploy.Load(filepath.Join(root, "template.yaml"))
	require.NoError(t, err)
	ids := r.tpl.Functions()

	// arm64, as deployed: it only has to build (and be an arm64 static
	// ELF), so it builds while the amd64 binaries run.
	arm := make(chan error, 1)
	go func() {
		_, err := Build(ctx, root, filepath.Join(r.dir, "build"), "arm64", ids)
		arm <- err
	}()
	r.amd64, err = Build(ctx, root, filepath.Join(r.dir, "build"), "amd64", ids)
	require.NoError(t, err)
	t.Logf("built %d functions for amd64 (make build-<LogicalId> ARTIFACTS_DIR=… LAMBDA_ARCH=amd64) in %s", len(ids), time.Since(started).Round(time.Second))
	r.rie, err = RIE(ctx, root)
	require.NoError(t, err)

	r.moto, err = StartMoto(ctx, r.dir)
	require.NoError(t, err)
	t.Cleanup(r.moto.Stop)

	up := r.upstream()
	// The database through PgBouncer in transaction mode, as deployed
	// (RDS Proxy, Supavisor): template.yaml says SCENTMATCH_DB_POOLING=transaction.
	r.pooler, err = pgbouncer.Start(ctx, pgbouncer.Options{UpstreamURL: dbtest.AdminURL(t), PoolSize: 4, Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(r.pooler.Stop)
	r.directURL = dbtest.EmptyURL(t)
	r.dbURL = r.pooler.PooledURL(r.directURL)
	r.stack, err = DeployToMoto(ctx, r.tpl, r.moto.URL, r.dbURL, r.directURL, map[string][]byte{
		"scraping_ethics.json": ethics(up.URL),
	})
	require.NoError(t, err)
	r.putSample("imports/sample.jsonl", sampleDataset)
	for _, id := range ids {
		spec, err := r.tpl.Function(id, r.stack.Values)
		require.NoError(t, err)
		r.specs[id] = spec
	}

	var figures []string
	t.Run("events", func(t *testing.T) { figures = append(figures, r.events(t)...) })
	t.Run("machines", func(t *testing.T) { figures = append(figures, r.machines(t)...) })
	t.Run("operator", func(t *testing.T) { figures = append(figures, r.operator(t)...) })
	t.Run("errorTypes", func(t *testing.T) { r.checkErrorTypes(t) })

	require.NoError(t, <-arm, "the arm64 build (as deployed)")
	figures = append(figures, fmt.Sprintf("arm64: %d of %d functions build (static linux/arm64 ELF)", len(ids), len(ids)))
	figures = append(figures, fmt.Sprintf("rehearsal took %s", time.Since(started).Round(time.Second)))
	for _, f := range figures {
		t.Log(f)
	}
	if !t.Failed() {
		fmt.Println("rehearsal: " + strings.Join(figures, "; "))
	}
}

// upstream serves the demo catalog with the catalog API on loopback: the
// http source the rehearsal's configuration enables (a deployed
// configuration prefix would name a real one).
func (r *rehearsal) upstream() *httptest.Server {
	sb, err := sandbox.New(sandbox.Options{})
	require.NoError(r.t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.blocked.Load() && req.URL.Path == "/robots.txt" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		sb.ServeHTTP(w, req)
	}))
	r.t.Cleanup(srv.Close)
	return srv
}

// ethics is the rehearsal's scraping_ethics.json: the source named
// "sandbox" (the name the sample events' candidates carry) as an http
// source at the loopback upstream, fast because it is ours.
func ethics(base string) []byte {
	b, _ := json.MarshalIndent(map[string]any{"sandbox": map[string]any{
		"enabled": true, "kind": "http", "base_url": base,
		"user_agent": "ScentMatchBot/1.0 (+mailto:ops@scentmatch.local)", "respect_robots_txt": true, "terms_reviewed": true,
		"rate_limit": 6000, "delay_ms": 5, "max_concurrency": 1, "timeout_ms": 10000, "max_retries": 1,
		"max_requests_per_cycle": 200, "backoff_initial_ms": 50, "backoff_max_ms": 500, "circuit_breaker_failures": 5,
		"max_body_bytes": 5242880, "notes": "make rehearse: the loopback demo catalog as an http source",
	}}, "", "  ")
	return b
}

const sampleDataset = `{"brand": "Acme", "name": "Sample One", "source_id": "s1", "notes": ["Rose"]}
{"brand": "Acme", "name": "Sample Two", "source_id": "s2", "accords": ["woody"]}
{"brand": "", "name": "No Brand", "source_id": "s3"}
`

func (r *rehearsal) putSample(key, body string) {
	_, err := S3(r.stack.AWS).PutObject(r.ctx, &s3PutObjectInput{Bucket: ptr(Bucket), Key: ptr(key), Body: strings.NewReader(body)})
	require.NoError(r.t, err)
}

// start runs function id's amd64 bootstrap under a new emulator.
func (r *rehearsal) start(t *testing.T, id, tag string) *Lambda {
	spec := r.specs[id]
	tmp := filepath.Join(r.dir, "tmp", tag, id)
	require.NoError(t, os.MkdirAll(tmp, 0o755))
	// What a local run overrides (sam local invoke --env-vars): the AWS
	// endpoint, and the home each execution environment has in its /tmp.
	env, err := RuntimeEnv(spec, Region, map[string]string{
		"AWS_ENDPOINT_URL": r.moto.URL,
		"SCENTMATCH_HOME":  filepath.Join(tmp, "scentmatch"),
	})
	require.NoError(t, err)
	logs := filepath.Join(r.dir, "logs", tag)
	require.NoError(t, os.MkdirAll(logs, 0o755))
	l, err := StartLambda(r.ctx, r.rie, r.amd64[id], spec, env, logs)
	require.NoError(t, err)
	t.Cleanup(l.Stop)
	return l
}

// setSecret points the deployment's database secrets at the database
// whose direct URL is direct: the main secret through the pooler, the
// migration secret straight at it. The next cold start of a function
// reads them.
func (r *rehearsal) setSecret(t *testing.T, direct string) {
	sm := secretsmanager.NewFromConfig(r.stack.AWS)
	_, err := sm.PutSecretValue(r.ctx, &secretsmanager.PutSecretValueInput{
		SecretId: ptr(r.stack.SecretARN), SecretString: ptr(r.pooler.PooledURL(direct))})
	require.NoError(t, err)
	_, err = sm.PutSecretValue(r.ctx, &secretsmanager.PutSecretValueInput{
		SecretId: ptr(r.stack.MigrationSecretARN), SecretString: ptr(direct)})
	require.NoError(t, err)
}

// events invokes every sample event on a new execution environment of its
// function (cold), then again on the same one (warm). A sample event is a
// snapshot of one step of some cycle, so each runs on a database of its
// own, as the CLI's event tests do (the secret points at it before the
// cold start): migrate's events on a new, unmigrated database, the others
// on a migrated one. Otherwise the detect events' cycles would still be
// running for the next event, which AlreadyRunningError rightly refuses.
func (r *rehearsal) events(t *testing.T) []string {
	evs, err := Events(filepath.Join(root, "events"), r.tpl.Functions())
	require.NoError(t, err)
	var cold, warm, refused int
	malformed := map[string]bool{}
	for _, ev := range evs {
		payload, err := os.ReadFile(ev.Path)
		require.NoError(t, err)
		if ev.Function == "MigrateFunction" {
			r.setSecret(t, dbtest.EmptyURL(t))
		} else {
			r.setSecret(t, dbtest.URL(t))
		}
		l := r.start(t, ev.Function, "event-"+ev.Name)
		for _, pass := range []string{"cold", "warm"} {
			res, err := l.Invoke(r.ctx, payload)
			require.NoError(t, err, "%s (%s)", ev.Name, pass)
			r.observe("events/"+ev.Name+".json "+pass, l, res)
			if res.ErrorType != "" {
				t.Errorf("events/%s.json on %s (%s): %s: %s (log: %s)", ev.Name, ev.Function, pass, res.ErrorType, res.ErrorMessage, l.Log)
				continue
			}
			if pass == "cold" {
				cold++
			} else {
				warm++
			}
		}
		// Once per function, a malformed event on the warm environment:
		// refused at the door as BadInputError.
		if !malformed[ev.Function] {
			malformed[ev.Function] = true
			res, err := l.Invoke(r.ctx, []byte(`{"cycle_id": 5, "no_such_field": true}`))
			require.NoError(t, err)
			r.observe("a malformed event", l, res)
			if res.ErrorType == "BadInputError" {
				refused++
			} else {
				t.Errorf("%s answered a malformed event with errorType %q (%s), not BadInputError", ev.Function, res.ErrorType, trim(res.Payload, 200))
			}
		}
		rss, err := l.PeakRSSMB()
		require.NoError(t, err)
		require.Less(t, rss, float64(l.Spec.MemoryMB), "%s used %.0f MB, more than its MemorySize", ev.Name, rss)
		l.Stop()
	}
	return []string{fmt.Sprintf("events: %d of %d cold, %d of %d warm; a malformed event refused with BadInputError by %d of %d functions", cold, len(evs), warm, len(evs), refused, len(malformed))}
}

// checkErrorTypes holds every failure seen to the ASL: its errorType must
// be one a Retry or Catch names (States.ALL aside), else Step Functions
// can only lump it with everything else.
//
// checkErrorTypes holds every failure seen to the state machines: its
// errorType must be a name a Retry or Catch lists, or one of the project's
// own typed errors (a `type XError struct` under internal/), which Catch
// States.ALL sends to RecordFailure on purpose. A Go library type
// (wrapError, errorString, UnmarshalTypeError) means a handler returned an
// error Step Functions can neither retry nor tell apart.
func (r *rehearsal) checkErrorTypes(t *testing.T) {
	named := map[string]bool{}
	for _, def := range [][]byte{definitions.Cycle, definitions.ImportDataset} {
		var d map[string]any
		require.NoError(t, json.Unmarshal(def, &d))
		aslNames(d, named)
	}
	typed := projectErrorTypes(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.failures {
		if !named[f.ErrorType] && !typed[f.ErrorType] {
			t.Errorf("%s: %s returned errorType %q: no Retry or Catch names it (they name %s) and it is not one of the project's typed errors: %s",
				f.Where, f.Function, f.ErrorType, strings.Join(slices.Sorted(maps.Keys(named)), ", "), f.Message)
		}
	}
}

// aslNames collects every ErrorEquals name of the states under v.
func aslNames(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if k == "ErrorEquals" {
				for _, n := range c.([]any) {
					if s := n.(string); s != "States.ALL" {
						out[s] = true
					}
				}
				continue
			}
			aslNames(c, out)
		}
	case []any:
		for _, c := range x {
			aslNames(c, out)
		}
	}
}

var errorTypeDecl = regexp.MustCompile(`(?m)^type ([A-Z][A-Za-z0-9]*Error) struct`)

// projectErrorTypes are the `type XError struct` declarations of the
// project's non-test code.
func projectErrorTypes(t *testing.T) map[string]bool {
	out := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range errorTypeDecl.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

type s3PutObjectInput = s3.PutObjectInput

func ptr(s string) *string { return &s }

// machine loads a state machine of the template with its
// DefinitionSubstitutions resolved as deployed (the functions' ARNs), each
// ARN bound to the emulated function over HTTP. Retry pauses are capped at
// 200 ms (the rehearsal checks that a retry happens, not its length).
func (r *rehearsal) machine(t *testing.T, id string, def []byte, reg statemachine.Registry) *statemachine.Machine {
	ds, _ := r.tpl.Resources[id].Properties["DefinitionSubstitutions"].(map[string]any)
	subs := map[string]string{}
	for k, v := range ds {
		s, err := r.tpl.Resolve(v, r.stack.Values)
		require.NoError(t, err, "%s: DefinitionSubstitutions.%s", id, k)
		subs[k] = s
	}
	name, err := r.tpl.Resolve(r.tpl.Resources[id].Properties["Name"], r.stack.Values)
	require.NoError(t, err)
	m, err := statemachine.Load(def, subs, statemachine.WithHandlers(reg), statemachine.WithName(name),
		statemachine.WithSleeper(func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(d, 200*time.Millisecond)):
				return nil
			}
		}))
	require.NoError(t, err, "loading %s", id)
	return m
}

// entered lists the top-level states an execution entered, in order.
func entered(ex *statemachine.Execution) []string {
	var out []string
	for _, e := range ex.History {
		if e.Type == statemachine.StateEntered && e.Scope == "" {
			out = append(out, e.State)
		}
	}
	return out
}

// mailTo waits until moto's SES holds a message whose subject starts with
// prefix and returns it.
func (r *rehearsal) mail(t *testing.T, prefix string) SentEmail {
	msgs, err := r.moto.SentEmails(r.ctx)
	require.NoError(t, err)
	var subjects []string
	for _, m := range msgs {
		if strings.HasPrefix(m.Subject, prefix) {
			return m
		}
		subjects = append(subjects, m.Subject)
	}
	t.Fatalf("no e-mail in moto's SES with a subject starting %q; it holds: %q", prefix, subjects)
	return SentEmail{}
}

// machines runs the weekly cycle, its failure path and the dataset import
// on the local executor, every Task an HTTP invocation of an emulated
// function (one execution environment per function, as warm Lambdas).
func (r *rehearsal) machines(t *testing.T) []string {
	// The deployment's database, migrated by the migrate function as
	// make deploy does (sam remote invoke MigrateFunction --event-file
	// events/migrate.json).
	r.setSecret(t, r.directURL)
	mig, err := os.ReadFile(filepath.Join(root, "events", "migrate.json"))
	require.NoError(t, err)
	ml := r.start(t, "MigrateFunction", "deploy")
	res, err := ml.Invoke(r.ctx, mig)
	require.NoError(t, err)
	require.Empty(t, res.ErrorType, "migrate: %s", res.ErrorMessage)
	ml.Stop()
	reg := statemachine.Registry{}
	calls := map[string]int{}
	var mu sync.Mutex
	for _, id := range r.tpl.Functions() {
		l := r.start(t, id, "machines")
		h := l.Handler(func(l *Lambda, res Result) {
			mu.Lock()
			calls[l.Spec.ID]++
			mu.Unlock()
			r.observe("machines", l, res)
		})
		reg[r.stack.FunctionARNs[id]] = h
	}
	var figures []string
	input, err := os.ReadFile(filepath.Join(root, "events", "schedule.json"))
	require.NoError(t, err)
	cycle := r.machine(t, "CycleStateMachine", definitions.Cycle, reg)

	// The whole cycle.
	name := "rehearsal-" + time.Now().UTC().Format("20060102T150405")
	ex, err := cycle.Start(r.ctx, statemachine.ExecutionOptions{Name: name, Input: input})
	require.NoError(t, err)
	states := entered(ex)
	require.Equal(t, statemachine.StatusSucceeded, ex.Status, "cycle %s: %s %s; states %v", name, ex.Error, ex.Cause, states)
	for _, s := range []string{"Detect", "Maintain", "Metrics", "Notify", "Done"} {
		require.Contains(t, states, s)
	}
	var out struct {
		Results map[string]json.RawMessage `json:"results"`
	}
	require.NoError(t, json.Unmarshal(ex.Output, &out))
	for _, s := range []string{"detect", "maintain", "metrics", "notify"} {
		require.Contains(t, out.Results, s, "the cycle's output has no results.%s", s)
	}
	report := r.mail(t, "ScentMatch weekly report: cycle "+name)
	require.NotEmpty(t, report.Body)
	figures = append(figures, fmt.Sprintf("cycle %s: SUCCEEDED through %s; weekly report in moto's SES (%q)", name, strings.Join(states, " → "), report.Subject))

	// The failure path: the upstream's robots.txt answers 503, which
	// means disallow everything: Detect fails with UpstreamBlockedError.
	r.blocked.Store(true)
	failName := "rehearsal-failure-" + time.Now().UTC().Format("20060102T150405")
	ex, err = cycle.Start(r.ctx, statemachine.ExecutionOptions{Name: failName, Input: input})
	r.blocked.Store(false)
	require.NoError(t, err)
	states = entered(ex)
	require.Equal(t, statemachine.StatusFailed, ex.Status, "states %v", states)
	require.Equal(t, []string{"RecordFailure", "AlertFailure", "Failed"}, states[len(states)-3:], "the failure path: %v", states)
	var caught string
	for _, e := range ex.History {
		if e.Type == statemachine.StateCaught {
			caught = e.Error
		}
	}
	require.Equal(t, "UpstreamBlockedError", caught, "Detect's error as Catch saw it")
	alert := r.mail(t, "ScentMatch ERROR: cycle "+failName)
	figures = append(figures, fmt.Sprintf("failure path: %s caught, %s, FAILED; error alert in moto's SES (%q)", caught, strings.Join(states[len(states)-3:], " → "), alert.Subject))

	// The dataset import, started as the S3 upload's EventBridge event
	// would start it.
	key := "imports/rehearsal.jsonl"
	var ds strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&ds, `{"brand": "Rehearsal House", "name": "Accord No %d", "source_id": "rh-%d", "notes": ["Rose", "Oud"], "year": 2020}`+"\n", i, i)
	}
	r.putSample(key, ds.String())
	head, err := S3(r.stack.AWS).HeadObject(r.ctx, &s3.HeadObjectInput{Bucket: ptr(Bucket), Key: ptr(key)})
	require.NoError(t, err)
	upload, _ := json.Marshal(map[string]any{"source": "aws.s3", "detail-type": "Object Created", "detail": map[string]any{
		"bucket": map[string]any{"name": Bucket}, "object": map[string]any{"key": key, "etag": strings.Trim(*head.ETag, `"`), "size": ds.Len()}}})
	dataset := r.machine(t, "ImportDatasetStateMachine", definitions.ImportDataset, reg)
	ex, err = dataset.Start(r.ctx, statemachine.ExecutionOptions{Name: "rehearsal-upload", Input: upload})
	require.NoError(t, err)
	require.Equal(t, statemachine.StatusSucceeded, ex.Status, "import-dataset: %s %s; states %v", ex.Error, ex.Cause, entered(ex))
	figures = append(figures, fmt.Sprintf("import-dataset: SUCCEEDED over s3://%s/%s (%d records) through %s: %s", Bucket, key, 40, strings.Join(entered(ex), " → "), trim(ex.Output, 300)))

	mu.Lock()
	defer mu.Unlock()
	figures = append(figures, fmt.Sprintf("machine Tasks invoked over HTTP: %v", calls))
	return figures
}

func trim(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// cli runs the operator CLI against moto: its environment is what an
// operator's shell holds after a deploy (region, the endpoint, the
// database secret, the schedule and state machine names), nothing else.
type cliRun struct {
	code           int
	stdout, stderr string
}

func (r *rehearsal) cliEnv(extra ...string) []string {
	home := filepath.Join(r.dir, "operator")
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "SCENTMATCH_HOME=" + filepath.Join(home, ".scentmatch"),
		"SCENTMATCH_OPERATOR=rehearsal",
		"AWS_REGION=" + Region, "AWS_ACCESS_KEY_ID=rehearsal", "AWS_SECRET_ACCESS_KEY=rehearsal",
		"AWS_ENDPOINT_URL=" + r.moto.URL, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"DATABASE_SECRET_ARN=" + r.stack.SecretARN, "DATABASE_MIGRATION_SECRET_ARN=" + r.stack.MigrationSecretARN,
		"SCENTMATCH_DB_POOLING=transaction",
		"SCENTMATCH_CONFIG_DIR=s3://" + Bucket + "/config/",
		"SCHEDULE_NAME=" + r.stack.ScheduleName, "STATE_MACHINE_ARN=" + r.stack.CycleARN,
	}
	return append(env, extra...)
}

func (r *rehearsal) scentmatch(t *testing.T, bin string, env []string, args ...string) cliRun {
	cmd := exec.CommandContext(r.ctx, bin, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliRun{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else {
		require.NoError(t, err, "scentmatch %v", args)
	}
	return res
}

func (r *rehearsal) scheduleState(t *testing.T) string {
	out, err := scheduler.NewFromConfig(r.stack.AWS).GetSchedule(r.ctx, &scheduler.GetScheduleInput{Name: ptr(r.stack.ScheduleName)})
	require.NoError(t, err)
	return string(out.State)
}

// operator runs the commands that call AWS against the same moto server.
func (r *rehearsal) operator(t *testing.T) []string {
	bin := filepath.Join(r.dir, "scentmatch")
	build := exec.CommandContext(r.ctx, "go", "build", "-o", bin, "./cmd/scentmatch")
	build.Dir = root
	b, err := build.CombinedOutput()
	require.NoError(t, err, "%s", b)
	env := r.cliEnv()
	var figures []string

	// cycle --remote: StartExecution, then following it. moto's Step
	// Functions does not run the definition (its executions stay RUNNING,
	// with a fixed sample history), so the execution is ended by stop. The
	// state machine comes from $STATE_MACHINE_ARN, as docs/operations.md
	// has operators run it.
	remote := exec.CommandContext(r.ctx, bin, "cycle", "--remote", "--name", "rehearsal-remote")
	remote.Env = env
	var rout, rerr syncBuffer
	remote.Stdout, remote.Stderr = &rout, &rerr
	require.NoError(t, remote.Start())
	sf := sfn.NewFromConfig(r.stack.AWS)
	execARN := ""
	require.Eventually(t, func() bool {
		l, err := sf.ListExecutions(r.ctx, &sfn.ListExecutionsInput{StateMachineArn: ptr(r.stack.CycleARN)})
		if err != nil {
			return false
		}
		for _, e := range l.Executions {
			if *e.Name == "rehearsal-remote" && e.Status == sfntypes.ExecutionStatusRunning {
				execARN = *e.ExecutionArn
				return strings.Contains(rerr.String(), "following")
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "cycle --remote did not start an execution: %s", rerr.String())

	// stop: the schedule disabled, the running execution stopped.
	require.Equal(t, "ENABLED", r.scheduleState(t))
	stop := r.scentmatch(t, bin, env, "stop", "--reason", "rehearsal", "--json")
	require.Equal(t, 0, stop.code, "stop: %s %s", stop.stdout, stop.stderr)
	require.Equal(t, "DISABLED", r.scheduleState(t), "stop left the schedule enabled")
	d, err := sf.DescribeExecution(r.ctx, &sfn.DescribeExecutionInput{ExecutionArn: ptr(execARN)})
	require.NoError(t, err)
	require.Equal(t, sfntypes.ExecutionStatusAborted, d.Status, "stop did not stop the running execution")
	werr := remote.Wait()
	require.Error(t, werr, "cycle --remote must exit 1 on an aborted execution")
	require.Equal(t, 1, remote.ProcessState.ExitCode(), "%s", rerr.String())
	require.Contains(t, rout.String(), `"ABORTED"`, "cycle --remote's summary: %s", rout.String())
	figures = append(figures, "cycle --remote: StartExecution, followed (history read), ABORTED by stop, exit 1")

	// status and health in AWS mode while stopped, then start.
	st := r.scentmatch(t, bin, env, "status", "--json")
	require.Equal(t, 0, st.code, "status: %s", st.stderr)
	var status struct {
		MonitoringEnabled bool `json:"monitoring_enabled"`
	}
	require.NoError(t, json.Unmarshal([]byte(st.stdout), &status), st.stdout)
	require.False(t, status.MonitoringEnabled, "status after stop: %s", st.stdout)
	start := r.scentmatch(t, bin, env, "start", "--reason", "rehearsal done", "--json")
	require.Equal(t, 0, start.code, "start: %s %s", start.stdout, start.stderr)
	require.Equal(t, "ENABLED", r.scheduleState(t), "start left the schedule disabled")
	st = r.scentmatch(t, bin, env, "status", "--json")
	require.Equal(t, 0, st.code, "status: %s", st.stderr)
	require.NoError(t, json.Unmarshal([]byte(st.stdout), &status), st.stdout)
	require.True(t, status.MonitoringEnabled, "status after start: %s", st.stdout)
	figures = append(figures, "stop/start: schedule DISABLED then ENABLED, status follows it")

	h := r.scentmatch(t, bin, env, "health", "--json")
	require.Contains(t, []int{0, 1}, h.code, "health: %s", h.stderr)
	require.True(t, json.Valid([]byte(h.stdout)), "health --json: %s %s", h.stdout, h.stderr)
	var health struct {
		Healthy            bool `json:"healthy"`
		DatabaseConnection bool `json:"database_connection"`
		Components         map[string]struct {
			Healthy bool   `json:"healthy"`
			Detail  string `json:"detail"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal([]byte(h.stdout), &health), h.stdout)
	require.True(t, health.DatabaseConnection, "health reaches the database through the secret and the pooler: %s", h.stdout)
	var unhealthy []string
	for _, name := range slices.Sorted(maps.Keys(health.Components)) {
		if c := health.Components[name]; !c.Healthy {
			unhealthy = append(unhealthy, name+": "+c.Detail)
		}
	}
	figures = append(figures, fmt.Sprintf("health --json in AWS mode: exit %d, %d components, not healthy: %q", h.code, len(health.Components), unhealthy))

	// backup to S3, restore from it into a new database.
	to := "s3://" + Bucket + "/backups/rehearsal/"
	bk := r.scentmatch(t, bin, env, "backup", "--to", to, "--json")
	require.Equal(t, 0, bk.code, "backup --to %s: %s", to, bk.stderr)
	// A new database: the pooler's URL for the application, its direct URL
	// for the migrations a restore may run (DATABASE_MIGRATION_URL wins
	// over the deployment's migration secret, which names the other one).
	target := dbtest.EmptyURL(t)
	rs := r.scentmatch(t, bin, append(r.cliEnv(), "DATABASE_URL="+r.pooler.PooledURL(target), "DATABASE_MIGRATION_URL="+target), "restore", "--from", to, "--json")
	require.Equal(t, 0, rs.code, "restore --from %s: %s %s", to, rs.stdout, rs.stderr)
	figures = append(figures, fmt.Sprintf("backup --to %s, restore --from it into a new database: exit 0", to))
	return figures
}

// syncBuffer is a strings.Builder safe for a process writing while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
