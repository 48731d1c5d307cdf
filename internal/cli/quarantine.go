package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func (c *CLI) quarantineCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "List and replay records that failed validation",
		Example: `  scentmatch quarantine list --run 12
  scentmatch quarantine replay --run 12`,
	}
	var runID int64
	var all, asJSON bool
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List quarantined records with rule, field, reason and an excerpt",
		Example: `  scentmatch quarantine list
  scentmatch quarantine list --run 12 --all --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			im, closeFn, err := c.openImporter(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			items, err := im.ListQuarantine(cmd.Context(), importer.ListFilter{RunID: runID, All: all, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				if items == nil {
					items = []importer.Quarantined{}
				}
				return c.printJSON(items)
			}
			if len(items) == 0 {
				fmt.Fprintln(c.Stdout, "No quarantined records.")
				return nil
			}
			w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tRUN\tRECORD\tLINE\tSOURCE_ID\tRULE\tFIELD\tREASON\tEXCERPT")
			for _, q := range items {
				fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.ImportRunID, q.Index, intOr(q.Line), strOr(q.SourceID), q.Rule, strOr(q.Field), q.Reason, strOr(q.Excerpt))
			}
			return w.Flush()
		},
	}
	list.Flags().Int64Var(&runID, "run", 0, "only this import run")
	list.Flags().BoolVar(&all, "all", false, "include replayed and discarded records")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many records")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var replayRun int64
	var replayJSON, dryRun bool
	replay := &cobra.Command{
		Use:   "replay",
		Short: "Re-validate open quarantined records and import those that now pass",
		Long: `Re-validate open quarantined records with the current configuration and
brands (after fixing a threshold or adding an alias, say), import those that
now pass as a replay import run, and mark them replayed. Records that still
fail stay open, counted by rule. A record whose stored copy was altered when
it was quarantined (invalid UTF-8 or NUL bytes replaced, text over 64 KiB
truncated) is refused and stays open: fix the source file and import it
again.`,
		Example: `  scentmatch quarantine replay
  scentmatch quarantine replay --run 12 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			im, closeFn, err := c.openImporter(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			sum, err := im.Replay(cmd.Context(), replayRun, importer.Options{DryRun: dryRun})
			if replayJSON {
				if perr := c.printJSON(sum); perr != nil {
					return perr
				}
			} else if sum != nil {
				imported := 0
				if sum.Import != nil {
					imported = sum.Import.Records
				}
				fmt.Fprintf(c.Stdout, "Checked %d quarantined record(s): %d now pass and were imported, %d still fail, %d refused.\n",
					sum.Checked, imported, sum.StillFailing, len(sum.Refused))
				for rule, n := range sum.FailingByRule {
					fmt.Fprintf(c.Stdout, "  still failing %s: %d\n", rule, n)
				}
				for _, r := range sum.Refused {
					fmt.Fprintf(c.Stdout, "  refused row %d (run %d, line %s, source_id %s): %s\n", r.ID, r.ImportRunID, intOr(r.Line), strOr(r.SourceID), r.Reason)
				}
				if sum.Import != nil {
					for _, o := range importer.Outcomes {
						if n := sum.Import.Counts[o]; n > 0 {
							fmt.Fprintf(c.Stdout, "  %s: %d\n", o, n)
						}
					}
				}
			}
			return err
		},
	}
	replay.Flags().Int64Var(&replayRun, "run", 0, "only records of this import run")
	replay.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be imported, change nothing")
	replay.Flags().BoolVar(&replayJSON, "json", false, "print JSON")
	cmd.AddCommand(list, replay)
	return cmd
}

func (c *CLI) openImporter(cmd *cobra.Command, g *globals) (*importer.Importer, func(), error) {
	ctx := cmd.Context()
	cfg, err := g.env.LoadConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	pool, _, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		return nil, nil, err
	}
	if _, err := postgres.CheckSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return &importer.Importer{Pool: pool, Config: cfg, Logger: g.logger}, pool.Close, nil
}

func strOr(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func intOr(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}
