// Command import is the Lambda function that imports a dataset object
// (an upload to the bucket's imports/ prefix, or one chunk of it).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
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
	deps := &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 4}}
	h := &importer.ObjectHandler{
		S3: s3.NewFromConfig(awsCfg),
		Importer: func(ctx context.Context) (*importer.Importer, error) {
			d, err := deps.Get(ctx)
			if err != nil {
				return nil, err
			}
			return &importer.Importer{Pool: d.Pool, Config: d.Config, Logger: d.Logger}, nil
		},
	}
	lambda.Start(h.Handle)
}
