package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/runner"
	"github.com/scentmatch/pipeline/internal/statemachine"
	"github.com/scentmatch/pipeline/internal/steps"
)

type cycleFlags struct {
	max                  int
	debug, dryRun, force bool
	remote               bool
	stateMachine         string
	name                 string
}

func (c *CLI) cycleCommand(g *globals) *cobra.Command {
	var fl cycleFlags
	cmd := &cobra.Command{
		Use:   "cycle",
		Short: "Run one monitoring cycle now (locally, or on Step Functions with --remote)",
		Long: `Runs the weekly cycle now: Detect -> Import (when there are candidates) ->
Maintain -> Metrics -> Notify, from statemachine/cycle.asl.json. Locally the
definition runs in-process through the local executor on the embedded (or
configured) database, against the sandbox upstream by default; with --remote
it starts an execution of the deployed state machine and follows it: the
one --state-machine names, else $STATE_MACHINE_ARN (the variable 'scentmatch
stop' reads too).

Each state is printed on stderr as it is entered and left; the cycle summary
(cycle_id, outcome, new_fragrances_imported, execution_time_minutes,
system_health_score, where the messages went) is printed on stdout as JSON.
Manual cycles are named manual-YYYYMMDDTHHMM (UTC): starting twice within a
minute is one cycle. A second cycle while one runs is refused; a stopped
pipeline (scentmatch stop) refuses manual cycles unless --force.

Exit status: 0 when the cycle succeeded, 1 when it failed, was stopped or was
refused, 2 on bad flags.`,
		Example: `  scentmatch cycle
  scentmatch cycle --max-fragrances 5 --debug
  scentmatch cycle --dry-run
  scentmatch cycle --remote --state-machine arn:aws:states:us-east-1:123456789012:stateMachine:scentmatch-prod-cycle
  STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:scentmatch-prod-cycle scentmatch cycle --remote`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if fl.debug {
				g.logLevel = "debug"
				return c.setup(g)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.max < 0 {
				return usage("--max-fragrances must be 0 or more (0 means the configured cap)")
			}
			if fl.remote {
				return c.runRemoteCycle(cmd, g, fl)
			}
			if fl.stateMachine != "" {
				return usage("--state-machine goes with --remote")
			}
			return c.runLocalCycle(cmd, g, fl)
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.max, "max-fragrances", 0, "cap on candidates for this cycle (0: monitoring_config.json cycle.max_fragrances)")
	f.BoolVar(&fl.debug, "debug", false, "debug logs for this cycle")
	f.BoolVar(&fl.dryRun, "dry-run", false, "detect and match but write nothing except the cycle record; report what would change")
	f.BoolVar(&fl.force, "force", false, "run even while monitoring is stopped")
	f.BoolVar(&fl.remote, "remote", false, "start and follow an execution of the deployed state machine")
	f.StringVar(&fl.stateMachine, "state-machine", "", "the cycle state machine ARN, with --remote (the stack output CycleStateMachineArn; default $STATE_MACHINE_ARN)")
	f.StringVar(&fl.name, "name", "", "execution name (default manual-YYYYMMDDTHHMM)")
	_ = f.MarkHidden("name")
	return cmd
}

// progress prints each top-level state as the execution enters and leaves it.
func (c *CLI) stateProgress() func(statemachine.Event) {
	var mu sync.Mutex
	entered := map[string]time.Time{}
	return func(e statemachine.Event) {
		if e.Scope != "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case statemachine.StateEntered:
			entered[e.State] = e.Time
			fmt.Fprintf(c.Stderr, "-> %s\n", e.State)
		case statemachine.StateExited:
			fmt.Fprintf(c.Stderr, "<- %s (%.1f s)\n", e.State, e.Time.Sub(entered[e.State]).Seconds())
		case statemachine.StateRetried:
			fmt.Fprintf(c.Stderr, "   %s failed with %s: retry %d in %.1f s\n", e.State, e.Error, e.Attempt, e.Delay.Seconds())
		case statemachine.StateCaught:
			fmt.Fprintf(c.Stderr, "   %s failed with %s: %s -> %s\n", e.State, e.Error, e.Cause, e.Next)
		case statemachine.StateFailed:
			fmt.Fprintf(c.Stderr, "   %s failed with %s: %s\n", e.State, e.Error, e.Cause)
		}
	}
}

func (c *CLI) runLocalCycle(cmd *cobra.Command, g *globals, fl cycleFlags) error {
	ctx := cmd.Context()
	home, err := g.env.Home()
	if err != nil {
		return err
	}
	metricsPath := filepath.Join(home, "metrics", "emf.jsonl")
	if err := os.MkdirAll(filepath.Dir(metricsPath), 0o755); err != nil {
		return err
	}
	emfFile, err := os.OpenFile(metricsPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer emfFile.Close()
	deps := &app.Lazy{Env: g.env, Pool: postgres.PoolOptions{MaxConns: 4}}
	defer deps.Close()
	s := &steps.Steps{Env: g.env, Deps: deps, Bucket: bucket.Local(home), Open: steps.LocalOpener(g.logger, nil), EMF: emfFile}
	if b := g.env.Getenv(steps.EnvBucket); b != "" {
		s.Bucket = b
	}
	sum, err := s.RunCycle(ctx, steps.CycleOptions{
		Name: fl.name, MaxFragrances: fl.max, Debug: fl.debug, DryRun: fl.dryRun, Force: fl.force,
		Options: []statemachine.Option{statemachine.OnEvent(c.stateProgress())},
	})
	var running *cycle.AlreadyRunningError
	var stopped *steps.MonitoringStoppedError
	switch {
	case errors.As(err, &running), errors.As(err, &stopped):
		return &exitError{code: ExitFailure, err: err}
	case err != nil:
		return err
	}
	if err := c.printJSON(sum); err != nil {
		return err
	}
	fmt.Fprintf(c.Stderr, "CloudWatch metric lines (EMF) appended to %s\n", metricsPath)
	if sum.Outcome != cycle.StatusSucceeded {
		return failed()
	}
	c.printNothingNew(sum)
	return nil
}

// printNothingNew says why a successful cycle imported nothing: the
// candidates' fetches failed, or the catalog already has them.
func (c *CLI) printNothingNew(sum *steps.Summary) {
	if sum.NewFragrancesImported != 0 {
		return
	}
	switch {
	case sum.FetchErrorsCount > 0 && sum.FetchErrorsCount >= sum.Candidates:
		fmt.Fprintf(c.Stderr, "No new fragrances this cycle: every candidate fetch failed (%d of %d; the import step's fetch_errors say why).\n",
			sum.FetchErrorsCount, sum.Candidates)
	case sum.FetchErrorsCount > 0:
		fmt.Fprintf(c.Stderr, "No new fragrances this cycle: %d of %d candidate fetch(es) failed (the import step's fetch_errors say why); the catalog has the rest.\n",
			sum.FetchErrorsCount, sum.Candidates)
	default:
		fmt.Fprintln(c.Stderr, "No new fragrances this cycle: the catalog already has what the upstream offers.")
	}
}

func (c *CLI) runRemoteCycle(cmd *cobra.Command, g *globals, fl cycleFlags) error {
	ctx := cmd.Context()
	if fl.stateMachine == "" {
		fl.stateMachine = c.Getenv(control.EnvStateMachineARN)
	}
	if fl.stateMachine == "" {
		return usage("--remote needs the state machine: --state-machine ARN or $%s (the stack output CycleStateMachineArn)", control.EnvStateMachineARN)
	}
	if fl.force {
		return usage("--force applies to local cycles; in AWS a stopped pipeline has its schedule disabled, and a manual execution runs")
	}
	awsCfg, err := g.env.AWS(ctx)
	if err != nil {
		return err
	}
	name := fl.name
	if name == "" {
		name = "manual-" + time.Now().UTC().Format("20060102T1504")
	}
	input, _ := json.Marshal(map[string]any{"trigger": "manual", "max_fragrances": fl.max, "debug": fl.debug, "dry_run": fl.dryRun})
	r := &runner.Remote{Client: sfn.NewFromConfig(awsCfg), StateMachine: fl.stateMachine, OnState: func(kind, state, detail string) {
		switch kind {
		case "entered":
			fmt.Fprintf(c.Stderr, "-> %s\n", state)
		case "exited":
			fmt.Fprintf(c.Stderr, "<- %s\n", state)
		default:
			fmt.Fprintf(c.Stderr, "   failed: %s\n", detail)
		}
	}}
	arn, err := r.Start(ctx, name, input)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stderr, "following %s\n", arn)
	ex, err := r.Follow(ctx, arn)
	if err != nil {
		return err
	}
	sum := remoteSummary(ex)
	if err := c.printJSON(sum); err != nil {
		return err
	}
	if sum.Outcome != cycle.StatusSucceeded {
		return failed()
	}
	return nil
}

// remoteSummary reads the summary from a finished execution's output (the
// cycle state with every step's result).
func remoteSummary(ex *runner.RemoteExecution) *steps.Summary {
	sum := &steps.Summary{CycleID: ex.Name, ExecutionStatus: ex.Status, Error: ex.Error, Cause: ex.Cause, Messages: []steps.Message{},
		ExecutionTimeMinutes: float64(int(ex.Stop.Sub(ex.Start).Minutes()*100+0.5)) / 100}
	sum.Outcome = cycle.StatusFailed
	if ex.Status == "SUCCEEDED" {
		sum.Outcome = cycle.StatusSucceeded
	}
	var out struct {
		DryRun  bool `json:"dry_run"`
		Results struct {
			Import struct {
				NewFragrances    int `json:"new_fragrances"`
				Candidates       int `json:"candidates"`
				FetchErrorsCount int `json:"fetch_errors_count"`
			} `json:"import"`
			Metrics struct {
				HealthScore *float64 `json:"health_score"`
			} `json:"metrics"`
			Notify struct {
				Sent []steps.Message `json:"sent"`
			} `json:"notify"`
		} `json:"results"`
	}
	if len(ex.Output) > 0 && json.Unmarshal(ex.Output, &out) == nil {
		sum.DryRun = out.DryRun
		sum.NewFragrancesImported = out.Results.Import.NewFragrances
		sum.Candidates, sum.FetchErrorsCount = out.Results.Import.Candidates, out.Results.Import.FetchErrorsCount
		sum.SystemHealthScore = out.Results.Metrics.HealthScore
		sum.Messages = append(sum.Messages, out.Results.Notify.Sent...)
	}
	return sum
}
