package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/sandbox"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/steps"
	"github.com/scentmatch/pipeline/internal/upstream"
)

type detectFlags struct {
	source  string
	max     int
	cycleID string
	dryRun  bool
	asJSON  bool
}

func (c *CLI) detectCommand(g *globals) *cobra.Command {
	var fl detectFlags
	cmd := &cobra.Command{
		Use:   "detect",
		Short: "Find what the catalog is missing or has let go stale, politely crawling the upstream",
		Long: `Run the cycle's detect step now: crawl the upstream source (the trending list,
then the priority brands' listings) within its scraping_ethics.json rules,
store the popularity observed, measure week-over-week trends, and print the
candidates (reason trending, coverage_gap or stale), ranked and capped at
--max-fragrances, with the crawl statistics and the brands' coverage.

When the source is the sandbox (the default configuration), a sandbox
upstream is started on loopback for the run and crawled through the same
HTTP client a deployment uses.

Without --cycle-id the run is a standalone detection: its observations carry
no cycle. With the id of an existing cycle it is that cycle's detect step:
a rerun returns the stored result. --dry-run stores no observations (the
HTTP validators cache is still updated).

Exit 1 when the source is blocked by robots.txt (no catalog request is sent)
or the database fails; 2 on bad input (an unknown or disabled source). No
enabled source at all is not a failure: exit 0 with no candidates and the
warning "no source enabled".`,
		Example: `  scentmatch detect
  scentmatch detect --max-fragrances 5 --json | jq '.candidates[] | {reason, brand, name, score}'
  scentmatch detect --source sandbox --dry-run
  scentmatch detect --cycle-id manual-20261129T0915`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.runDetect(cmd, g, fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.source, "source", "", "source to crawl (default: the first enabled one in scraping_ethics.json)")
	f.IntVar(&fl.max, "max-fragrances", 0, "most candidates to return (default: cycle.max_fragrances)")
	f.StringVar(&fl.cycleID, "cycle-id", "", "run as the detect step of this cycle (default: a standalone run, detect-YYYYMMDDTHHMMSS)")
	f.BoolVar(&fl.dryRun, "dry-run", false, "crawl and report, store no observations")
	f.BoolVar(&fl.asJSON, "json", false, "print the step result as JSON")
	return cmd
}

// localOpener opens a source for a local run (steps.LocalOpener).
func localOpener(logger *slog.Logger, now func() time.Time) detect.OpenFunc {
	return steps.LocalOpener(logger, now)
}

func (c *CLI) runDetect(cmd *cobra.Command, g *globals, fl detectFlags) error {
	ctx := cmd.Context()
	if fl.max < 0 {
		return usage("--max-fragrances must be 0 or more")
	}
	cfg, err := g.env.LoadConfig(ctx)
	if err != nil {
		return err
	}
	// No enabled source is not bad input: the step succeeds with no
	// candidates and the "no source enabled" warning (d.Run says so).
	if _, _, err := detect.PickSource(cfg, fl.source); err != nil && !(fl.source == "" && errors.Is(err, detect.ErrNoSourceEnabled)) {
		return &exitError{code: ExitUsage, err: err}
	}
	pool, _, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	home, err := g.env.Home()
	if err != nil {
		return err
	}
	now := time.Now
	d := &detect.Detector{Pool: pool, Config: cfg, Logger: g.logger, Now: now, Source: fl.source,
		Open: localOpener(g.logger, now), Bucket: bucket.Local(home)}
	id := fl.cycleID
	if id == "" {
		id = "detect-" + now().UTC().Format("20060102T150405")
	}
	res, err := d.Run(ctx, cycle.State{CycleID: id, Trigger: "manual", MaxFragrances: fl.max, DryRun: fl.dryRun})
	var blocked *detect.UpstreamBlockedError
	var bad *cycle.BadInputError
	switch {
	case errors.As(err, &blocked):
		if res != nil {
			c.printDetect(res, fl.asJSON)
		}
		return &exitError{code: ExitFailure, err: err}
	case errors.As(err, &bad):
		return &exitError{code: ExitUsage, err: err}
	case err != nil:
		return err
	}
	return c.printDetect(res, fl.asJSON)
}

func (c *CLI) printDetect(res *detect.Result, asJSON bool) error {
	if asJSON {
		return c.printJSON(res)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.Stdout, "Warning: %s\n", w)
	}
	cr := res.Crawl
	if cr.Source == "" {
		fmt.Fprintln(c.Stdout, "No source crawled: no candidates.")
		return nil
	}
	fmt.Fprintf(c.Stdout, "Source %s: %d request(s), %d not modified, %d retried, %d HTTP 429, %d robots-blocked, %d error(s), %.1f requests/min",
		cr.Source, cr.Requests, cr.NotModified, cr.Retries, cr.Status429, cr.RobotsBlocked, cr.Errors, cr.EffectiveRatePerMin)
	switch {
	case cr.Blocked:
		fmt.Fprintf(c.Stdout, "; BLOCKED: %s\n", cr.BlockedReason)
		return nil
	case cr.CircuitOpen:
		fmt.Fprintf(c.Stdout, "; circuit open: %s\n", cr.CircuitReason)
	case cr.BudgetExhausted:
		fmt.Fprintln(c.Stdout, "; the request budget is spent")
	default:
		fmt.Fprintln(c.Stdout)
	}
	tr := res.Trends
	how := fmt.Sprintf("%d with history over %d days", tr.WithHistory, tr.WindowDays)
	if tr.Fallback {
		how = "no history yet: the upstream's order decides"
	}
	fmt.Fprintf(c.Stdout, "Observed %d fragrance(s) (%d stored); trending list of %d, %d rising (%s).\n", tr.Observed, tr.Stored, tr.Listed, tr.Rising, how)
	k := res.Coverage.MarketLeaders
	if k.Value != nil {
		fmt.Fprintf(c.Stdout, "Market leaders covered: %.1f%% (%s; %d brand(s) measured, %d unknown).\n", *k.Value, k.Status, k.Measured, k.Unknown)
	} else {
		fmt.Fprintf(c.Stdout, "Market leaders covered: unknown (%d brand(s) not measured).\n", k.Unknown)
	}
	gaps := 0
	for _, b := range res.Coverage.Brands {
		if b.Status == "gap" {
			gaps++
		}
	}
	fmt.Fprintf(c.Stdout, "Priority brands below %.0f%% coverage: %d of %d.\n", res.Coverage.TargetPercent, gaps, len(res.Coverage.Brands))
	if res.CandidatesRef != "" {
		fmt.Fprintf(c.Stdout, "%d candidate(s) in %s\n", res.CandidateCount, res.CandidatesRef)
		return nil
	}
	if res.CandidateCount == 0 {
		fmt.Fprintln(c.Stdout, "No candidates: the catalog has what the upstream shows.")
		return nil
	}
	fmt.Fprintf(c.Stdout, "%d candidate(s)%s:\n", res.CandidateCount, map[bool]string{true: " (dry run: nothing stored)", false: ""}[res.DryRun])
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tSCORE\tREASON\tSOURCE_ID\tBRAND\tNAME\tRANK\tVOTES\tDETAIL")
	for i, cd := range res.Candidates {
		detail := ""
		switch {
		case cd.VotesGrowthPercent != nil:
			detail = fmt.Sprintf("votes %+.1f%%", *cd.VotesGrowthPercent)
		case cd.DataAgeDays != nil:
			detail = fmt.Sprintf("data %.0f days old", *cd.DataAgeDays)
		}
		if cd.RankChange != nil && *cd.RankChange != 0 {
			detail += fmt.Sprintf(" rank %+d", *cd.RankChange)
		}
		if cd.Match == "review" {
			detail += fmt.Sprintf(" maybe fragrance %d", cd.FragranceID)
		}
		fmt.Fprintf(w, "%d\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, cd.Score, cd.Reason, cd.SourceID, cd.Brand, cd.Name, intOr(cd.Rank), int64Or(cd.Votes), detail)
	}
	return w.Flush()
}

func int64Or(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func (c *CLI) sandboxCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sandbox",
		Short:   "The local sandbox upstream (a demo catalog API on loopback)",
		Example: "  scentmatch sandbox serve",
		Args:    cobra.NoArgs,
	}
	var addr, week string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the demo catalog with the upstream API until interrupted",
		Long: `Serve the bundled demo catalog (37,918 fragrances, factual fields only) with
the upstream catalog API of docs/upstream.md: /robots.txt,
/api/v1/fragrances?page=N[&brand=NAME], /api/v1/fragrances/{source_id} and
/api/v1/trending?page=N. Votes, ratings and the trending list are
synthesized per ISO week, so trends exist from one week to the next; any
request may name a week with ?week=2026-W48, and --week pins one.

It prints its URL on stdout and serves until interrupted (Ctrl-C). The URL
is also written to $SCENTMATCH_HOME/sandbox.url while it runs, for the
health check. 'scentmatch detect' does not need it: it starts its own.`,
		Example: `  scentmatch sandbox serve
  scentmatch sandbox serve --addr 127.0.0.1:8089 --week 2026-W48
  curl -s 'http://127.0.0.1:8089/api/v1/trending?page=1' | jq '.items[0]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := sandbox.New(sandbox.Options{Week: week, Logger: g.logger})
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			run, err := sandbox.Start(srv, addr)
			if err != nil {
				return err
			}
			marker := ""
			if home, err := g.env.Home(); err == nil && os.MkdirAll(home, 0o755) == nil {
				marker = sandbox.URLFile(home)
				if err := os.WriteFile(marker, []byte(run.URL+"\n"), 0o644); err != nil {
					marker = ""
				}
			}
			fmt.Fprintln(c.Stdout, run.URL)
			g.logger.Info("sandbox upstream serving; interrupt to stop", "url", run.URL)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			if marker != "" {
				_ = os.Remove(marker)
			}
			return run.Close()
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	serve.Flags().StringVar(&week, "week", "", "serve this ISO week's popularity, e.g. 2026-W48 (default: the current week)")
	cmd.AddCommand(serve)
	return cmd
}

// upstreamHealth checks the source detect would crawl; nil (no component)
// when the configuration is unusable or no source is enabled.
func (c *CLI) upstreamHealth(g *globals, cfg *settings.Config) func(ctx context.Context) health.Component {
	if cfg == nil {
		return nil
	}
	name, src, err := detect.PickSource(cfg, "")
	if err != nil {
		return nil
	}
	return func(ctx context.Context) health.Component {
		sandboxURL := ""
		if home, err := g.env.Home(); err == nil {
			if data, err := os.ReadFile(sandbox.URLFile(home)); err == nil {
				sandboxURL = strings.TrimSpace(string(data))
			}
		}
		h := upstream.CheckHealth(ctx, name, src, sandboxURL, nil)
		comp := health.Component{Healthy: h.Status != upstream.HealthUnhealthy, LatencyMS: h.LatencyMS, Detail: h.Detail}
		comp.Skipped = h.Status == upstream.HealthSkipped
		return comp
	}
}
