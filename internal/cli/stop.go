package cli

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func (c *CLI) stopCommand(g *globals) *cobra.Command {
	return c.controlCommand(g, true)
}

func (c *CLI) startCommand(g *globals) *cobra.Command {
	return c.controlCommand(g, false)
}

func (c *CLI) controlCommand(g *globals, stop bool) *cobra.Command {
	var reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop all operations: the stored flag, the weekly schedule and running executions",
		Long: `Stop all operations. The database flag monitoring_enabled is set to false
(status shows it): a running cycle ends as stopped at its next state and no
cycle starts. In AWS ($SCHEDULE_NAME, $SCHEDULE_GROUP, $STATE_MACHINE_ARN)
the EventBridge schedule is disabled and every running Step Functions
execution is stopped. Each part acts even when another fails; exit 1 when
any failed. 'scentmatch start' undoes it.`,
		Example: `  scentmatch stop --reason "bad upstream data, investigating"
  SCHEDULE_NAME=scentmatch-prod-weekly-cycle STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:scentmatch-prod-cycle scentmatch stop --json`,
	}
	if !stop {
		cmd.Use = "start"
		cmd.Short = "Resume operations after a stop: the stored flag and the weekly schedule"
		cmd.Long = `Resume operations: monitoring_enabled is set to true, then (in AWS,
$SCHEDULE_NAME) the EventBridge schedule is enabled again. Executions that
stop ended are not restarted; the next scheduled cycle runs as usual.`
		cmd.Example = `  scentmatch start --reason "restored from the 2026-03-01 backup"`
	}
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		op := &control.Operator{By: c.operatorName(), ScheduleName: c.Getenv(control.EnvScheduleName),
			ScheduleGroup: c.Getenv(control.EnvScheduleGroup), StateMachineARN: c.Getenv(control.EnvStateMachineARN)}
		pool, _, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: 2})
		if err != nil {
			op.DBError = err
			g.logger.ErrorContext(ctx, "the database is unreachable: the stored flag is not changed", "err", err)
		} else {
			defer pool.Close()
			op.DB = pool
		}
		if op.ScheduleName != "" || op.StateMachineARN != "" {
			cfg, err := g.env.AWS(ctx)
			if err != nil {
				return err
			}
			if op.ScheduleName != "" {
				op.Scheduler = scheduler.NewFromConfig(cfg)
			}
			if op.StateMachineARN != "" {
				op.Executions = sfn.NewFromConfig(cfg)
			}
		}
		var r control.Report
		if stop {
			r = op.Stop(ctx, reason)
		} else {
			r = op.Start(ctx, reason)
		}
		if asJSON {
			if err := c.printJSON(r); err != nil {
				return err
			}
		} else {
			c.printControl(r)
		}
		if !r.OK() {
			return failed()
		}
		return nil
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (stored with the flag, and given as the cause of stopped executions)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// operatorName names who ran the command, for the record.
func (c *CLI) operatorName() string {
	for _, k := range []string{"SCENTMATCH_OPERATOR", "USER", "LOGNAME"} {
		if v := c.Getenv(k); v != "" {
			return v
		}
	}
	return "unknown operator"
}

func (c *CLI) printControl(r control.Report) {
	part := func(p *control.Part, did, already string) {
		if p == nil {
			return
		}
		switch {
		case p.Error != "":
			fmt.Fprintf(c.Stdout, "  %s: FAILED: %s\n", p.Target, p.Error)
		case p.Changed:
			fmt.Fprintf(c.Stdout, "  %s: %s\n", p.Target, did)
		default:
			fmt.Fprintf(c.Stdout, "  %s: %s\n", p.Target, already)
		}
	}
	if r.Action == "stop" {
		fmt.Fprintln(c.Stdout, "Stop:")
		part(&r.Flag, "set to false", "already false")
		if r.RunningCycle != "" && r.Flag.Error == "" {
			fmt.Fprintf(c.Stdout, "  cycle %s is running: it ends as stopped at its next state\n", r.RunningCycle)
		}
		part(r.Schedule, "disabled", "already disabled")
		if r.Executions != nil {
			part(r.Executions, fmt.Sprintf("stopped %d: %s", len(r.Stopped), strings.Join(r.Stopped, ", ")), "none running")
		}
	} else {
		fmt.Fprintln(c.Stdout, "Start:")
		part(&r.Flag, "set to true", "already true")
		part(r.Schedule, "enabled", "already enabled")
	}
	if r.OK() {
		fmt.Fprintf(c.Stdout, "monitoring_enabled: %t\n", r.MonitoringEnabled)
	} else {
		fmt.Fprintln(c.Stdout, "Not every part acted (see FAILED above): fix the cause and run the command again; it is safe to repeat.")
	}
}
