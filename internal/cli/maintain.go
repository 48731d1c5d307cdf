package cli

import (
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/maintain"
)

func (c *CLI) maintainCommand(g *globals) *cobra.Command {
	var asJSON, dryRun bool
	var budget string
	cmd := &cobra.Command{
		Use:   "maintain",
		Short: "Purge by retention, backfill pending embeddings, VACUUM (ANALYZE), report sizes",
		Long: `Database maintenance, the cycle's Maintain step run by hand: retention purges
(monitoring_config.json "retention": old observations, resolved quarantine and
review rows, sent notifications, cycles beyond cycles_keep), a backfill of
pending embeddings within --backfill-budget, VACUUM (ANALYZE) of every table,
and table and index sizes and dead tuples before and after. --dry-run counts
what would be purged and changes nothing.`,
		Example: `  scentmatch maintain --dry-run
  scentmatch maintain --backfill-budget 5m --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := time.Duration(0)
			if budget != "" {
				var err error
				if b, err = time.ParseDuration(budget); err != nil || b < 0 {
					return usage("--backfill-budget %q: give a duration (90s, 5m) or 0s for none", budget)
				}
				if b == 0 {
					b = -1
				}
			}
			d, closeFn, err := c.openDeps(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			m := &maintain.Maintainer{Pool: d.Pool, Config: d.Config, Logger: g.logger}
			if e, err := embedding.ForEnv(cmd.Context(), d.Config.Monitoring.Embedding, g.env.AWS); err == nil {
				m.Embedder = e
			}
			res, err := m.Run(cmd.Context(), maintain.Options{DryRun: dryRun, BackfillBudget: b})
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(res)
			}
			c.printMaintain(res)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be purged; change nothing")
	cmd.Flags().StringVar(&budget, "backfill-budget", "", "time allowed for embedding pending fragrances (default 2m; 0s skips)")
	return cmd
}

func (c *CLI) printMaintain(res *maintain.Result) {
	verb := "Purged"
	if res.DryRun {
		verb = "Would purge"
	}
	tables := make([]string, 0, len(res.Purged))
	for t := range res.Purged {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	fmt.Fprintf(c.Stdout, "%s:", verb)
	for _, t := range tables {
		fmt.Fprintf(c.Stdout, " %s %d", t, res.Purged[t])
	}
	fmt.Fprintln(c.Stdout)
	if res.EmbeddingSkipped != "" {
		fmt.Fprintf(c.Stdout, "Embeddings: no backfill (%s); %d pending.\n", res.EmbeddingSkipped, res.PendingEmbeddings)
	} else {
		fmt.Fprintf(c.Stdout, "Embeddings: %d backfilled, %d pending.\n", res.EmbeddingsBackfilled, res.PendingEmbeddings)
	}
	if !res.DryRun {
		fmt.Fprintf(c.Stdout, "Vacuumed and analyzed %d tables.\n", len(res.Vacuumed))
	}
	fmt.Fprintf(c.Stdout, "Database %s -> %s, dead tuples %d -> %d; %.1f s in all.\n",
		bytesHuman(res.Before.DatabaseBytes), bytesHuman(res.After.DatabaseBytes), res.Before.DeadTuples, res.After.DeadTuples, res.Seconds["total"])
}

func bytesHuman(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
