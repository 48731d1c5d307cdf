// Package steps builds the weekly cycle's step handlers in one place, for
// the Lambda mains (functions/<step>) and for the local runner alike, so a
// local cycle runs exactly the handlers AWS runs. Every cycle step goes
// through cycle.RunStep (lease, idempotency by cycle id, emergency stop)
// and returns errors Step Functions can name (*cycle.TransientError, ...).
package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/emf"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/maintain"
	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/runner"
	"github.com/scentmatch/pipeline/internal/sandbox"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// EnvBucket names the pipeline's bucket: s3://name in AWS; unset locally
// means the local bucket in $SCENTMATCH_HOME/bucket.
const EnvBucket = "SCENTMATCH_BUCKET"

// S3 is the part of the S3 client the steps use.
type S3 interface {
	bucket.Getter
	bucket.Putter
}

// Steps holds what the step handlers share: the environment, the lazily
// opened database and configuration, and the bucket.
type Steps struct {
	Env  *app.Env
	Deps *app.Lazy
	// S3 is the client for s3:// references (nil locally).
	S3 S3
	// Bucket is s3://bucket in AWS, file://$SCENTMATCH_HOME/bucket locally.
	Bucket string
	// Open opens a detection source (detect.OpenSource in AWS; locally
	// LocalOpener, which starts the sandbox upstream).
	Open detect.OpenFunc
	// EMF receives CloudWatch metric lines (stdout in Lambda).
	EMF io.Writer
	Now func() time.Time
	// ChunkRecords sizes the dataset chunks (0: importer.DefaultChunkRecords).
	ChunkRecords int
	// Level, when set, is the logger's level: a cycle state with "debug":
	// true turns debug logs on for that invocation (a Lambda container runs
	// one invocation at a time).
	Level *slog.LevelVar
}

// debug applies the cycle's debug flag to the log level.
func (s *Steps) debug(st cycle.State) {
	if s.Level == nil {
		return
	}
	if st.Debug {
		s.Level.Set(slog.LevelDebug)
	} else {
		s.Level.Set(slog.LevelInfo)
	}
}

func (s *Steps) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// open returns the deps, classifying a failure and dropping the cached
// connection after an authentication failure (a rotated secret).
func (s *Steps) open(ctx context.Context) (*app.Deps, error) {
	d, err := s.Deps.Get(ctx)
	if err != nil {
		s.Deps.Reset(err)
		return nil, cycle.Classify(err)
	}
	return d, nil
}

func (s *Steps) fail(err error) error {
	if err != nil {
		s.Deps.Reset(err)
	}
	return err
}

func (s *Steps) store(d *app.Deps) *cycle.Store {
	return &cycle.Store{
		DB:    d.Pool,
		Lease: time.Duration(d.Config.Monitoring.Cycle.LeaseMinutes) * time.Minute,
		Now:   s.Now,
		Stopped: func(ctx context.Context) (bool, error) {
			return control.StopRequested(ctx, d.Pool)
		},
		Budget: time.Duration(d.Config.Monitoring.Cycle.TimeoutMinutes) * time.Minute,
	}
}

func (s *Steps) logger(d *app.Deps) *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return logging.Discard()
}

// Detect is the Detect step (functions/detect). It takes the cycle's lease
// first: a second cycle is refused here, before any request goes out.
func (s *Steps) Detect(ctx context.Context, st cycle.State) (*detect.Result, error) {
	s.debug(st)
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	det := &detect.Detector{Pool: d.Pool, Config: d.Config, Logger: s.logger(d), Now: s.Now, Open: s.Open, Bucket: s.Bucket, S3: s.S3}
	res, err := cycle.RunStep(ctx, s.store(d), st, cycle.StepDetect, func(ctx context.Context) (*detect.Result, error) {
		return det.Handle(ctx, st)
	})
	return res, s.fail(err)
}

// Import is the import function: the cycle's Import step when given the
// cycle state, or one dataset object ({"object": ...}) from an upload or
// the dataset state machine's Map.
func (s *Steps) Import(ctx context.Context, input json.RawMessage) (any, error) {
	// Decoded strictly, as every function's event (event.Strict), before
	// anything is opened: an object event (it has "object") or the cycle
	// state.
	var probe map[string]json.RawMessage
	_ = json.Unmarshal(input, &probe) // not an object: the state's decoding says why
	_, isObject := probe["object"]
	var ev importer.ObjectEvent
	var st cycle.State
	if isObject {
		if err := event.Decode(input, &ev); err != nil {
			return nil, err
		}
	} else if err := event.Decode(input, &st); err != nil {
		return nil, err
	}
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	im, err := s.importer(ctx, d)
	if err != nil {
		return nil, err
	}
	if isObject {
		res, err := im.ImportObject(ctx, ev, s.getter())
		return res, s.fail(cycle.Classify(err))
	}
	s.debug(st)
	// The upstream's Retry-After and request budget hold for the whole
	// cycle: the fetch waits out one the detect step received, and spends
	// only what detect left of max_requests_per_cycle.
	var det struct {
		Crawl struct {
			Source          string     `json:"source"`
			Requests        int        `json:"requests"`
			RetryAfterUntil *time.Time `json:"retry_after_until"`
		} `json:"crawl"`
	}
	var prior priorCrawl
	if ok, _ := st.Result(cycle.StepDetect, &det); ok {
		prior = priorCrawl{source: det.Crawl.Source, requests: det.Crawl.Requests}
		if det.Crawl.RetryAfterUntil != nil {
			prior.notBefore = *det.Crawl.RetryAfterUntil
		}
	}
	step := &importer.CycleStep{
		Importer: im, S3: s.S3, BucketRoot: s.Bucket,
		EmbeddingTimeout: time.Duration(d.Config.Monitoring.Embedding.TimeoutSeconds) * time.Second,
		Fetcher:          s.fetcher(d, prior),
	}
	res, err := cycle.RunStep(ctx, s.store(d), st, cycle.StepImport, func(ctx context.Context) (*importer.CycleResult, error) {
		return step.Handle(ctx, st)
	})
	return res, s.fail(err)
}

func (s *Steps) getter() bucket.Getter {
	if s.S3 == nil {
		return nil
	}
	return s.S3
}

// importer builds the importer the CLI's import uses: the configured
// matcher (the importer's default) and embedder.
func (s *Steps) importer(ctx context.Context, d *app.Deps) (*importer.Importer, error) {
	im := &importer.Importer{Pool: d.Pool, Config: d.Config, Logger: s.logger(d), Now: s.Now}
	if e, err := embedding.ForEnv(ctx, d.Config.Monitoring.Embedding, s.Env.AWS); err == nil {
		im.Embedder = e
	} else {
		s.logger(d).WarnContext(ctx, "embeddings left pending: the embedder is unavailable", "err", err)
	}
	return im, nil
}

// priorCrawl is what the cycle's detect step left for the import's fetch:
// the source it crawled, the requests it sent there, and a Retry-After
// still running.
type priorCrawl struct {
	source    string
	requests  int
	notBefore time.Time
}

// fetcher opens the candidates' source for the import step; no request
// starts before the detect step's Retry-After ends, and detect's requests
// to the same source count against its max_requests_per_cycle.
func (s *Steps) fetcher(d *app.Deps, prior priorCrawl) func(ctx context.Context, source string) (importer.RecordFetcher, func(), error) {
	return func(ctx context.Context, name string) (importer.RecordFetcher, func(), error) {
		src, ok := d.Config.Sources[name]
		if !ok {
			return nil, nil, fmt.Errorf("no source %q in scraping_ethics.json", name)
		}
		open := s.Open
		if open == nil {
			open = detect.OpenSource
		}
		deps := upstream.Deps{Cache: crawl.PGCache{DB: d.Pool}, Logger: s.logger(d), Now: s.Now, NotBefore: prior.notBefore}
		if name == prior.source {
			deps.Spent = prior.requests
		}
		up, release, err := open(ctx, name, src, deps)
		if err != nil {
			return nil, nil, err
		}
		return up, release, nil
	}
}

// Dataset is the dataset function: split an upload into chunks, or
// summarise the chunk imports.
func (s *Steps) Dataset(ctx context.Context, ev importer.DatasetEvent) (any, error) {
	if ev.Object == "" && ev.Key != "" {
		if s.S3 != nil {
			ev.Object = "s3://" + ev.Bucket + "/" + strings.TrimPrefix(ev.Key, "/")
		} else {
			// Locally the bucket is a directory: the event's key is under it.
			ev.Object = bucket.Join(s.Bucket, ev.Key)
		}
	}
	h := &importer.DatasetHandler{Splitter: &importer.Splitter{S3: s.S3, ChunkRecords: s.ChunkRecords}}
	return h.Handle(ctx, ev)
}

// Maintain is the Maintain step (functions/maintain).
func (s *Steps) Maintain(ctx context.Context, st cycle.State) (*maintain.Result, error) {
	s.debug(st)
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	m := &maintain.Maintainer{Pool: d.Pool, Config: d.Config, Logger: s.logger(d)}
	// An embedder that cannot be built leaves the backfill skipped, with the reason in the result.
	if e, err := embedding.ForEnv(ctx, d.Config.Monitoring.Embedding, s.Env.AWS); err == nil {
		m.Embedder = e
	}
	step := &maintain.Step{Maintainer: m, Store: s.store(d)}
	res, err := step.Handle(ctx, st)
	return res, s.fail(err)
}

// Metrics is the Metrics step, and the RecordFailure state of the Catch
// path (functions/metrics).
func (s *Steps) Metrics(ctx context.Context, st cycle.State) (*metrics.Report, error) {
	s.debug(st)
	d, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	step := &metrics.Step{Pool: d.Pool, Config: d.Config, Logger: s.logger(d), Now: s.Now, Store: s.store(d)}
	if s.EMF != nil {
		step.EMF = &emf.Writer{W: s.EMF, Stage: emf.Stage(s.Env.Getenv)}
	}
	res, err := step.Handle(ctx, st)
	return res, s.fail(err)
}

// Notify is the Notify step and the error alert of the Catch path
// (functions/notify). An execution that ended without reaching Catch
// (timed out, aborted) arrives here from an EventBridge rule with the
// error set and the cycle still running: it is marked failed first.
func (s *Steps) Notify(ctx context.Context, st cycle.State) (*notify.Result, error) {
	n := &notify.Lambda{Env: s.Env, Deps: s.Deps, Level: s.Level, Now: s.Now}
	return n.Handle(ctx, st)
}

// Functions returns the handlers by their substitution names in the
// state machine definitions, for the local runner.
func (s *Steps) Functions() runner.Functions {
	return runner.Functions{
		definitions.DetectFunction:   runner.Handle(s.Detect),
		definitions.ImportFunction:   runner.Handle(s.Import),
		definitions.MaintainFunction: runner.Handle(s.Maintain),
		definitions.MetricsFunction:  runner.Handle(s.Metrics),
		definitions.NotifyFunction:   runner.Handle(s.Notify),
		definitions.DatasetFunction:  runner.Handle(s.Dataset),
	}
}

// LocalOpener opens a source for a local run: a sandbox source starts an
// in-process sandbox upstream on loopback, crawled over HTTP through the
// same client a deployment uses; other kinds open as in AWS.
func LocalOpener(logger *slog.Logger, now func() time.Time) detect.OpenFunc {
	return func(ctx context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error) {
		if s.Kind != "sandbox" {
			return detect.OpenSource(ctx, name, s, deps)
		}
		srv, err := sandbox.New(sandbox.Options{Now: now, Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		run, err := sandbox.Start(srv, "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		logger.DebugContext(ctx, "sandbox upstream started for this run", "url", run.URL)
		deps.BaseURL = run.URL
		src, err := upstream.Open(name, s, deps)
		if err != nil {
			_ = run.Close()
			return nil, nil, err
		}
		return src, func() { _ = run.Close() }, nil
	}
}
