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
	deps := &app.Lazy{Env: app.NewEnv(logger), Pool: postgres.PoolOptions{MaxConns: 2}}
	h := &maintain.Handler{Step: func(ctx context.Context) (*maintain.Step, error) {
		d, err := deps.Get(ctx)
		if err != nil {
			return nil, err
		}
		return &maintain.Step{Maintainer: &maintain.Maintainer{Pool: d.Pool, Config: d.Config, Logger: d.Logger}}, nil
	}}
	lambda.Start(h.Handle)
}
