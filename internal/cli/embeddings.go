package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/embedding"
)

func (c *CLI) embeddingsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "embeddings",
		Short: "Vectors for similarity search: status and regeneration",
		Example: `  scentmatch embeddings status
  scentmatch embeddings regenerate --all`,
	}
	var asJSON bool
	status := &cobra.Command{
		Use:     "status",
		Short:   "Count current, pending and not-embeddable fragrances for the configured model",
		Example: "  scentmatch embeddings status --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			im, closeFn, err := c.openImporter(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			e := im.Config.Monitoring.Embedding
			st, err := embedding.GetStatus(cmd.Context(), im.Pool, e.Model, e.Dimension)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(st)
			}
			fmt.Fprintf(c.Stdout, "model %s (%d dimensions): %d fragrances, %d current, %d pending, %d not embeddable (no notes and no accords)\n",
				st.Model, st.Dimension, st.Fragrances, st.Current, st.Pending, st.NotEmbeddable)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var all, regenJSON bool
	var model string
	regenerate := &cobra.Command{
		Use:   "regenerate",
		Short: "Mark vectors stale and re-embed every pending fragrance in batches",
		Long: `Re-embed the catalog: with --all (or --model M) existing vectors are marked
stale first; then every pending fragrance is embedded in batches of
embedding.batch_size, newest first.`,
		Example: `  scentmatch embeddings regenerate          # only what is pending
  scentmatch embeddings regenerate --all    # every vector of every model`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			im, closeFn, err := c.openImporter(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			e, err := embedding.ForEnv(ctx, im.Config.Monitoring.Embedding, g.env.AWS)
			if err != nil {
				return err
			}
			if all || model != "" {
				n, err := embedding.MarkStale(ctx, im.Pool, model)
				if err != nil {
					return err
				}
				g.logger.InfoContext(ctx, "marked embeddings stale", "count", n, "model", model)
			}
			res, err := embedding.Backfill(ctx, im.Pool, e, im.Config.Monitoring.Embedding.BatchSize)
			if err != nil {
				return err
			}
			if regenJSON {
				return c.printJSON(res)
			}
			fmt.Fprintf(c.Stdout, "Embedded %d fragrance(s) in %.1f s; %d pending, %d failed.\n", res.Embedded, res.Seconds, res.Pending, res.Failed)
			return nil
		},
	}
	regenerate.Flags().BoolVar(&all, "all", false, "mark every vector stale first")
	regenerate.Flags().StringVar(&model, "model", "", "mark this model's vectors stale first")
	regenerate.Flags().BoolVar(&regenJSON, "json", false, "print JSON")
	cmd.AddCommand(status, regenerate)
	return cmd
}
