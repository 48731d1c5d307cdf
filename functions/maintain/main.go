// Command maintain is the Lambda function of the cycle's Maintain step:
// retention purges, a time-boxed embedding backfill, VACUUM (ANALYZE).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/maintain"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func main() {
	logger := logging.New(os.Stdout, logging.Options{Format: logging.JSON})
	env := app.NewEnv(logger)
	deps := &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 2}}
	h := &maintain.Handler{Step: func(ctx context.Context) (*maintain.Step, error) {
		d, err := deps.Get(ctx)
		if err != nil {
			return nil, err
		}
		m := &maintain.Maintainer{Pool: d.Pool, Config: d.Config, Logger: d.Logger}
		// An embedder that cannot be built leaves the backfill skipped, with the reason in the result.
		if e, err := env.Embedder(ctx, d.Config.Monitoring.Embedding); err == nil {
			m.Embedder = e
		}
		return &maintain.Step{Maintainer: m}, nil
	}}
	lambda.Start(h.Handle)
}
