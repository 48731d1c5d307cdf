package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/settings"
)

// configReport is what `config validate --json` prints.
type configReport struct {
	Valid    bool              `json:"valid"`
	Location string            `json:"location"`
	Origins  map[string]string `json:"origins,omitempty"`
	Errors   int               `json:"errors"`
	Warnings int               `json:"warnings"`
	Problems settings.Problems `json:"problems"`
}

func (c *CLI) configCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect and validate the configuration",
		Example: `  scentmatch config validate
  scentmatch config validate ./staging-config --json`,
	}
	var asJSON bool
	validate := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Validate the configuration and list every problem",
		Long: `Validate monitoring_config.json, scraping_ethics.json and brand_priorities.json:
the embedded defaults, each replaced whole by a file of the same name in DIR
(or --config-dir, or SCENTMATCH_CONFIG_DIR; an s3://bucket/prefix works too).
Every problem is listed with its file, JSON path, rule and severity. Exit 1
when any problem is an error (the pipeline would refuse to start), 0 when
there are only warnings or none.`,
		Example: `  scentmatch config validate
  scentmatch config validate ./config-overrides
  scentmatch config validate s3://scentmatch-prod/config/v7/ --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 1 {
				g.env.ConfigDir = args[0]
			}
			cfg, problems, err := g.env.CheckConfig(ctx)
			if err != nil {
				return err
			}
			loc := g.env.ConfigLocation()
			if loc == "" {
				loc = "embedded defaults"
			}
			rep := configReport{
				Valid:    len(problems.Errors()) == 0,
				Location: loc,
				Origins:  cfg.Origins,
				Errors:   len(problems.Errors()),
				Warnings: len(problems.Warnings()),
				Problems: problems,
			}
			if rep.Problems == nil {
				rep.Problems = settings.Problems{}
			}
			if asJSON {
				if err := c.printJSON(rep); err != nil {
					return err
				}
			} else {
				c.printConfigReport(rep)
			}
			if !rep.Valid {
				return failed()
			}
			return nil
		},
	}
	validate.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(validate)
	return cmd
}

func (c *CLI) printConfigReport(rep configReport) {
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	for _, f := range settings.Files {
		if origin, ok := rep.Origins[f]; ok {
			fmt.Fprintf(w, "%s\t%s\n", f, origin)
		}
	}
	w.Flush()
	for _, p := range rep.Problems {
		fmt.Fprintln(c.Stdout, p.String())
	}
	switch {
	case !rep.Valid:
		fmt.Fprintf(c.Stdout, "Configuration is INVALID: %d error(s), %d warning(s). The pipeline refuses to start until the errors are fixed.\n", rep.Errors, rep.Warnings)
	case rep.Warnings > 0:
		fmt.Fprintf(c.Stdout, "Configuration is valid with %d warning(s).\n", rep.Warnings)
	default:
		fmt.Fprintln(c.Stdout, "Configuration is valid.")
	}
}
