package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
	"github.com/scentmatch/pipeline/internal/status"
	"github.com/scentmatch/pipeline/internal/steps"
)

// localFunctions returns the handlers of the Lambda functions, wired for
// this machine (the local database, bucket and outbox), by function name
// (the directory under functions/).
func (c *CLI) localFunctions(ctx context.Context, g *globals, deps *app.Lazy, home string) (map[string]any, error) {
	s := &steps.Steps{Env: g.env, Deps: deps, Bucket: bucket.Local(home), Open: steps.LocalOpener(g.logger, nil), EMF: c.Stderr}
	if b := g.env.Getenv(steps.EnvBucket); b != "" {
		s.Bucket = b
	}
	// s3:// references need a client: the SDK's configuration (credentials,
	// region, AWS_ENDPOINT_URL_S3) when the bucket or an endpoint says so.
	var s3c *s3.Client
	if strings.HasPrefix(s.Bucket, "s3://") || g.env.Getenv("AWS_ENDPOINT_URL_S3") != "" {
		cfg, err := g.env.AWS(ctx)
		if err != nil {
			return nil, err
		}
		s3c = s3.NewFromConfig(cfg, func(o *s3.Options) {
			if ep := g.env.Getenv("AWS_ENDPOINT_URL_S3"); ep != "" {
				o.BaseEndpoint = &ep
				o.UsePathStyle = true
			}
		})
		s.S3 = s3c
	}
	backupRoot := g.env.Getenv(backup.EnvLocation)
	if backupRoot == "" {
		backupRoot = filepath.Join(home, "backups")
	}
	pool := func(ctx context.Context) (*pgxpool.Pool, error) {
		d, err := deps.Get(ctx)
		if err != nil {
			return nil, err
		}
		return d.Pool, nil
	}
	bk := &backup.Handler{
		Root: backupRoot, Logger: g.logger,
		Keep: func(ctx context.Context) (int, error) {
			d, err := deps.Get(ctx)
			if err != nil {
				return 0, err
			}
			return d.Config.Monitoring.Retention.BackupsKeep, nil
		},
		Pool: func(ctx context.Context) (*pgxpool.Pool, string, error) {
			d, err := deps.Get(ctx)
			if err != nil {
				return nil, "", err
			}
			return d.Pool, redact.URL(d.Pool.Config().ConnString()), nil
		},
	}
	if s3c != nil {
		bk.S3 = s3c
	}
	return map[string]any{
		"detect":   event.Strict(s.Detect),
		"import":   event.Strict(s.Import),
		"dataset":  event.Strict(s.Dataset),
		"maintain": event.Strict(s.Maintain),
		"metrics":  event.Strict(s.Metrics),
		"notify":   event.Strict(s.Notify),
		"migrate": event.Strict((&postgres.MigrateHandler{Logger: g.logger, Connect: func(ctx context.Context) (*pgxpool.Pool, error) {
			p, _, err := g.env.ConnectMigration(ctx)
			return p, err
		}}).Handle),
		"status": event.Strict((&status.Handler{
			Reporter: func(ctx context.Context) (*status.Reporter, error) {
				d, err := deps.Get(ctx)
				if err != nil {
					return nil, err
				}
				return &status.Reporter{Pool: d.Pool, Config: d.Config}, nil
			},
			HealthInputs: func(ctx context.Context) health.Inputs {
				in := health.Inputs{Connect: pool}
				in.Config, in.Problems, in.ConfigErr = g.env.CheckConfig(ctx)
				return in
			},
		}).Handle),
		"backup": event.Strict(bk.Handle),
	}, nil
}

func (c *CLI) invokeCommand(g *globals) *cobra.Command {
	var eventFile string
	cmd := &cobra.Command{
		Use:   "invoke FUNCTION -e EVENT.json",
		Short: "Invoke a Lambda function's handler in-process with a sample event",
		Long: `Runs one function's handler on this machine, the way the Lambda runtime
calls it (the event decoded into the handler's input, the result encoded as
JSON on stdout), against the local database, bucket and outbox. make
invoke-<function> uses it when the SAM CLI and Docker are not installed.

Functions: backup, dataset, detect, import, maintain, metrics, migrate,
notify, status (the directories under functions/). Sample events are in
events/. A handler error prints its errorType (the name Step Functions
retries and catches on) and exits 1.

A cycle step's event is a cycle: events/detect.json (also import-cycle.json
and maintain.json) begins cycle schedule-20261129T0200 and leaves it running,
holding the cycle lease (cycle.lease_minutes), so 'scentmatch cycle' is
refused meanwhile. End it as the state machine's Catch path does:
'scentmatch invoke metrics -e events/metrics-failure.json'. The same event
again answers from the stored result.`,
		Example: `  scentmatch invoke detect -e events/detect.json
  scentmatch invoke metrics -e events/metrics-failure.json
  scentmatch invoke status -e events/status.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if eventFile == "" {
				return usage("give the event with -e FILE (samples are in events/)")
			}
			payload, err := os.ReadFile(eventFile)
			if err != nil {
				return usage("reading the event: %v", err)
			}
			if !json.Valid(payload) {
				return usage("%s is not JSON", eventFile)
			}
			home, err := g.env.Home()
			if err != nil {
				return err
			}
			deps := &app.Lazy{Env: g.env, Pool: postgres.PoolOptions{MaxConns: 4}}
			defer deps.Close()
			fns, err := c.localFunctions(cmd.Context(), g, deps, home)
			if err != nil {
				return err
			}
			fn, ok := fns[args[0]]
			if !ok {
				names := make([]string, 0, len(fns))
				for n := range fns {
					names = append(names, n)
				}
				sort.Strings(names)
				return usage("no function %q (functions: %s)", args[0], strings.Join(names, ", "))
			}
			out, err := lambda.NewHandler(fn).Invoke(cmd.Context(), payload)
			if err != nil {
				return &exitError{code: ExitFailure, err: fmt.Errorf("%s (errorType %s)", err, errorType(err))}
			}
			_, err = fmt.Fprintf(c.Stdout, "%s\n", out)
			return err
		},
	}
	cmd.Flags().StringVarP(&eventFile, "event", "e", "", "the event JSON file")
	return cmd
}

// errorType is the name the Lambda runtime reports for err.
func errorType(err error) string {
	t := fmt.Sprintf("%T", err)
	if i := strings.LastIndex(t, "."); i >= 0 {
		t = t[i+1:]
	}
	return t
}
