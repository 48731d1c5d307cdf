// Command detect is the Lambda function of the cycle's detect step: it
// crawls the configured upstream politely and returns the candidates.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/detect"
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
	s3c := s3.NewFromConfig(awsCfg)
	bucketRef := ""
	if name := os.Getenv(detect.EnvBucket); name != "" {
		bucketRef = "s3://" + strings.TrimPrefix(name, "s3://")
	}
	deps := &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 2}}
	h := &detect.StepHandler{
		Detector: func(ctx context.Context) (*detect.Detector, error) {
			d, err := deps.Get(ctx)
			if err != nil {
				return nil, err
			}
			return &detect.Detector{Pool: d.Pool, Config: d.Config, Logger: d.Logger, Open: detect.OpenSource, Bucket: bucketRef, S3: s3c}, nil
		},
	}
	lambda.Start(h.Handle)
}
