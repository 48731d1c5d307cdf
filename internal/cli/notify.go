package cli

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func (c *CLI) notifyCommand(g *globals) *cobra.Command {
	var test, asJSON bool
	var typ, cycleID string
	var to []string
	cmd := &cobra.Command{
		Use:   "notify (--test [--type TYPE] [--to ADDR] | --cycle ID)",
		Short: "Send test e-mails, or the e-mails a cycle calls for",
		Long: `With --test, render each notification type (or only --type) from fixture
data labelled TEST and send it to the type's configured recipients (or --to).
Nothing is recorded in the database.

With --cycle, render and send the messages the cycle calls for, as its
Notify step would: for a failed cycle the error alert only. Each message is
recorded before it is sent, so a second call sends nothing new.

Messages go to the outbox ($SCENTMATCH_HOME/outbox, one .eml file each,
their paths printed) unless SCENTMATCH_EMAIL=ses, or inside AWS Lambda,
where they go through Amazon SES (From: SENDER_ADDRESS, else
notifications.sender). Types: weekly_report, new_fragrance,
performance_warning, error, health_failure.`,
		Example: `  scentmatch notify --test
  scentmatch notify --test --type error --to me@example.com
  SCENTMATCH_EMAIL=ses scentmatch notify --test --type weekly_report
  scentmatch notify --cycle schedule-20261129T0200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case test && cycleID != "":
				return usage("use --test or --cycle, not both")
			case test:
				return c.notifyTest(cmd, g, typ, to, asJSON)
			case cycleID != "":
				if typ != "" || len(to) > 0 {
					return usage("--type and --to go with --test only")
				}
				return c.notifyCycle(cmd, g, cycleID, asJSON)
			}
			return usage("say --test or --cycle ID\nRun 'scentmatch notify --help' for usage")
		},
	}
	f := cmd.Flags()
	f.BoolVar(&test, "test", false, "send each type with fixture data labelled TEST")
	f.StringVar(&typ, "type", "", "with --test: only this type")
	f.StringSliceVar(&to, "to", nil, "with --test: send to these addresses instead of the configured recipients")
	f.StringVar(&cycleID, "cycle", "", "send what this cycle calls for")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (c *CLI) notifyTest(cmd *cobra.Command, g *globals, typ string, to []string, asJSON bool) error {
	ctx := cmd.Context()
	kinds := notify.Kinds
	if typ != "" {
		k, err := notify.ParseKind(typ)
		if err != nil {
			return usage("--type: %v", err)
		}
		kinds = []notify.Kind{k}
	}
	for _, addr := range to {
		if _, err := mail.ParseAddress(addr); err != nil {
			return usage("--to: %v", err)
		}
	}
	cfg, err := g.env.LoadConfig(ctx)
	if err != nil {
		return err
	}
	setup, err := notify.FromEnv(ctx, g.env, cfg)
	if err != nil {
		return err
	}
	if !cfg.Monitoring.Notifications.Enabled {
		g.logger.WarnContext(ctx, "notifications are disabled in the configuration; --test sends anyway")
	}
	out, err := notify.SendTests(ctx, setup.Sender, cfg, setup.From, kinds, to, time.Now())
	if err != nil {
		return err
	}
	failures := 0
	for _, o := range out {
		if o.Error != "" {
			failures++
		}
		if o.Skipped != "" {
			g.logger.WarnContext(ctx, "configuration warning", "path", "$.notifications.recipients."+string(o.Kind), "rule", "recipients", "problem", o.Skipped)
		}
	}
	if asJSON {
		if err := c.printJSON(map[string]any{"via": setup.Sender.Name(), "messages": out}); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
		for _, o := range out {
			switch {
			case o.Skipped != "":
				fmt.Fprintf(w, "skipped\t%s\t%s\n", o.Kind, o.Skipped)
			case o.Error != "":
				fmt.Fprintf(w, "FAILED\t%s\tto %s: %s\n", o.Kind, strings.Join(o.Recipients, ", "), o.Error)
			default:
				fmt.Fprintf(w, "sent\t%s\tto %s\t%s\n", o.Kind, strings.Join(o.Recipients, ", "), o.MessageID)
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "%d test message(s) via %s, %d failed.\n", len(out)-failures, setup.Sender.Name(), failures)
	}
	if failures > 0 {
		return failed()
	}
	return nil
}

func (c *CLI) notifyCycle(cmd *cobra.Command, g *globals, id string, asJSON bool) error {
	ctx := cmd.Context()
	cfg, err := g.env.LoadConfig(ctx)
	if err != nil {
		return err
	}
	setup, err := notify.FromEnv(ctx, g.env, cfg)
	if err != nil {
		return err
	}
	pool, _, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	st, status, err := notify.StateFromCycle(ctx, pool, id)
	if errors.Is(err, notify.ErrNoCycle) {
		return usage("no cycle %q", id)
	}
	if err != nil {
		return err
	}
	if status == "running" {
		return &exitError{code: ExitFailure, err: fmt.Errorf("cycle %s is still running: its Notify step sends its messages", id)}
	}
	n := &notify.Notifier{DB: pool, Config: cfg, Sender: setup.Sender, From: setup.From, StateMachineARN: setup.StateMachineARN, Logger: g.logger}
	res, err := n.Handle(ctx, st)
	if err != nil {
		return err
	}
	if asJSON {
		if err := c.printJSON(res); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
		fresh, already := 0, 0
		for _, s := range res.Sent {
			what := string(s.Kind)
			if s.Resolved {
				what += " (resolved)"
			}
			if s.AlreadySent {
				already++
				fmt.Fprintf(w, "already sent\t%s\tto %s\t%s\n", what, strings.Join(s.Recipients, ", "), s.MessageID)
				continue
			}
			fresh++
			fmt.Fprintf(w, "sent\t%s\tto %s\t%s\n", what, strings.Join(s.Recipients, ", "), s.MessageID)
		}
		for _, f := range res.Failed {
			fmt.Fprintf(w, "FAILED\t%s\tto %s\t%s: %s\n", f.Kind, strings.Join(f.Recipients, ", "), f.ErrorKind, f.Error)
		}
		for _, s := range res.Skipped {
			fmt.Fprintf(w, "skipped\t%s\t%s\n", s.Kind, s.Reason)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "Cycle %s (%s): %d message(s) sent via %s, %d already sent, %d skipped, %d failed.\n",
			id, status, fresh, res.Via, already, len(res.Skipped), len(res.Failed))
	}
	if len(res.Failed) > 0 {
		return failed()
	}
	return nil
}
