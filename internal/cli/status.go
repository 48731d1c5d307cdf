package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/status"
)

// openDeps loads the configuration and opens a pool on a database at this
// build's schema version; the returned function closes the pool.
func (c *CLI) openDeps(cmd *cobra.Command, g *globals) (*app.Deps, func(), error) {
	d, err := g.env.Open(cmd.Context(), postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		return nil, nil, err
	}
	return d, d.Pool.Close, nil
}

// schedulerFor returns the AWS scheduler when SCHEDULE_NAME
// names one, else nil (the local flag).
func (c *CLI) schedulerFor(ctx context.Context, g *globals) (status.Scheduler, error) {
	name := c.Getenv(status.EnvScheduleName)
	if name == "" {
		return nil, nil
	}
	cfg, err := g.env.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return status.AWS{Schedules: scheduler.NewFromConfig(cfg), StateMachine: sfn.NewFromConfig(cfg), ScheduleName: name, StateMachineARN: c.Getenv(status.EnvStateMachineARN)}, nil
}

func (c *CLI) statusCommand(g *globals) *cobra.Command {
	var asJSON, withHealth bool
	var month string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Is monitoring on, is the scheduler sound, what did the last cycle do",
		Long: `Print monitoring_enabled (the local flag that scentmatch stop/start flip, or
the EventBridge schedule's state when SCHEDULE_NAME names one),
scheduler_running (no failed or stuck last cycle; in AWS the state machine
exists and its last execution did not fail), the schedule and next run, the
last cycle (outcome, new fragrances, duration, health score, failed step),
pending embeddings and catalog totals. --month summarises one month for the
monthly review; --health adds the health report (exit 1 when unhealthy).`,
		Example: `  scentmatch status
  scentmatch status --json | jq .last_cycle
  scentmatch status --month 2026-11 --json > monthly_status_202611.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if month != "" {
				if _, _, err := status.ParseMonth(month); err != nil {
					return usage("--month: %v", err)
				}
			}
			d, closeFn, err := c.openDeps(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			sch, err := c.schedulerFor(ctx, g)
			if err != nil {
				return err
			}
			r := &status.Reporter{Pool: d.Pool, Config: d.Config, Scheduler: sch}
			rep, err := r.Report(ctx, month)
			if err != nil {
				return err
			}
			if withHealth {
				in := c.healthInputs(ctx, g)
				in.Pool, in.Config = d.Pool, d.Config
				hr := health.Check(ctx, in)
				rep.Health = &hr
			}
			if asJSON {
				err = c.printJSON(rep)
			} else {
				c.printStatus(rep)
			}
			if err == nil && rep.Health != nil && !rep.Health.Healthy {
				return failed()
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&month, "month", "", "summarise this month (YYYY-MM, UTC) for the monthly review")
	cmd.Flags().BoolVar(&withHealth, "health", false, "add the health report; exit 1 when unhealthy")
	return cmd
}

// healthInputs are the checks' inputs from the environment: the configured
// sources, and the e-mail channel the notify step would use (the outbox, or
// the SES account with SCENTMATCH_EMAIL=ses).
func (c *CLI) healthInputs(ctx context.Context, g *globals) health.Inputs {
	var in health.Inputs
	if ov, err := g.env.Overrides(ctx, g.env.ConfigLocation()); err == nil {
		in.Ethics, _ = health.ReadEthics(ctx, ov)
	}
	if c.Getenv(notify.EnvEmail) == "ses" {
		if cfg, err := g.env.AWS(ctx); err == nil {
			in.Email = health.SES{Client: sesv2.NewFromConfig(cfg)}
		}
	} else if dir, err := g.env.Home(); err == nil {
		in.Email = health.Outbox{Dir: filepath.Join(dir, notify.OutboxDir)}
	}
	return in
}

func (c *CLI) printStatus(rep *status.Report) {
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "monitoring_enabled\t%t\t(%s)\n", rep.MonitoringEnabled, rep.MonitoringSource)
	fmt.Fprintf(w, "scheduler_running\t%t\t(%s)\n", rep.SchedulerRunning, rep.SchedulerDetail)
	next := "none"
	if rep.NextRun != nil {
		next = rep.NextRun.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "schedule\t%s %s\tnext run %s\n", rep.Schedule, rep.Timezone, next)
	if lc := rep.LastCycle; lc != nil {
		score := "-"
		if lc.SystemHealthScore != nil {
			score = fmt.Sprintf("%.1f", *lc.SystemHealthScore)
		}
		fmt.Fprintf(w, "last_cycle\t%s\t%s, started %s, %.1f min, %d new, health %s\n", lc.ID, lc.Outcome,
			lc.StartedAt.Format(time.RFC3339), lc.ExecutionTimeMinutes, lc.NewFragrancesImported, score)
		if lc.FailedStep != nil || lc.ErrorMessage != nil {
			fmt.Fprintf(w, "\tfailed step %s\t%s\n", strOr(lc.FailedStep), strOr(lc.ErrorMessage))
		}
	} else {
		fmt.Fprintf(w, "last_cycle\tnone\t\n")
	}
	fmt.Fprintf(w, "pending_embeddings\t%d\t\n", rep.PendingEmbeddings)
	t := rep.Totals
	fmt.Fprintf(w, "totals\t%d fragrances, %d brands, %d vectors, %d cycles\t%d open reviews, %d open quarantine, %d notifications pending\n",
		t.Fragrances, t.Brands, t.Embeddings, t.Cycles, t.OpenReviews, t.OpenQuarantine, t.NotificationsDue)
	w.Flush()
	if m := rep.Month; m != nil {
		fmt.Fprintf(c.Stdout, "\n%s: %d cycle(s): %d succeeded, %d failed, %d running; %d new fragrance(s) imported, %d created in all (catalog %d at month end)\n",
			m.Month, m.Cycles.Total, m.Cycles.Succeeded, m.Cycles.Failed, m.Cycles.Running, m.NewFragrancesImported, m.FragrancesCreated, m.CatalogAtEnd)
		fmt.Fprintf(c.Stdout, "  duration avg %s, max %s minutes; health score avg %s, lowest %s; %d review(s) resolved, %d notification(s) sent\n",
			fmtStat(m.ExecutionTimeMinutes.Avg), fmtStat(m.ExecutionTimeMinutes.Max), fmtStat(m.HealthScore.Avg), fmtStat(m.HealthScore.Min),
			m.ReviewsResolved, m.NotificationsSent)
		for _, f := range m.FailedCycles {
			fmt.Fprintf(c.Stdout, "  failed: %s at step %s (%s)\n", f.ID, strOr(f.FailedStep), strOr(f.ErrorType))
		}
	}
	fmt.Fprintln(c.Stdout, rep.Summary)
	if rep.Health != nil {
		fmt.Fprintln(c.Stdout)
		c.printHealth(*rep.Health)
	}
}

func fmtStat(v *float64) string {
	if v == nil {
		return "-"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", *v), "0"), ".")
}
