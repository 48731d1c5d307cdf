// Package app is the one wiring path shared by the operator CLI and the
// Lambda functions: it resolves the home directory, loads the
// configuration (embedded defaults plus overrides), finds the database
// (DATABASE_URL, the secret named by DATABASE_SECRET_ARN, or the embedded
// local cluster) and opens the pool.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/home"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/pglocal"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

// LocalDatabaseName is the database the embedded cluster serves.
const LocalDatabaseName = "scentmatch"

// Env is the process environment as the wiring sees it. Tests pass their
// own Getenv so a developer's DATABASE_URL never leaks into them.
type Env struct {
	Getenv func(string) string
	Logger *slog.Logger
	// ConfigDir overrides SCENTMATCH_CONFIG_DIR (the --config-dir flag).
	ConfigDir string

	awsOnce sync.Once
	awsCfg  aws.Config
	awsErr  error
}

// NewEnv returns an Env reading the process environment.
func NewEnv(logger *slog.Logger) *Env {
	if logger == nil {
		logger = logging.Discard()
	}
	return &Env{Getenv: os.Getenv, Logger: logger}
}

// ForLambda returns the environment a deployed function runs in: the
// process environment, JSON logs on stdout (Env.Logger) at the returned
// level, which each cycle's debug flag sets, and the AWS SDK configuration,
// loaded at start so that a function that cannot load it fails there.
func ForLambda(ctx context.Context) (*Env, *slog.LevelVar, aws.Config, error) {
	level := new(slog.LevelVar)
	env := NewEnv(logging.New(os.Stdout, logging.Options{Format: logging.JSON, Level: level}))
	cfg, err := env.AWS(ctx)
	return env, level, cfg, err
}

func (e *Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

// InLambda reports whether the process runs inside AWS Lambda.
func (e *Env) InLambda() bool { return e.getenv("AWS_LAMBDA_FUNCTION_NAME") != "" }

// Home returns $SCENTMATCH_HOME (resolved, not created).
func (e *Env) Home() (string, error) { return home.Resolve(e.getenv) }

// AWS returns the SDK configuration, loaded once (credentials, region and
// AWS_ENDPOINT_URL_<SERVICE> endpoints from the environment).
func (e *Env) AWS(ctx context.Context) (aws.Config, error) {
	e.awsOnce.Do(func() {
		// The process environment is read by the SDK itself; an Env with
		// its own Getenv (tests, the in-process invoker) passes what it
		// holds explicitly, so its settings win.
		var opts []func(*awsconfig.LoadOptions) error
		if e.Getenv != nil {
			if r := e.Getenv("AWS_REGION"); r != "" {
				opts = append(opts, awsconfig.WithRegion(r))
			}
			if id := e.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
				opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, e.Getenv("AWS_SECRET_ACCESS_KEY"), e.Getenv("AWS_SESSION_TOKEN"))))
			}
			if ep := e.Getenv("AWS_ENDPOINT_URL"); ep != "" {
				opts = append(opts, awsconfig.WithBaseEndpoint(ep))
			}
		}
		e.awsCfg, e.awsErr = awsconfig.LoadDefaultConfig(ctx, opts...)
		if e.awsErr != nil {
			e.awsErr = fmt.Errorf("loading AWS configuration: %w", e.awsErr)
		}
	})
	return e.awsCfg, e.awsErr
}

// ConfigLocation is where overrides come from ("" for defaults only).
func (e *Env) ConfigLocation() string {
	if e.ConfigDir != "" {
		return e.ConfigDir
	}
	return e.getenv(settings.EnvConfigDir)
}

// UsageError marks bad input from the operator (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Overrides returns the override location, or nil for defaults only.
func (e *Env) Overrides(ctx context.Context, location string) (settings.Overrides, error) {
	if location == "" {
		return nil, nil
	}
	if strings.HasPrefix(location, "s3://") {
		cfg, err := e.AWS(ctx)
		if err != nil {
			return nil, err
		}
		return settings.ParseS3(location, s3.NewFromConfig(cfg))
	}
	info, err := os.Stat(location)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("configuration directory %s: %w (create it, or unset %s / --config-dir to use the defaults)", location, err, settings.EnvConfigDir)}
	}
	if !info.IsDir() {
		return nil, &UsageError{Err: fmt.Errorf("configuration location %s is not a directory", location)}
	}
	return settings.Dir(location), nil
}

// CheckConfig loads and validates the configuration, returning every problem.
func (e *Env) CheckConfig(ctx context.Context) (*settings.Config, settings.Problems, error) {
	ov, err := e.Overrides(ctx, e.ConfigLocation())
	if err != nil {
		return nil, nil, err
	}
	return settings.Check(ctx, ov)
}

// LoadConfig loads the configuration and refuses it on any error-level
// problem (*settings.InvalidError); warnings are logged.
func (e *Env) LoadConfig(ctx context.Context) (*settings.Config, error) {
	cfg, problems, err := e.CheckConfig(ctx)
	if err != nil {
		return nil, err
	}
	if len(problems.Errors()) > 0 {
		return nil, &settings.InvalidError{Problems: problems}
	}
	for _, p := range problems.Warnings() {
		e.Logger.WarnContext(ctx, "configuration warning", "file", p.File, "path", p.Path, "rule", p.Rule, "problem", p.Message)
	}
	return cfg, nil
}

// Database says where the catalog lives and how it is reached. It is the
// one way the pipeline opens the database: every CLI command, Lambda
// function, the local runner and the tests connect through Connect.
type Database struct {
	URL string
	// Pooling is read once from SCENTMATCH_DB_POOLING (the embedded
	// cluster is always direct).
	Pooling postgres.Pooling
	// Local is the embedded cluster, nil when DATABASE_URL or a secret is used.
	Local *pglocal.Cluster
}

// Describe names the database for humans, password masked.
func (d Database) Describe() string {
	if d.Local != nil {
		return "embedded local cluster (" + d.Local.DataDir + ")"
	}
	return "DATABASE_URL"
}

// Connect opens a pool on the database in its pooling mode. opts.Pooling
// is ignored: the database says how it is reached.
func (d Database) Connect(ctx context.Context, opts postgres.PoolOptions) (*pgxpool.Pool, error) {
	opts.Pooling = d.Pooling
	if opts.Pooling == "" {
		opts.Pooling = postgres.PoolingDirect
	}
	return postgres.Connect(ctx, d.URL, opts)
}

// Pooling returns the pooling mode SCENTMATCH_DB_POOLING declares; a value
// it does not know is a *UsageError.
func (e *Env) Pooling() (postgres.Pooling, error) {
	p, err := postgres.ParsePooling(e.getenv(postgres.EnvPooling))
	if err != nil {
		return "", &UsageError{Err: err}
	}
	return p, nil
}

// ResolveDatabase finds the database without connecting to it: the
// configured URL or secret, else (outside Lambda) the embedded cluster,
// started when start is true.
func (e *Env) ResolveDatabase(ctx context.Context, start bool) (Database, error) {
	pooling, err := e.Pooling()
	if err != nil {
		return Database{}, err
	}
	var sm postgres.SecretGetter
	if e.getenv(postgres.EnvDatabaseURL) == "" && e.getenv(postgres.EnvDatabaseSecretARN) != "" {
		cfg, err := e.AWS(ctx)
		if err != nil {
			return Database{}, err
		}
		sm = secretsmanager.NewFromConfig(cfg)
	}
	url, err := postgres.ResolveURL(ctx, e.getenv, sm)
	if err == nil {
		if e.InLambda() {
			url = postgres.RequireTLS(url)
		}
		return Database{URL: url, Pooling: pooling}, nil
	}
	if !errors.Is(err, postgres.ErrNoDatabaseConfigured) {
		return Database{}, err
	}
	if e.InLambda() {
		return Database{}, fmt.Errorf("%w (Lambda has no embedded database)", err)
	}
	dir, err := e.Home()
	if err != nil {
		return Database{}, err
	}
	if !start {
		c, err := pglocal.Open(dir, e.Logger)
		if err != nil {
			return Database{}, err
		}
		return Database{URL: c.URL(LocalDatabaseName), Pooling: postgres.PoolingDirect, Local: c}, nil
	}
	c, err := pglocal.Ensure(ctx, pglocal.Options{Home: dir, Logger: e.Logger})
	if err != nil {
		return Database{}, err
	}
	if err := c.EnsureDatabase(ctx, LocalDatabaseName); err != nil {
		return Database{}, err
	}
	return Database{URL: c.URL(LocalDatabaseName), Pooling: postgres.PoolingDirect, Local: c}, nil
}

// Connect resolves the database (starting the embedded one if needed) and
// opens a pool.
func (e *Env) Connect(ctx context.Context, opts postgres.PoolOptions) (*pgxpool.Pool, Database, error) {
	db, err := e.ResolveDatabase(ctx, true)
	if err != nil {
		return nil, db, err
	}
	pool, err := db.Connect(ctx, opts)
	return pool, db, err
}

// Deps is what a pipeline step needs: configuration and a pool on a
// database at this build's schema version.
type Deps struct {
	Config *settings.Config
	Pool   *pgxpool.Pool
	Logger *slog.Logger
}

// Open loads the configuration, connects and checks the schema version: a
// step refuses to run on a bad configuration (*settings.InvalidError) or a
// schema that is behind (*postgres.SchemaBehindError).
func (e *Env) Open(ctx context.Context, opts postgres.PoolOptions) (*Deps, error) {
	cfg, err := e.LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	pool, _, err := e.Connect(ctx, opts)
	if err != nil {
		return nil, err
	}
	if _, err := postgres.CheckSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Deps{Config: cfg, Pool: pool, Logger: e.Logger}, nil
}

// Lazy opens Deps on first use and keeps them for the later invocations of
// a warm Lambda container; a failed open is retried on the next call
// rather than poisoning the container.
type Lazy struct {
	Env  *Env
	Pool postgres.PoolOptions

	mu   sync.Mutex
	deps *Deps
}

// Get returns the cached Deps, opening them when needed.
func (l *Lazy) Get(ctx context.Context) (*Deps, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deps != nil {
		return l.deps, nil
	}
	deps, err := l.Env.Open(ctx, l.Pool)
	if err != nil {
		return nil, err
	}
	l.deps = deps
	return deps, nil
}

// Close closes the pool, if one was opened.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deps != nil {
		l.deps.Pool.Close()
		l.deps = nil
	}
}

// Reset drops the cached Deps after an authentication failure, so the next
// Get reads the database secret again (a rotated password) and reconnects.
// It reports whether it reset.
func (l *Lazy) Reset(err error) bool {
	if !postgres.IsAuthFailure(err) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deps != nil {
		l.deps.Pool.Close()
		l.deps = nil
	}
	return true
}
