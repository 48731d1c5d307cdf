package cli

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/importer"
)

func (c *CLI) reviewCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Resolve possible duplicates the matcher was unsure of, and undo wrong merges",
		Long: `Records whose match score falls in the gray band (matching.review_threshold
to matching.merge_threshold), or that lack the gender or concentration that
tells several candidates apart, wait here with both records and the score.
Accept merges the record into the catalog fragrance; reject inserts it as a
product of its own. Unmerge undoes any merge from the merge log.`,
		Example: `  scentmatch review list
  scentmatch review show 12
  scentmatch review accept 12
  scentmatch review unmerge 340`,
	}
	var all, asJSON bool
	var limit int
	list := &cobra.Command{
		Use:     "list",
		Short:   "List open reviews",
		Example: "  scentmatch review list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			im, closeFn, err := c.openImporter(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			items, err := im.ListReviews(cmd.Context(), all, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(items)
			}
			if len(items) == 0 {
				fmt.Fprintln(c.Stdout, "No open reviews.")
				return nil
			}
			w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSCORE\tSTATUS\tRECORD\tCATALOG FRAGRANCE\tREASON")
			for _, it := range items {
				reason := ""
				if len(it.Reasons) > 0 {
					reason = it.Reasons[0]
				}
				fmt.Fprintf(w, "%d\t%.3f\t%s\t%s\t%d %s\t%s\n", it.ID, it.Score, it.Status, describe(it.Candidate), it.FragranceID, describe(it.Fragrance), reason)
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include accepted and rejected reviews")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var showJSON bool
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a review: both records side by side, the score and why",
		Example: "  scentmatch review show 12",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, im, closeFn, err := c.idAndImporter(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer closeFn()
			it, err := im.Review(cmd.Context(), id)
			if err != nil {
				return notFound(err)
			}
			if showJSON {
				return c.printJSON(it)
			}
			fmt.Fprintf(c.Stdout, "review %d (%s), score %.3f: %v\n", it.ID, it.Status, it.Score, it.Reasons)
			w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "\tincoming record\tcatalog fragrance %d\n", it.FragranceID)
			row := func(label string, get func(*catalog.Fragrance) string) {
				fmt.Fprintf(w, "%s\t%s\t%s\n", label, get(it.Candidate), get(it.Fragrance))
			}
			row("brand", func(f *catalog.Fragrance) string {
				return field(f, func(f *catalog.Fragrance) string { return f.Brand })
			})
			row("name", func(f *catalog.Fragrance) string {
				return field(f, func(f *catalog.Fragrance) string { return f.Name })
			})
			row("concentration", func(f *catalog.Fragrance) string {
				return field(f, func(f *catalog.Fragrance) string { return f.Concentration })
			})
			row("gender", func(f *catalog.Fragrance) string {
				return field(f, func(f *catalog.Fragrance) string { return f.Gender })
			})
			row("year", func(f *catalog.Fragrance) string {
				return field(f, func(f *catalog.Fragrance) string {
					if f.Year == nil {
						return ""
					}
					return strconv.Itoa(*f.Year)
				})
			})
			row("source", func(f *catalog.Fragrance) string {
				return field(f, func(f *catalog.Fragrance) string { return f.Source + " " + f.SourceID })
			})
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	resolve := func(accept bool) *cobra.Command {
		use, short, example := "accept ID", "Merge the record into the catalog fragrance", "  scentmatch review accept 12"
		if !accept {
			use, short, example = "reject ID", "Insert the record as a product of its own", "  scentmatch review reject 12"
		}
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, im, closeFn, err := c.idAndImporter(cmd, g, args[0])
				if err != nil {
					return err
				}
				defer closeFn()
				fid, err := im.ResolveReview(cmd.Context(), id, accept, operator())
				if err != nil {
					return notFound(err)
				}
				if accept {
					fmt.Fprintf(c.Stdout, "Review %d accepted: merged into fragrance %d.\n", id, fid)
				} else {
					fmt.Fprintf(c.Stdout, "Review %d rejected: inserted as fragrance %d.\n", id, fid)
				}
				return nil
			},
		}
	}
	unmerge := &cobra.Command{
		Use:   "unmerge MERGE_ID",
		Short: "Undo a merge from the merge log: restore the fragrance, re-insert the merged record",
		Long: `Undo a wrong merge: the fragrance gets back the values the merge replaced
(as the merge log recorded them), and the merged record becomes a fragrance
of its own with its source identity. Merge ids are in the merge_log table,
e.g. for the fragrance a report line names as duplicate_of:
  psql "$(scentmatch db url)" -c "SELECT id, merged_source, merged_source_id, reason FROM merge_log WHERE fragrance_id = 42"`,
		Example: "  scentmatch review unmerge 340",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, im, closeFn, err := c.idAndImporter(cmd, g, args[0])
			if err != nil {
				return err
			}
			defer closeFn()
			fid, err := im.Unmerge(cmd.Context(), id)
			if err != nil {
				return notFound(err)
			}
			fmt.Fprintf(c.Stdout, "Merge %d undone: the merged record is now fragrance %d.\n", id, fid)
			return nil
		},
	}
	cmd.AddCommand(list, show, resolve(true), resolve(false), unmerge)
	return cmd
}

// idAndImporter parses an id argument and opens the importer.
func (c *CLI) idAndImporter(cmd *cobra.Command, g *globals, arg string) (int64, *importer.Importer, func(), error) {
	id, err := parseID(arg)
	if err != nil {
		return 0, nil, nil, err
	}
	im, closeFn, err := c.openImporter(cmd, g)
	if err != nil {
		return 0, nil, nil, err
	}
	return id, im, closeFn, nil
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usage("%q is not an id (a positive number)", s)
	}
	return id, nil
}

// notFound makes an unknown id bad input (exit 2).
func notFound(err error) error {
	if errors.Is(err, importer.ErrNotFound) {
		return &exitError{code: ExitUsage, err: err}
	}
	return err
}

func describe(f *catalog.Fragrance) string {
	if f == nil {
		return "(deleted)"
	}
	s := f.Brand + " / " + f.Name
	for _, x := range []string{f.Concentration, f.Gender} {
		if x != "" {
			s += " · " + x
		}
	}
	return s
}

func field(f *catalog.Fragrance, get func(*catalog.Fragrance) string) string {
	if f == nil {
		return "-"
	}
	if v := get(f); v != "" && v != " " {
		return v
	}
	return "-"
}

func operator() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "operator"
}
