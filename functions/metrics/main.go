// Command metrics is the Lambda function of the cycle's Metrics step: the
// KPIs and health score, stored on the cycle and written to stdout as
// CloudWatch EMF, and the "Monitoring cycle completed" log line.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/emf"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func main() {
	logger := logging.New(os.Stdout, logging.Options{Format: logging.JSON})
	deps := &app.Lazy{Env: app.NewEnv(logger), Pool: postgres.PoolOptions{MaxConns: 2}}
	out := &emf.Writer{W: os.Stdout, Stage: emf.Stage(os.Getenv)}
	h := &metrics.Handler{Step: func(ctx context.Context) (*metrics.Step, error) {
		d, err := deps.Get(ctx)
		if err != nil {
			return nil, err
		}
		return &metrics.Step{Pool: d.Pool, Config: d.Config, Logger: d.Logger, EMF: out}, nil
	}}
	lambda.Start(h.Handle)
}
