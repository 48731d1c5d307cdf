package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/matching"
)

func (c *CLI) reviewCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Resolve possible duplicates and brand aliases the matcher was unsure of, and undo wrong merges",
		Long: `The review queue holds two kinds of question (KIND in the list):

match        Records whose match score falls in the gray band
             (matching.review_threshold to matching.merge_threshold), or that
             lack the gender or concentration that tells several candidates
             apart, wait here with both records, the score, the rule that
             sent them and the best candidates. Accept merges the record into
             the catalog fragrance; reject inserts it as a product of its own.
brand-alias  A source brand spelling no rule resolves whose records share
             distinctive fragrance names with one catalog brand ("Une Nuit
             Nomade" / "Une Nuit A Bali"): show lists the shared names and the
             best brands. Its records are held (match rows marked "held by
             proposal N") until it is decided. Accept stores the alias and
             decides the held records again in the same transaction: they
             merge into the brand's fragrances or are inserted under it, and
             the alias applies to every later import. Reject creates the
             brand and inserts the held records under it.

A held record is decided through its proposal, not on its own. Unmerge undoes
any merge from the merge log.`,
		Example: `  scentmatch review list
  scentmatch review show 12
  scentmatch review accept 12            # a match: merge; a brand-alias: store the alias
  scentmatch review reject 12 --json
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
			fmt.Fprintln(w, "ID\tKIND\tSCORE\tSTATUS\tRECORD\tCATALOG\tREASON")
			for _, it := range items {
				reason := ""
				if len(it.Reasons) > 0 {
					reason = it.Reasons[0]
				}
				record, target := describe(it.Candidate), fmt.Sprintf("%d %s", it.FragranceID, describe(it.Fragrance))
				switch {
				case it.Kind == importer.KindBrandAlias:
					record = fmt.Sprintf("brand %q (%d records held)", it.Alias, it.HeldRecords)
					target = fmt.Sprintf("brand %d %s", it.BrandID, it.Brand)
				case it.Held:
					target = fmt.Sprintf("held by proposal %d", it.ProposalID)
				}
				fmt.Fprintf(w, "%d\t%s\t%.3f\t%s\t%s\t%s\t%s\n", it.ID, it.Kind, it.Score, it.Status, record, target, reason)
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
		Short:   "Show a review: the records side by side (or a brand alias's shared names), why, and the best candidates",
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
			if it.Kind == importer.KindBrandAlias {
				return c.showAlias(it)
			}
			fmt.Fprintf(c.Stdout, "review %d (%s, %s), score %.3f: %v\n", it.ID, it.Kind, it.Status, it.Score, it.Reasons)
			if it.Held {
				fmt.Fprintf(c.Stdout, "held: brand %q waits on brand-alias proposal %d (scentmatch review show %d)\n", it.Candidate.Brand, it.ProposalID, it.ProposalID)
			}
			defer c.showCandidates(it)
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
		use, short, example := "accept ID",
			"Merge the record into the catalog fragrance; or store a brand alias and decide the records it held",
			"  scentmatch review accept 12\n  scentmatch review accept 12 --json"
		if !accept {
			use, short, example = "reject ID",
				"Insert the record as a product of its own; or create the proposed brand and insert the records it held",
				"  scentmatch review reject 12\n  scentmatch review reject 12 --json"
		}
		var asJSON bool
		cmd := &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, im, closeFn, err := c.idAndImporter(cmd, g, args[0])
				if err != nil {
					return err
				}
				defer closeFn()
				res, err := im.Resolve(cmd.Context(), id, accept, operator())
				if err != nil {
					return notFound(err)
				}
				if asJSON {
					return c.printJSON(res)
				}
				switch {
				case res.Alias != nil:
					a := res.Alias
					what := fmt.Sprintf("%q is now an alias of brand %d %q", a.Spelling, a.BrandID, a.Brand)
					if !accept {
						what = fmt.Sprintf("brand %d %q created", a.BrandID, a.Brand)
					}
					fmt.Fprintf(c.Stdout, "Review %d %s: %s; %d held record(s) decided again: %s.\n", id, res.Status, what, a.Held, counts(a.Counts))
				case accept:
					fmt.Fprintf(c.Stdout, "Review %d accepted: merged into fragrance %d.\n", id, res.FragranceID)
				default:
					fmt.Fprintf(c.Stdout, "Review %d rejected: inserted as fragrance %d.\n", id, res.FragranceID)
				}
				return nil
			},
		}
		cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
		return cmd
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

// notFound makes an unknown id, or a review that cannot be decided as
// asked, bad input (exit 2).
func notFound(err error) error {
	if errors.Is(err, importer.ErrNotFound) || errors.Is(err, importer.ErrInvalid) {
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

// showAlias prints a brand-alias proposal: the spelling, the brand
// proposed, the evidence and the best brands.
func (c *CLI) showAlias(it *importer.ReviewItem) error {
	fmt.Fprintf(c.Stdout, "review %d (brand-alias, %s): is the source brand %q the catalog's brand %d %q?\n",
		it.ID, it.Status, it.Alias, it.BrandID, it.Brand)
	fmt.Fprintf(c.Stdout, "records held: %d (accept: they are decided again under %q; reject: brand %q is created for them)\n",
		it.HeldRecords, it.Brand, it.Alias)
	for _, r := range it.Reasons {
		fmt.Fprintf(c.Stdout, "why: %s\n", r)
	}
	var cands []matching.BrandEvidence
	if err := json.Unmarshal(it.Candidates, &cands); err != nil || len(cands) == 0 {
		return nil
	}
	fmt.Fprintln(c.Stdout, "candidates:")
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  BRAND ID\tBRAND\tSHARED\tCATALOG NAMES\tSHARED NAMES")
	for _, e := range cands {
		fmt.Fprintf(w, "  %d\t%s\t%d\t%d\t%s\n", e.BrandID, e.Brand, len(e.Shared), e.Lineup, strings.Join(e.Shared, ", "))
	}
	return w.Flush()
}

// showCandidates prints a match review's best candidates, if it kept any.
func (c *CLI) showCandidates(it *importer.ReviewItem) {
	var cands []importer.ReviewCandidate
	if err := json.Unmarshal(it.Candidates, &cands); err != nil || len(cands) == 0 {
		return
	}
	fmt.Fprintln(c.Stdout, "candidates:")
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  FRAGRANCE\tSCORE\tCATALOG FRAGRANCE\tWHY")
	for _, cd := range cands {
		f := &catalog.Fragrance{Brand: cd.Brand, Name: cd.Name, Concentration: cd.Concentration, Gender: cd.Gender}
		fmt.Fprintf(w, "  %d\t%.3f\t%s\t%s\n", cd.FragranceID, cd.Score, describe(f), cd.Why)
	}
	_ = w.Flush()
}

// counts lists outcome counts in report order ("duplicate 3, inserted 2").
func counts(m map[string]int) string {
	var parts []string
	for _, o := range importer.Outcomes {
		if m[o] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, m[o]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
