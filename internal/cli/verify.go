package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/verify"
)

// verifyReport is verify's --json output.
type verifyReport struct {
	*verify.Report
	// Backup is the backup whose counts are shown ("" when none was found).
	Backup string              `json:"backup,omitempty"`
	Counts []verify.TableCount `json:"counts"`
}

func (c *CLI) verifyCommand(g *globals) *cobra.Command {
	var asJSON bool
	var from string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the database's integrity; exit 1 listing each violation",
		Long: `Check the database's integrity:
  - rows whose references point nowhere (every declared foreign key, and the
    catalog's references whether or not they are declared): source
    identities, embeddings, keys, reviews and merges of missing fragrances;
  - merges (not undone) whose merged source identity is not on the surviving
    fragrance, resolved reviews whose record is nowhere, fragrances not
    filed under their own match key (matching would never find them);
  - two fragrances with one match key that no rule keeps apart (distinct
    source_ids of one source are kept apart on purpose, as are records a
    rejected review or an undone merge inserted);
  - embeddings of another model or dimension than monitoring_config.json's;
  - more than one running cycle.

Each table's rows are printed against the latest backup's manifest (under
$BACKUP_LOCATION or $SCENTMATCH_HOME/backups, or --backup), as
information only.`,
		Example: `  scentmatch verify
  scentmatch verify --json | jq '.checks[] | select(.violations > 0)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.env.LoadConfig(ctx)
			if err != nil {
				return err
			}
			pool, _, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: 2})
			if err != nil {
				return err
			}
			defer pool.Close()
			e := cfg.Monitoring.Embedding
			rep, err := verify.Run(ctx, pool, verify.Options{Model: e.Model, Dimension: e.Dimension})
			if err != nil {
				return err
			}
			out := verifyReport{Report: rep}
			var m *backup.Manifest
			location := from
			if location == "" {
				root, err := c.backupRoot(g)
				if err != nil {
					return err
				}
				_, client, err := c.openStore(ctx, g, root)
				if err != nil {
					return err
				}
				latest, ok, err := backup.Latest(ctx, root, client)
				if err != nil {
					g.logger.WarnContext(ctx, "looking for the latest backup", "err", err)
				} else if ok {
					location = latest
				}
			}
			if location != "" {
				store, _, err := c.openStore(ctx, g, location)
				if err != nil {
					return err
				}
				if m, err = backup.ReadManifest(ctx, store); err != nil {
					g.logger.WarnContext(ctx, "reading the backup manifest; counts shown without it", "backup", location, "err", err)
				} else {
					out.Backup = store.Location()
				}
			}
			if out.Counts, err = verify.Counts(ctx, pool, m); err != nil {
				return err
			}
			if asJSON {
				if err := c.printJSON(out); err != nil {
					return err
				}
			} else {
				if out.Backup != "" {
					fmt.Fprintf(c.Stdout, "Counts against the backup %s (%s, information only):\n", out.Backup, m.CreatedAt.Format("2006-01-02 15:04 MST"))
				} else {
					fmt.Fprintln(c.Stdout, "No backup found to compare counts with.")
				}
				c.printCounts(out.Counts, "backup")
				c.printVerify(rep)
			}
			if !rep.OK {
				return failed()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&from, "backup", "", "compare counts with this backup (default: the latest one)")
	return cmd
}

// printVerify lists each check, and each violation's examples.
func (c *CLI) printVerify(rep *verify.Report) {
	if rep == nil {
		return
	}
	for _, ch := range rep.Checks {
		if ch.OK() {
			continue
		}
		fmt.Fprintf(c.Stdout, "VIOLATION %s: %d (rule: %s)\n", ch.Name, ch.Violations, ch.Rule)
		for _, ex := range ch.Examples {
			fmt.Fprintf(c.Stdout, "  %s\n", ex)
		}
		if more := ch.Violations - int64(len(ch.Examples)); more > 0 {
			fmt.Fprintf(c.Stdout, "  ... and %d more\n", more)
		}
	}
	if rep.OK {
		fmt.Fprintf(c.Stdout, "Integrity: OK (%d checks, no violation).\n", len(rep.Checks))
	} else {
		fmt.Fprintf(c.Stdout, "Integrity: %d violation(s).\n", rep.Violations())
	}
}
