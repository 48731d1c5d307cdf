package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// healthTimeout bounds the whole check against an unreachable database.
const healthTimeout = 5 * time.Second

func (c *CLI) healthCommand(g *globals) *cobra.Command {
	var asJSON bool
	var components []string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the pipeline can run: database, migrations, configuration, upstream, e-mail, last cycle, error rate",
		Long: `Check each component the pipeline needs and print a report; exit 1 when any
component is unhealthy. An unreachable database is reported within 5 seconds
with "database_connection": false and the reason (password masked). With no
DATABASE_URL the embedded local database is started first if needed.

Components: database (server version, and the connection mode: the one in
use, from SCENTMATCH_DB_POOLING, against what the server looks like; a
mismatch is a WARN naming what to set), migrations, configuration; upstream (robots.txt of each
enabled source in scraping_ethics.json is reachable; a stopped local sandbox
is skipped); email (the outbox $SCENTMATCH_HOME/outbox is writable, or with
SCENTMATCH_EMAIL=ses the SES account sends and is out of the sandbox, as the
status function checks in AWS); last_cycle (the newest cycle
started within thresholds.last_cycle_max_age_days, did not fail and is not
stuck); error_rate (the newest recorded error rate is at most
thresholds.error_rate_max_percent). --component limits the check.`,
		Example: `  scentmatch health
  scentmatch health --json | jq .components.database
  scentmatch health --component last_cycle --component error_rate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			for _, n := range components {
				if !slices.Contains(health.Names, n) {
					return usage("--component %q: use one of %s", n, strings.Join(health.Names, ", "))
				}
			}
			cfg, problems, cfgErr := g.env.CheckConfig(ctx)
			in := c.healthInputs(ctx, g)
			in.Only = components
			in.Connect = func(ctx context.Context) (*pgxpool.Pool, error) {
				db, err := g.env.ResolveDatabase(ctx, true)
				if err != nil {
					return nil, err
				}
				// The embedded cluster may take a while to start the first
				// time; the 5-second budget is for reaching a server.
				ctx, cancel := context.WithTimeout(ctx, healthTimeout)
				defer cancel()
				// The mode in use is read from the pool (db.Pooling). Two connections: the pooling check compares the backends
				// of two open client connections.
				return db.Connect(ctx, postgres.PoolOptions{MaxConns: 2, ConnectTimeout: healthTimeout - time.Second})
			}
			in.Config, in.Problems, in.ConfigErr = cfg, problems, cfgErr
			in.Upstream = c.upstreamHealth(g, cfg)
			rep := health.Check(ctx, in)
			if asJSON {
				if err := c.printJSON(rep); err != nil {
					return err
				}
			} else {
				c.printHealth(rep)
			}
			if !rep.Healthy {
				return failed()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringSliceVar(&components, "component", nil, "check only this component (repeatable): "+strings.Join(health.Names, ", "))
	return cmd
}

func (c *CLI) printHealth(rep health.Report) {
	names := make([]string, 0, len(rep.Components))
	for n := range rep.Components {
		names = append(names, n)
	}
	sort.Strings(names)
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	for _, n := range names {
		comp := rep.Components[n]
		state := "ok"
		switch {
		case !comp.Healthy:
			state = "UNHEALTHY"
		case comp.Severity == health.SeverityWarn:
			state = "WARN"
		case comp.Skipped:
			state = "skipped"
		}
		latency := ""
		if comp.LatencyMS != nil {
			latency = fmt.Sprintf("%.1f ms", *comp.LatencyMS)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n, state, latency, comp.Detail)
	}
	w.Flush()
	if rep.Healthy {
		fmt.Fprintf(c.Stdout, "All components healthy (database_connection: %t).\n", rep.DatabaseConnection)
	} else {
		fmt.Fprintf(c.Stdout, "UNHEALTHY: %v (database_connection: %t).\n", rep.Unhealthy(), rep.DatabaseConnection)
	}
}
