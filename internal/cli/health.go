package cli

import (
	"context"
	"fmt"
	"sort"
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
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the pipeline can run: database, migrations, configuration",
		Long: `Check each component the pipeline needs and print a report; exit 1 when any
component is unhealthy. An unreachable database is reported within 5 seconds
with "database_connection": false and the reason (password masked). With no
DATABASE_URL the embedded local database is started first if needed.`,
		Example: `  scentmatch health
  scentmatch health --json | jq .components.database`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, problems, cfgErr := g.env.CheckConfig(ctx)
			rep := health.Check(ctx, health.Inputs{
				Connect: func(ctx context.Context) (*pgxpool.Pool, error) {
					db, err := g.env.ResolveDatabase(ctx, true)
					if err != nil {
						return nil, err
					}
					// The embedded cluster may take a while to start the first
					// time; the 5-second budget is for reaching a server.
					ctx, cancel := context.WithTimeout(ctx, healthTimeout)
					defer cancel()
					return postgres.Connect(ctx, db.URL, postgres.PoolOptions{MaxConns: 1, ConnectTimeout: healthTimeout - time.Second})
				},
				Config:    cfg,
				Problems:  problems,
				ConfigErr: cfgErr,
				Upstream:  c.upstreamHealth(g, cfg),
			})
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
		if !comp.Healthy {
			state = "UNHEALTHY"
		}
		if comp.Status != "" {
			state = comp.Status
		}
		latency := ""
		if comp.LatencyMS != nil {
			latency = fmt.Sprintf("%.1f ms", *comp.LatencyMS)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n, state, latency, comp.Detail)
	}
	w.Flush()
	if rep.Healthy {
		fmt.Fprintln(c.Stdout, "All components healthy (database_connection: true).")
	} else {
		fmt.Fprintf(c.Stdout, "UNHEALTHY: %v (database_connection: %t).\n", rep.Unhealthy(), rep.DatabaseConnection)
	}
}
