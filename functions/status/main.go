// Command status is the Lambda function behind the operator's status and
// health questions: the same JSON as `scentmatch status --json`, with the
// month's summary and the health report on request.
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/status"
)

func main() {
	ctx := context.Background()
	logger := logging.New(os.Stdout, logging.Options{Format: logging.JSON})
	env := app.NewEnv(logger)
	awsCfg, err := env.AWS(ctx)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	var sch status.Scheduler
	if name := os.Getenv(status.EnvScheduleName); name != "" {
		sch = status.AWS{Schedules: scheduler.NewFromConfig(awsCfg), StateMachine: sfn.NewFromConfig(awsCfg), ScheduleName: name, StateMachineARN: os.Getenv(status.EnvStateMachineARN)}
	}
	// The e-mail channel the notify function uses: SES, or the outbox
	// when SCENTMATCH_EMAIL says so (sam local invoke, events/env.json).
	var email health.EmailChecker = health.SES{Client: sesv2.NewFromConfig(awsCfg)}
	if os.Getenv(notify.EnvEmail) == "outbox" {
		if dir, err := env.Home(); err == nil {
			email = health.Outbox{Dir: filepath.Join(dir, notify.OutboxDir)}
		}
	}
	deps := &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 2}}
	h := &status.Handler{
		Reporter: func(ctx context.Context) (*status.Reporter, error) {
			d, err := deps.Get(ctx)
			if err != nil {
				return nil, err
			}
			return &status.Reporter{Pool: d.Pool, Config: d.Config, Scheduler: sch}, nil
		},
		HealthInputs: func(ctx context.Context) health.Inputs {
			in := health.Inputs{Email: email}
			in.Config, in.Problems, in.ConfigErr = env.CheckConfig(ctx)
			if ov, err := env.Overrides(ctx, env.ConfigLocation()); err == nil {
				in.Ethics, _ = health.ReadEthics(ctx, ov)
			}
			if d, err := deps.Get(ctx); err == nil {
				in.Pool = d.Pool
			} else {
				in.Connect = func(ctx context.Context) (*pgxpool.Pool, error) {
					pool, _, err := env.Connect(ctx, postgres.PoolOptions{MaxConns: 2}) // two: see health's pooling check
					return pool, err
				}
			}
			return in
		},
	}
	lambda.Start(event.Strict(h.Handle))
}
