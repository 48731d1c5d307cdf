// Package health answers "is the pipeline able to run?": it checks each
// component (database, migrations, configuration; later issues add more)
// and summarises them in one report, healthy only when every component is.
package health

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Component is one component's verdict.
type Component struct {
	Healthy   bool     `json:"healthy"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	Detail    string   `json:"detail"`
	// Status is "skipped" for a component not checked on purpose (it
	// counts as healthy); empty otherwise.
	Status string `json:"status,omitempty"`
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

// Inputs are what the checks look at. Connect is called once; it returns
// a pool or the reason there is none.
type Inputs struct {
	Connect  func(ctx context.Context) (*pgxpool.Pool, error)
	Config   *settings.Config
	Problems settings.Problems
	// ConfigErr is set when the configuration could not be read at all.
	ConfigErr error
	// Upstream, when set, checks the upstream source (the "upstream" component).
	Upstream func(ctx context.Context) Component
	Now      func() time.Time
}

// Check runs every check and returns the report.
func Check(ctx context.Context, in Inputs) Report {
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	r := Report{CheckedAt: now().UTC(), Components: map[string]Component{}}

	start := now()
	pool, err := in.Connect(ctx)
	latency := float64(now().Sub(start).Microseconds()) / 1000
	if err != nil {
		r.Components["database"] = Component{Healthy: false, LatencyMS: &latency, Detail: redact.Secrets(err.Error())}
		r.Components["migrations"] = Component{Healthy: false, Detail: "not checked: the database is unreachable"}
	} else {
		defer pool.Close()
		r.DatabaseConnection = true
		r.Components["database"] = databaseComponent(ctx, pool, latency)
		r.Components["migrations"] = migrationsComponent(ctx, pool)
	}
	r.Components["configuration"] = configComponent(in)
	if in.Upstream != nil {
		r.Components["upstream"] = in.Upstream(ctx)
	}

	r.Healthy = len(r.Unhealthy()) == 0
	return r
}

func databaseComponent(ctx context.Context, pool *pgxpool.Pool, connectMS float64) Component {
	var version string
	start := time.Now()
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return Component{Healthy: false, LatencyMS: &connectMS, Detail: redact.Secrets(err.Error())}
	}
	ms := connectMS + float64(time.Since(start).Microseconds())/1000
	return Component{Healthy: true, LatencyMS: &ms, Detail: "PostgreSQL " + version}
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
