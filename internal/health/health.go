// Package health answers "is the pipeline able to run?": it checks each
// component (database, migrations, configuration, upstream, email,
// last_cycle, error_rate) and summarises them in one report, healthy only
// when every component is. A component may be skipped (healthy, with the
// reason): the local sandbox upstream when it is not running.
package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Component names.
const (
	Database      = "database"
	Migrations    = "migrations"
	Configuration = "configuration"
	Upstream      = "upstream"
	Email         = "email"
	LastCycle     = "last_cycle"
	ErrorRate     = "error_rate"
)

// Names lists every component.
var Names = []string{Database, Migrations, Configuration, Upstream, Email, LastCycle, ErrorRate}

// Component is one component's verdict.
type Component struct {
	Healthy bool `json:"healthy"`
	// Skipped says the component was not checked, for the reason in
	// Detail (it counts as healthy).
	Skipped bool `json:"skipped,omitempty"`
	// Severity is "warn" for a healthy component that needs a look (the
	// reason is in Detail); empty otherwise.
	Severity  string   `json:"severity,omitempty"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	// ServerVersion is the database component's PostgreSQL server_version.
	ServerVersion string `json:"server_version,omitempty"`
	Detail        string `json:"detail"`
	// Pooling is the database component's connection mode: the one in
	// use, the one detected, and why.
	Pooling *Pooling `json:"pooling,omitempty"`
}

// Report is the whole health check.
type Report struct {
	Healthy            bool                 `json:"healthy"`
	DatabaseConnection bool                 `json:"database_connection"`
	CheckedAt          time.Time            `json:"checked_at"`
	Components         map[string]Component `json:"components"`
}

// Unhealthy lists the unhealthy components' names, sorted.
func (r Report) Unhealthy() []string {
	var names []string
	for n, c := range r.Components {
		if !c.Healthy {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Inputs are what the checks look at.
type Inputs struct {
	// Connect opens a pool (called once; Check closes the pool), or says
	// why there is none. Ignored when Pool is set.
	Connect func(ctx context.Context) (*pgxpool.Pool, error)
	// Pool is an open pool to use and leave open (a warm Lambda's).
	Pool *pgxpool.Pool
	// Pooling is the connection mode in use; empty (the callers' case):
	// read from the pool, which app.Database.Connect opened in its mode.
	Pooling  postgres.Pooling
	Config   *settings.Config
	Problems settings.Problems
	// ConfigErr is set when the configuration could not be read at all.
	ConfigErr error
	// Upstream, when set, checks the configured source (robots.txt
	// through the same code the crawl uses) in place of the Ethics check.
	Upstream func(ctx context.Context) Component
	// Ethics is scraping_ethics.json as read (see ReadEthics), for the
	// upstream check; nil skips it.
	Ethics []byte
	// HTTP fetches robots.txt (nil: a client with a 5-second timeout).
	HTTP *http.Client
	// Email checks the e-mail channel (SES in AWS, the outbox locally);
	// nil skips it.
	Email EmailChecker
	// Only limits the report to these components (empty: all).
	Only []string
	Now  func() time.Time
}

// Check runs the checks (independent ones concurrently) and returns the report.
func Check(ctx context.Context, in Inputs) Report {
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	r := Report{CheckedAt: now().UTC(), Components: map[string]Component{}}
	want := func(name string) bool {
		if len(in.Only) == 0 {
			return true
		}
		for _, n := range in.Only {
			if n == name {
				return true
			}
		}
		return false
	}
	var mu sync.Mutex
	put := func(name string, c Component) {
		mu.Lock()
		defer mu.Unlock()
		r.Components[name] = c
	}
	var wg sync.WaitGroup
	if want(Upstream) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if in.Upstream != nil {
				put(Upstream, in.Upstream(ctx))
				return
			}
			put(Upstream, upstreamComponent(ctx, in.Ethics, in.HTTP))
		}()
	}
	if want(Email) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if in.Email == nil {
				put(Email, Component{Healthy: true, Skipped: true, Detail: "no e-mail channel configured for this check"})
				return
			}
			put(Email, in.Email.CheckEmail(ctx))
		}()
	}
	if want(Configuration) {
		put(Configuration, configComponent(in))
	}

	th := thresholds(in.Config)
	pool, latency, err := connect(ctx, in, now)
	if err != nil {
		unreachable := Component{Healthy: false, Detail: "not checked: the database is unreachable"}
		if want(Database) {
			put(Database, Component{Healthy: false, LatencyMS: &latency, Detail: redact.Secrets(err.Error())})
		}
		for _, n := range []string{Migrations, LastCycle, ErrorRate} {
			if want(n) {
				put(n, unreachable)
			}
		}
	} else {
		if in.Pool == nil {
			defer pool.Close()
		}
		r.DatabaseConnection = true
		if want(Database) {
			put(Database, databaseComponent(ctx, pool, latency, in.Pooling))
		}
		if want(Migrations) {
			put(Migrations, migrationsComponent(ctx, pool))
		}
		if want(LastCycle) {
			put(LastCycle, lastCycleComponent(ctx, pool, now(), th.LastCycleMaxAgeDays))
		}
		if want(ErrorRate) {
			put(ErrorRate, errorRateComponent(ctx, pool, th.ErrorRateMaxPercent))
		}
	}
	wg.Wait()
	// A send SES refused (a rejection, a sandbox recipient) makes e-mail
	// unhealthy until a later send succeeds, whatever the account says.
	if pool != nil && want(Email) {
		if f, found, err := notify.LastFailure(ctx, pool); err == nil && found {
			c := r.Components[Email]
			c.Healthy, c.Skipped = false, false
			c.Detail = fmt.Sprintf("the last %s e-mail was not sent (%s, %s): %s; %s", f.Kind, f.ErrorKind,
				f.At.UTC().Format(time.RFC3339), f.Error, c.Detail)
			r.Components[Email] = c
		}
	}
	r.Healthy = len(r.Unhealthy()) == 0
	return r
}

func connect(ctx context.Context, in Inputs, now func() time.Time) (*pgxpool.Pool, float64, error) {
	start := now()
	if in.Pool != nil {
		err := in.Pool.Ping(ctx)
		return in.Pool, float64(now().Sub(start).Microseconds()) / 1000, err
	}
	if in.Connect == nil {
		return nil, 0, errors.New("no database to check")
	}
	pool, err := in.Connect(ctx)
	return pool, float64(now().Sub(start).Microseconds()) / 1000, err
}

// thresholds are the configured ones, or the defaults when the
// configuration could not be loaded.
func thresholds(cfg *settings.Config) settings.Thresholds {
	if cfg != nil && cfg.Monitoring.Thresholds.LastCycleMaxAgeDays > 0 {
		return cfg.Monitoring.Thresholds
	}
	return settings.Thresholds{LastCycleMaxAgeDays: 8, ErrorRateMaxPercent: 5}
}

func databaseComponent(ctx context.Context, pool *pgxpool.Pool, connectMS float64, declared postgres.Pooling) Component {
	var version string
	start := time.Now()
	// The simple protocol: no named statement, whatever the pool's mode.
	if err := pool.QueryRow(ctx, "SHOW server_version", pgx.QueryExecModeSimpleProtocol).Scan(&version); err != nil {
		return Component{Healthy: false, LatencyMS: &connectMS, Detail: redact.Secrets(err.Error())}
	}
	ms := connectMS + float64(time.Since(start).Microseconds())/1000
	c := Component{Healthy: true, LatencyMS: &ms, ServerVersion: version, Detail: "PostgreSQL " + version}
	pl, err := detectPooling(ctx, pool, declared)
	c.Pooling = &pl
	switch {
	case err != nil:
		c.Severity = SeverityWarn
		c.Detail += fmt.Sprintf("; connection mode %s (not verified: %s)", pl.Mode, redact.Secrets(err.Error()))
	case pl.Warning != "":
		c.Severity = SeverityWarn
		c.Detail += fmt.Sprintf("; connection mode %s, detected %s; WARNING: %s (%s)", pl.Mode, pl.Detected, pl.Warning, strings.Join(pl.Signals, "; "))
	default:
		c.Detail += fmt.Sprintf("; connection mode %s, detected %s (%s)", pl.Mode, pl.Detected, strings.Join(pl.Signals, "; "))
	}
	return c
}

func migrationsComponent(ctx context.Context, pool *pgxpool.Pool) Component {
	st, err := postgres.CheckSchema(ctx, pool)
	if err != nil {
		return Component{Healthy: false, Detail: err.Error()}
	}
	return Component{Healthy: true, Detail: fmt.Sprintf("schema at version %d, none pending", st.Current)}
}

func configComponent(in Inputs) Component {
	if in.ConfigErr != nil {
		return Component{Healthy: false, Detail: in.ConfigErr.Error()}
	}
	errs, warns := in.Problems.Errors(), in.Problems.Warnings()
	if len(errs) > 0 {
		lines := make([]string, 0, len(errs))
		for _, p := range errs {
			lines = append(lines, p.String())
		}
		return Component{Healthy: false, Detail: fmt.Sprintf("%d error(s): %s", len(errs), strings.Join(lines, "; "))}
	}
	origins := []string{}
	if in.Config != nil {
		for _, f := range settings.Files {
			origins = append(origins, f+"="+in.Config.Origins[f])
		}
	}
	detail := "valid (" + strings.Join(origins, ", ") + ")"
	if len(warns) > 0 {
		detail += fmt.Sprintf(", %d warning(s)", len(warns))
	}
	return Component{Healthy: true, Detail: detail}
}
