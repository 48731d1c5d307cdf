package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/synth"
)

func (c *CLI) datasetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dataset",
		Short:   "Work with dataset files (generate synthetic ones for benchmarks)",
		Example: "  scentmatch dataset generate --records 200000 --format csv --out /tmp/bench.csv",
	}
	var opts synth.Options
	var out string
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Write a realistic synthetic fragrance dataset from a seed",
		Long: `Write a synthetic fragrance dataset: real-looking brands, names with flankers
and concentrations, tiered notes, weighted accords, years, ratings and votes.
--messy sets the share of records with realistic faults (alias spellings,
repeated identities, invalid years, missing names). The same seed always
gives the same file.`,
		Example: `  scentmatch dataset generate --records 1000000 --format jsonl --out /tmp/1m.jsonl
  scentmatch dataset generate --records 50 --seed 3 --messy 0.2 | head`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Records < 0 || opts.Messy < 0 || opts.Messy > 1 {
				return usage("--records must be >= 0 and --messy within 0-1")
			}
			if opts.Format != "jsonl" && opts.Format != "csv" {
				return usage("--format %q: use jsonl or csv", opts.Format)
			}
			w := c.Stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return &exitError{code: ExitUsage, err: fmt.Errorf("creating %s: %w", out, err)}
				}
				defer f.Close()
				w = f
			}
			return synth.Write(w, opts)
		},
	}
	gen.Flags().IntVar(&opts.Records, "records", 1000, "number of records")
	gen.Flags().Uint64Var(&opts.Seed, "seed", 1, "random seed")
	gen.Flags().StringVar(&opts.Format, "format", "jsonl", "jsonl or csv")
	gen.Flags().Float64Var(&opts.Messy, "messy", 0.02, "share of records with realistic faults (0-1)")
	gen.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	cmd.AddCommand(gen)
	return cmd
}
