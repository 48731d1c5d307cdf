package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/embedding"
)

type similarFlags struct {
	brand  string
	k      int
	id     int64
	exact  bool
	asJSON bool
}

func (c *CLI) similarCommand(g *globals) *cobra.Command {
	var fl similarFlags
	cmd := &cobra.Command{
		Use:   "similar NAME",
		Short: "List the fragrances nearest to one by cosine similarity of their vectors",
		Long: `Find the fragrance called NAME (case, accents and punctuation do not
matter; a trailing concentration such as "Eau de Parfum" picks that
variant), then list the k fragrances whose vectors of the configured
embedding model are most similar to its vector.

The search is exact (every vector compared, the k best kept) unless the
server has the pgvector extension and the HNSW index of migration 00002
for this dimension; then the index answers (approximate). --exact forces
the exact scan.

When several fragrances match NAME, they are listed and the command exits
with status 2: add --brand, or --id with the id from the list.`,
		Example: `  scentmatch similar "Sauvage" --brand Dior
  scentmatch similar "Aventus" -k 5 --json
  scentmatch similar --id 1234`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return c.runSimilar(cmd, g, name, fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.brand, "brand", "", "brand of the fragrance (its name or an alias), when several share NAME")
	f.IntVarP(&fl.k, "k", "k", 10, "number of neighbours")
	f.Int64Var(&fl.id, "id", 0, "the fragrance's id instead of NAME")
	f.BoolVar(&fl.exact, "exact", false, "scan every vector even when the pgvector HNSW index is there")
	f.BoolVar(&fl.asJSON, "json", false, "print JSON")
	return cmd
}

func (c *CLI) runSimilar(cmd *cobra.Command, g *globals, name string, fl similarFlags) (err error) {
	if fl.asJSON {
		// With --json an error is JSON on stdout too (and a line on stderr).
		defer func() {
			if err != nil {
				_ = c.printJSON(map[string]any{"error": errorText(err)})
			}
		}()
	}
	return c.similar(cmd, g, name, fl)
}

// errorText is an error's message without the exit-code wrapping.
func errorText(err error) string {
	var ee *exitError
	if errors.As(err, &ee) && ee.err != nil {
		return ee.err.Error()
	}
	return err.Error()
}

func (c *CLI) similar(cmd *cobra.Command, g *globals, name string, fl similarFlags) error {
	ctx := cmd.Context()
	if (name == "") == (fl.id == 0) {
		return usage("give a NAME or --id, not both and not neither\nRun 'scentmatch similar --help' for examples")
	}
	if fl.k < 1 || fl.k > 1000 {
		return usage("-k must be between 1 and 1000")
	}
	if strings.TrimSpace(name) == "" && fl.id == 0 {
		return usage("NAME is empty")
	}
	im, closeFn, err := c.openImporter(cmd, g)
	if err != nil {
		return err
	}
	defer closeFn()
	var matches []embedding.Fragrance
	if fl.id != 0 {
		matches, err = embedding.FindByID(ctx, im.Pool, fl.id)
	} else {
		matches, err = embedding.FindByName(ctx, im.Pool, name, fl.brand)
	}
	if err != nil {
		return err
	}
	switch {
	case len(matches) == 0 && fl.id != 0:
		return usage("no fragrance has id %d", fl.id)
	case len(matches) == 0:
		msg := fmt.Sprintf("no fragrance is named %q", name)
		if fl.brand != "" {
			msg += fmt.Sprintf(" at brand %q", fl.brand)
		}
		sugg, err := embedding.Suggest(ctx, im.Pool, name, 5)
		if err == nil && len(sugg) > 0 {
			var sb strings.Builder
			writeFragranceList(&sb, sugg)
			msg += "; names that come close:\n" + strings.TrimRight(sb.String(), "\n")
		}
		return usage("%s", msg)
	case len(matches) > 1:
		var sb strings.Builder
		writeFragranceList(&sb, matches)
		hint := "add --id N (or end NAME with the concentration)"
		for _, m := range matches[1:] {
			if m.Brand != matches[0].Brand {
				hint = "add --brand B"
				break
			}
		}
		return usage("%d fragrances match %q: %s\n%s", len(matches), name, hint, strings.TrimRight(sb.String(), "\n"))
	}
	e := im.Config.Monitoring.Embedding
	res, err := embedding.Similar(ctx, im.Pool, matches[0], embedding.SearchOptions{Model: e.Model, Dimension: e.Dimension, K: fl.k, Exact: fl.exact})
	if err != nil {
		var nv *embedding.NoVectorError
		if errors.As(err, &nv) {
			return &exitError{code: ExitFailure, err: err}
		}
		return err
	}
	if fl.asJSON {
		return c.printJSON(res)
	}
	q := res.Query
	how := "exact scan of " + fmt.Sprint(res.Scanned) + " vectors"
	if res.Method == embedding.MethodHNSW {
		how = "pgvector HNSW index"
	}
	fmt.Fprintf(c.Stdout, "Nearest to %s %s%s (id %d), model %s, %s:\n", q.Brand, q.Name, variant(q), q.ID, res.Model, how)
	tw := tabwriter.NewWriter(c.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tBRAND\tNAME\tCONCENTRATION\tSIMILARITY")
	for _, n := range res.Neighbours {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.4f\n", n.Rank, n.Brand, n.Name, orDash(n.Concentration), n.Similarity)
	}
	return tw.Flush()
}

func variant(f embedding.Fragrance) string {
	var parts []string
	for _, p := range []string{f.Concentration, f.Gender} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeFragranceList(w io.Writer, fs []embedding.Fragrance) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tBRAND\tNAME\tCONCENTRATION\tGENDER")
	for _, f := range fs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", f.ID, f.Brand, f.Name, orDash(f.Concentration), orDash(f.Gender))
	}
	tw.Flush()
}
