package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/memlimit"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// importFlags are the import command's flags.
type importFlags struct {
	fragrances string
	brands     string
	source     string
	mapping    string
	report     string
	batchSize  int
	dryRun     bool
	asJSON     bool
	embedWait  string
	cpuProfile string
	memProfile string
}

// parseTimeout reads "10s", "2m" or a bare number of seconds ("10", as the
// old runbook wrote it).
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("--embedding-timeout %q must not be negative", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--embedding-timeout %q: give seconds (10) or a duration (10s, 2m)", s)
	}
	return d, nil
}

// parseMap reads "perfume=name,launch_year=year".
func parseMap(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	known := map[string]bool{}
	for _, f := range catalog.Fields {
		known[f] = true
	}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(pair, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("--map %q: write COLUMN=FIELD pairs separated by commas, e.g. perfume=name,launch_year=year", pair)
		}
		if !known[to] {
			return nil, fmt.Errorf("--map %s=%s: %q is not a record field (fields: %s)", from, to, to, strings.Join(catalog.Fields, ", "))
		}
		out[from] = to
	}
	return out, nil
}

func (c *CLI) importCommand(g *globals) *cobra.Command {
	var fl importFlags
	cmd := &cobra.Command{
		Use:   "import --fragrances FILE",
		Short: "Import a fragrance dataset (JSON, JSON Lines or CSV, optionally gzipped)",
		Long: `Import a fragrance dataset: every record is validated, normalized and matched
against the catalog (same source and source_id = an update; the same match
key = a merge that fills missing fields), written in batches of one
transaction each. Records that fail validation are quarantined with the
rule, field and reason (see 'scentmatch quarantine'). Re-importing the same
file changes nothing.

The format is detected from the content. --map renames foreign columns or
keys; columns that map to no field are ignored with one warning.

Flags, input files (missing, a directory) and output paths (--report) are
checked before anything is written: a problem exits 2 and writes nothing.
Exit 2 when the file cannot be read (the message names file:line:column);
batches committed before that stay, and rerunning is safe. Exit 1 when the
database fails mid-import; rerun to complete it.`,
		Example: `  scentmatch import --fragrances ../shared/data/catalog-37k.csv.gz --source catalog37k \
      --map perfume=name,launch_year=year,main_accords=accords,image=source_id --report r.jsonl
  scentmatch import --fragrances new.jsonl --brands brands.json --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.runImport(cmd, g, fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.fragrances, "fragrances", "", "fragrance file to import (required)")
	f.StringVar(&fl.brands, "brands", "", "brand file (name, aliases, country, website) imported first")
	f.StringVar(&fl.source, "source", "", "source name for records that carry none (identity is source + source_id)")
	f.StringVar(&fl.mapping, "map", "", "rename columns: COLUMN=FIELD[,COLUMN=FIELD...]")
	f.StringVar(&fl.report, "report", "", "write one JSON line per input record to this file")
	f.IntVar(&fl.batchSize, "batch-size", 0, "records per transaction (default: cycle.batch_size)")
	f.BoolVar(&fl.dryRun, "dry-run", false, "validate and match, report what would change, write nothing")
	f.BoolVar(&fl.asJSON, "json", false, "print the summary as JSON (and no progress)")
	f.StringVar(&fl.embedWait, "embedding-timeout", "", "time to embed new and changed fragrances after the writes, e.g. 10s or 10 (default: embedding.timeout_seconds); the rest stays pending")
	// For docs/BENCHMARKS.md's profiles; hidden from --help.
	f.StringVar(&fl.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the import to this file")
	_ = f.MarkHidden("cpuprofile")
	f.StringVar(&fl.memProfile, "memprofile", "", "write a Go heap profile, taken after the last batch, to this file")
	_ = f.MarkHidden("memprofile")
	return cmd
}

func (c *CLI) runImport(cmd *cobra.Command, g *globals, fl importFlags) error {
	ctx := cmd.Context()
	// The import's memory budget (GOMEMLIMIT, when set, wins): the
	// collector works harder as the heap nears it rather than let a 1M
	// import's heap double what is live.
	defer memlimit.Default(memlimit.ImportBudgetMB)()

	// Every check of the command line and its files comes before anything
	// is written: bad input exits 2 and costs nothing.
	if fl.fragrances == "" {
		return usage("--fragrances FILE is required\nRun 'scentmatch import --help' for an example")
	}
	if fl.batchSize < 0 {
		return usage("--batch-size must be positive")
	}
	mapping, err := parseMap(fl.mapping)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	var embedWait time.Duration
	if fl.embedWait != "" {
		if embedWait, err = parseTimeout(fl.embedWait); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
	}
	var inputs []os.FileInfo
	for _, p := range []string{fl.fragrances, fl.brands} {
		if p == "" {
			continue
		}
		info, err := checkInput(p)
		if err != nil {
			return err
		}
		inputs = append(inputs, info)
	}
	var brandReader *dataset.Reader
	if fl.brands != "" {
		if brandReader, err = dataset.Open(fl.brands, catalog.BrandFields, dataset.Options{Map: mapping, Required: catalog.BrandRequiredFields}); err != nil {
			return readError(err, nothingWritten)
		}
		defer brandReader.Close()
	}
	r, err := dataset.Open(fl.fragrances, catalog.Fields, dataset.Options{Map: mapping, Required: catalog.RequiredFields})
	if err != nil {
		return readError(err, nothingWritten)
	}
	defer r.Close()
	out := outputFiles{inputs: inputs}
	for _, o := range []struct{ flag, path string }{{"--report", fl.report}, {"--memprofile", fl.memProfile}, {"--cpuprofile", fl.cpuProfile}} {
		if err := out.open(o.flag, o.path); err != nil {
			out.abandon()
			return err
		}
	}
	if err := out.truncate(); err != nil {
		out.abandon()
		return err
	}
	defer out.close()
	if cpuFile := out.file("--cpuprofile"); cpuFile != nil {
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			return fmt.Errorf("starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	im, closeFn, err := c.openImporter(cmd, g)
	if err != nil {
		return err
	}
	defer closeFn()
	if fl.embedWait == "" {
		embedWait = time.Duration(im.Config.Monitoring.Embedding.TimeoutSeconds * float64(time.Second))
	}
	if im.Embedder, err = embedding.ForEnv(ctx, im.Config.Monitoring.Embedding, g.env.AWS); err != nil {
		g.logger.WarnContext(ctx, "fragrances are not embedded during this import; they stay pending", "reason", err)
	}
	showProgress := c.Terminal && !fl.asJSON

	var brandSum *importer.BrandSummary
	if brandReader != nil {
		// One transaction: a brands file that fails to read writes nothing.
		if brandSum, err = im.ImportBrands(ctx, brandReader, fl.dryRun); err != nil {
			return readError(err, nothingWritten)
		}
	}

	total := inputs[0].Size() // the fragrance file's, for the progress bar
	opts := importer.Options{Kind: "manual", Source: fl.source, DryRun: fl.dryRun, BatchSize: fl.batchSize, InputRef: fl.fragrances, EmbeddingTimeout: embedWait}
	var reportBuf *bufio.Writer
	if reportFile := out.file("--report"); reportFile != nil {
		reportBuf = bufio.NewWriterSize(reportFile, 256<<10)
		opts.Report = reportBuf
	}
	if fl.cpuProfile != "" {
		opts.Phases = &importer.Phases{}
	}
	if memFile := out.file("--memprofile"); memFile != nil {
		opts.HeapProfile = memFile
	}
	bar := newProgress(c.Stderr, showProgress, "importing "+fl.fragrances, total)
	opts.Progress = func(p importer.Progress) { bar.update(p.Records, p.BytesRead) }
	sum, runErr := im.Import(ctx, r, opts)
	bar.done()
	if opts.Phases != nil {
		fmt.Fprintf(c.Stderr, "import phases (wall time):\n%s", opts.Phases)
	}
	if reportBuf != nil {
		if err := reportBuf.Flush(); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing report %s: %w", fl.report, err)
		}
	}
	if len(sum.Unmapped) > 0 {
		g.logger.WarnContext(ctx, "columns that map to no field were ignored (use --map COLUMN=FIELD to keep them)", "columns", strings.Join(sum.Unmapped, ", "))
	}
	if fl.asJSON {
		out := map[string]any{"fragrances": sum}
		if brandSum != nil {
			out["brands"] = brandSum
		}
		if err := c.printJSON(out); err != nil {
			return err
		}
	} else {
		c.printImportSummary(sum, brandSum, fl)
	}
	if runErr != nil {
		return importError(runErr, sum)
	}
	return nil
}

// nothingWritten is the hint for a file found unreadable before any write.
const nothingWritten = "Fix the file and rerun: nothing was written"

// readError turns an unreadable file into exit 2.
func readError(err error, hint string) error {
	var se *dataset.SyntaxError
	if errors.As(err, &se) {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\n%s", se, hint)}
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return &exitError{code: ExitUsage, err: err}
	}
	return err
}

// checkInput refuses, as bad input, an input path that is missing,
// unreadable or not a file: a directory, a socket. A pipe or a character
// device (/dev/stdin, <(zcat f.gz)) is read like a file.
func checkInput(path string) (os.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: fmt.Errorf("%s: %w", path, errors.Unwrap(err))}
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
		return nil, usage("%s: is a directory, not a dataset file", path)
	case !mode.IsRegular() && mode&(fs.ModeNamedPipe|fs.ModeCharDevice) == 0:
		return nil, usage("%s: is not a regular file (%s), not a dataset file", path, mode.Type())
	}
	return info, nil
}

// outputFiles opens the files the import writes (--report, --memprofile,
// --cpuprofile) before anything is written, so that a path that cannot be
// written is a usage error that costs nothing: none is truncated until all
// are open, none may be an input file, and the ones this run created are
// removed if another fails.
type outputFiles struct {
	inputs  []os.FileInfo
	flags   []string
	files   []*os.File
	created []string
}

// open opens path for writing; an empty path is no file.
func (o *outputFiles) open(flag, path string) error {
	if path == "" {
		return nil
	}
	before, statErr := os.Stat(path)
	if statErr == nil {
		for _, in := range o.inputs {
			if os.SameFile(before, in) {
				return usage("%s %s: is an input file; writing it would destroy it", flag, path)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return usage("%s %s: cannot write it: %w", flag, path, errors.Unwrap(err))
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		o.created = append(o.created, path)
	}
	o.flags, o.files = append(o.flags, flag), append(o.files, f)
	return nil
}

// truncate empties the files once all are open.
func (o *outputFiles) truncate() error {
	for i, f := range o.files {
		if err := f.Truncate(0); err != nil {
			return usage("%s %s: cannot write it: %w", o.flags[i], f.Name(), errors.Unwrap(err))
		}
	}
	return nil
}

// close closes the files.
func (o *outputFiles) close() {
	for _, f := range o.files {
		f.Close()
	}
}

// abandon closes the files and removes those this run created.
func (o *outputFiles) abandon() {
	o.close()
	for _, p := range o.created {
		os.Remove(p)
	}
}

// file returns the file opened for flag, nil when none was.
func (o *outputFiles) file(flag string) *os.File {
	for i, f := range o.flags {
		if f == flag {
			return o.files[i]
		}
	}
	return nil
}

func importError(err error, sum *importer.Summary) error {
	var se *dataset.SyntaxError
	if errors.As(err, &se) {
		if sum.Batches == 0 {
			return &exitError{code: ExitUsage, err: fmt.Errorf("%w\nNothing was committed: the records read before the error, if any, were rolled back. Fix the file and rerun", se)}
		}
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\n%d batch(es) committed before the error (records 1-%d) are kept; the batch in progress was rolled back. Fix the file and rerun: committed records are not imported twice",
			se, sum.Batches, sum.Records)}
	}
	if postgres.IsTransient(err) {
		return &exitError{code: ExitFailure, err: fmt.Errorf("%w\nthe database connection failed; %d batch(es) were committed. Check `scentmatch health`, then rerun the same command: it completes the import without duplicates", err, sum.Batches)}
	}
	return err
}

func (c *CLI) printImportSummary(sum *importer.Summary, brands *importer.BrandSummary, fl importFlags) {
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	if brands != nil {
		fmt.Fprintf(w, "brands file:\t%s (%d records: %d brands, %d aliases added, %d rejected)\n", brands.File, brands.Records, brands.Brands, brands.Aliases, brands.Rejected)
		const shown = 10
		for i, r := range brands.Rejections {
			if i == shown {
				fmt.Fprintf(w, "  ... and %d more rejected brand records (--json lists them all)\n", len(brands.Rejections)-shown)
				break
			}
			field := ""
			if r.Field != "" {
				field = r.Field + ": "
			}
			fmt.Fprintf(w, "  rejected:\t%s:%d: %s%s: %s\n", brands.File, r.Line, field, r.Rule, r.Message)
		}
	}
	mode := ""
	if sum.DryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "file:\t%s (%s)%s\n", sum.File, sum.Format, mode)
	fmt.Fprintf(w, "records:\t%d\n", sum.Records)
	for _, o := range importer.Outcomes {
		fmt.Fprintf(w, "  %s:\t%d\n", o, sum.Counts[o])
	}
	fmt.Fprintf(w, "warnings:\t%d\n", sum.Warnings)
	for rule, n := range sum.RejectedByRule {
		fmt.Fprintf(w, "  rejected by %s:\t%d\n", rule, n)
	}
	if sum.QuarantineSuperseded > 0 {
		fmt.Fprintf(w, "quarantine:\t%d open row(s) of earlier runs superseded (the same records quarantined again)\n", sum.QuarantineSuperseded)
	}
	fmt.Fprintf(w, "validation pass rate:\t%.2f%%\n", sum.ValidationPassRate)
	fmt.Fprintf(w, "import success rate:\t%.2f%%\n", sum.ImportSuccessRate)
	fmt.Fprintf(w, "duration:\t%.1f s (%.0f records/s)\n", sum.DurationSeconds, sum.RecordsPerSecond)
	if e := sum.Embedding; e != nil {
		state := ""
		if e.TimedOut {
			state = ", time budget used up"
		}
		fmt.Fprintf(w, "embeddings:\t%d embedded in %.1f s, %d pending%s\n", e.Embedded, e.Seconds, e.Pending, state)
	}
	if sum.RunID != 0 && !sum.DryRun {
		fmt.Fprintf(w, "import run:\t%d\n", sum.RunID)
	}
	if fl.report != "" {
		fmt.Fprintf(w, "report:\t%s\n", fl.report)
	}
	w.Flush()
}
