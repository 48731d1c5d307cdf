// Package cli is the scentmatch operator command line. Results go to
// stdout (--json for machines), logs to stderr; the exit code is 0 on
// success, 1 on an operational failure (unhealthy, database down, invalid
// configuration) and 2 on bad input or usage.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/redact"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Version is set at build time (-ldflags "-X .../internal/cli.Version=...").
var Version = "dev"

// CLI holds what a run of the command line talks to.
type CLI struct {
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv in the real binary).
	Getenv func(string) string
	// Terminal says whether stderr is a terminal (progress and text logs).
	Terminal bool
}

// New returns a CLI on the process's streams and environment.
func New() *CLI {
	return &CLI{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Terminal: term.IsTerminal(int(os.Stderr.Fd()))}
}

// exitError carries an exit code for an error already reported (or one to
// report) on stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// failed returns an error that exits 1 without printing more (the result
// already said what is wrong).
func failed() error { return &exitError{code: ExitFailure} }

func usage(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// globals are the flags every command shares.
type globals struct {
	configDir string
	logLevel  string
	logFormat string
	env       *app.Env
	logger    *slog.Logger
}

// Run executes the command line and returns the exit code.
func (c *CLI) Run(ctx context.Context, args []string) int {
	g := &globals{}
	root := c.rootCommand(g)
	root.SetArgs(args)
	root.SetOut(c.Stdout)
	root.SetErr(c.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	var ue *app.UsageError
	switch {
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(c.Stderr, "error:", redact.Secrets(ee.err.Error()))
		}
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(c.Stderr, "error:", redact.Secrets(ue.Err.Error()))
		return ExitUsage
	case isCobraUsage(err):
		fmt.Fprintf(c.Stderr, "error: %s\nRun 'scentmatch --help' for usage.\n", redact.Secrets(err.Error()))
		return ExitUsage
	default:
		fmt.Fprintln(c.Stderr, "error:", redact.Secrets(err.Error()))
		return ExitFailure
	}
}

// isCobraUsage recognises cobra's own argument and command errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires exactly", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (c *CLI) rootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "scentmatch",
		Short: "Operate the ScentMatch catalog pipeline",
		Long: `scentmatch operates the ScentMatch catalog pipeline, locally or against
its AWS deployment:

  the weekly cycle   cycle (all steps here, or --remote on Step Functions),
                     detect, import, maintain, metrics, notify, invoke (one
                     Lambda handler in-process with a sample event)
  watching it        status, health, metrics, verify
  the catalog        import, quarantine, review, similar, embeddings, dataset
  operations         stop and start (the emergency stop), backup, restore,
                     db (migrate, status, url, start, stop), config, sandbox

Every command has --help with an example; --json gives machine output.
Exit status: 0 success, 1 an operational failure, 2 bad input or usage.

With no DATABASE_URL, commands use a private PostgreSQL cluster in
$SCENTMATCH_HOME (default .scentmatch/ in this repository, else
~/.scentmatch); it keeps running until 'scentmatch db stop'.`,
		Example: `  scentmatch health
  scentmatch config validate ./my-config
  DATABASE_URL=postgres://user:pass@db:5432/catalog scentmatch db migrate`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return c.setup(g)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.configDir, "config-dir", "", "directory (or s3://bucket/prefix) whose configuration files replace the defaults (env SCENTMATCH_CONFIG_DIR)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format on stderr: auto (text on a terminal, else JSON), json, text")
	root.AddCommand(c.dbCommand(g), c.configCommand(g), c.healthCommand(g), c.importCommand(g), c.quarantineCommand(g), c.reviewCommand(g),
		c.embeddingsCommand(g), c.similarCommand(g), c.datasetCommand(), c.versionCommand(), c.notifyCommand(g), c.detectCommand(g),
		c.sandboxCommand(g), c.statusCommand(g), c.metricsCommand(g), c.maintainCommand(g),
		c.backupCommand(g), c.restoreCommand(g), c.verifyCommand(g), c.stopCommand(g), c.startCommand(g), c.cycleCommand(g), c.invokeCommand(g))
	addBuiltinExamples(root)
	return root
}

// addBuiltinExamples creates cobra's help and completion commands now
// (Execute would add them later) and gives each an example, as every
// command has.
func addBuiltinExamples(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	examples := map[string]string{
		"help": `  scentmatch help cycle
  scentmatch help db migrate`,
		"completion": `  source <(scentmatch completion bash)
  scentmatch completion zsh > "${fpath[1]}/_scentmatch"`,
		"completion bash": `  source <(scentmatch completion bash)
  scentmatch completion bash > /etc/bash_completion.d/scentmatch`,
		"completion zsh": `  source <(scentmatch completion zsh)
  scentmatch completion zsh > "${fpath[1]}/_scentmatch"`,
		"completion fish": `  scentmatch completion fish | source
  scentmatch completion fish > ~/.config/fish/completions/scentmatch.fish`,
		"completion powershell": `  scentmatch completion powershell | Out-String | Invoke-Expression`,
	}
	for path, example := range examples {
		cmd, _, err := root.Find(strings.Fields(path))
		if err == nil && cmd != root {
			cmd.Example = example
		}
	}
}

func (c *CLI) setup(g *globals) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usage("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	format := logging.JSON
	switch g.logFormat {
	case "auto":
		if c.Terminal {
			format = logging.Text
		}
	case "json":
	case "text":
		format = logging.Text
	default:
		return usage("--log-format %q: use auto, json or text", g.logFormat)
	}
	g.logger = logging.New(c.Stderr, logging.Options{Format: format, Level: level})
	g.env = &app.Env{Getenv: c.Getenv, Logger: g.logger, ConfigDir: g.configDir}
	return nil
}

func (c *CLI) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  scentmatch version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(c.Stdout, Version)
			return nil
		},
	}
}

// printJSON writes v as indented JSON on stdout.
func (c *CLI) printJSON(v any) error {
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
