package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/emf"
	"github.com/scentmatch/pipeline/internal/metrics"
)

// metricsOutput is a metrics report and where its figures come from.
type metricsOutput struct {
	*metrics.Report
	// Source is "stored" (what the cycle's Metrics step stored) or
	// "computed" (from the database now).
	Source string `json:"source"`
}

func (c *CLI) metricsCommand(g *globals) *cobra.Command {
	var asJSON, recompute bool
	var cycleID, metricsFile string
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "KPIs and the 0-100 health score of a cycle (the latest by default)",
		Long: `Print the KPIs of a cycle, each with its value, warn and error thresholds
(monitoring_config.json "kpis") and status (ok, warn, error, unknown), and the
system health score (docs/health-score.md).

A cycle whose Metrics step ran shows what it stored; otherwise (a running or
failed cycle, or no cycle at all) the KPIs are computed from the database now
and not stored. --recompute computes them now, stores them on the cycle and
writes the CloudWatch metrics as one EMF line on stderr (or --metrics-file);
--metrics-file alone writes the EMF line of what is shown to that file.`,
		Example: `  scentmatch metrics
  scentmatch metrics --cycle schedule-20261129T0200 --json | jq .kpis.import_success_rate
  scentmatch metrics --recompute --metrics-file emf.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			d, closeFn, err := c.openDeps(cmd, g)
			if err != nil {
				return err
			}
			defer closeFn()
			var cy *metrics.Cycle
			if cycleID != "" {
				cy, err = metrics.LoadCycle(ctx, d.Pool, cycleID)
				if errors.Is(err, cycle.ErrNotFound) {
					return usage("--cycle %q: no such cycle (scentmatch status shows the last one)", cycleID)
				}
			} else {
				cy, err = metrics.LatestCycle(ctx, d.Pool)
			}
			if err != nil {
				return err
			}
			if recompute && cy == nil {
				return usage("--recompute: there is no cycle to store metrics on")
			}
			out := metricsOutput{Source: "computed"}
			if cy != nil && len(cy.KPIs) > 0 && !recompute {
				out.Source = "stored"
				out.Report = storedReport(cy)
			} else {
				started := time.Now()
				comp := &metrics.Computer{Pool: d.Pool, Config: d.Config}
				if out.Report, err = comp.Compute(ctx, metrics.Input{Cycle: cy}); err != nil {
					return err
				}
				if recompute {
					if err := metrics.Store(ctx, d.Pool, out.Report, started); err != nil {
						return err
					}
					if err := c.emitEMF(out.Report, metricsFile); err != nil {
						return err
					}
				}
			}
			if !recompute && metricsFile != "" {
				if err := c.emitEMF(out.Report, metricsFile); err != nil {
					return err
				}
			}
			if asJSON {
				return c.printJSON(out)
			}
			c.printMetrics(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&cycleID, "cycle", "", "the cycle id (default: the latest cycle)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&recompute, "recompute", false, "compute now, store on the cycle and write the EMF line")
	cmd.Flags().StringVar(&metricsFile, "metrics-file", "", "append the EMF line to this file instead of stderr")
	return cmd
}

// storedReport rebuilds a report from what the cycle stored: the KPIs and
// health score of its columns, and from its stored metrics result
// (step_results.metrics) what only that holds: when they were computed,
// the catalog size, the step's peak memory and the crawl counts. The
// outcome and components follow the cycle as it ended (a cycle can fail
// after its metrics, in Notify).
func storedReport(cy *metrics.Cycle) *metrics.Report {
	rep := &metrics.Report{}
	if raw := cy.StepResults[cycle.StepMetrics]; len(raw) > 0 {
		// A result stored in another shape leaves those fields empty
		// rather than failing the view.
		_ = json.Unmarshal(raw, rep)
	}
	rep.CycleID, rep.DryRun, rep.KPIs, rep.Outcome = cy.ID, cy.DryRun, cy.KPIs, cy.Status
	if cy.Status != metrics.OutcomeRunning && cy.Failed() {
		rep.Outcome = metrics.OutcomeFailed
	}
	_, rep.Components = metrics.Score(cy.KPIs, cy.Failed())
	rep.HealthScore = cy.HealthScore
	return rep
}

func (c *CLI) emitEMF(rep *metrics.Report, file string) error {
	if rep.DryRun {
		// A dry run imported nothing: its figures are what would have
		// changed, and CloudWatch must not chart them (as the step does).
		fmt.Fprintf(c.Stderr, "cycle %s was a dry run: no EMF line written\n", rep.CycleID)
		return nil
	}
	var w io.Writer = c.Stderr
	if file != "" {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("--metrics-file: %w", err)}
		}
		defer f.Close()
		w = f
	}
	ew := &emf.Writer{W: w, Stage: emf.Stage(c.Getenv)}
	props := map[string]any{}
	if rep.CycleID != "" {
		props["cycle_id"] = rep.CycleID
	}
	return ew.Emit(metrics.EMFMetrics(rep), props)
}

func (c *CLI) printMetrics(out metricsOutput) {
	rep := out.Report
	what := "no cycle yet: catalog KPIs only"
	if rep.CycleID != "" {
		what = fmt.Sprintf("cycle %s (%s)", rep.CycleID, rep.Outcome)
	}
	fmt.Fprintf(c.Stdout, "KPIs of %s, %s:\n", what, out.Source)
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "kpi\tvalue\tstatus\twarn\terror")
	for _, n := range metrics.Names {
		k, ok := rep.KPIs[n]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%s\t%s %s\t%s\t%s\t%s\n", n, fmtStat(k.Value), k.Unit, k.Status, fmtStat(k.Warn), fmtStat(k.Error))
	}
	w.Flush()
	if rep.HealthScore == nil {
		fmt.Fprintln(c.Stdout, "System health score: unknown (no KPI to judge).")
		return
	}
	fmt.Fprintf(c.Stdout, "System health score: %.1f/100.\n", *rep.HealthScore)
}
