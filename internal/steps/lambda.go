package steps

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/detect"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// ForLambda builds the steps as a deployed function runs them: the
// process environment, the AWS SDK configuration, the S3 client, the
// pipeline bucket from SCENTMATCH_BUCKET, EMF metric lines on stdout, and
// at most maxConns database connections.
func ForLambda(ctx context.Context, logger *slog.Logger, maxConns int32) (*Steps, error) {
	env := app.NewEnv(logger)
	awsCfg, err := env.AWS(ctx)
	if err != nil {
		return nil, err
	}
	b := os.Getenv(EnvBucket)
	if b != "" && !strings.Contains(b, "://") {
		b = "s3://" + b
	}
	return &Steps{
		Env:    env,
		Deps:   &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: maxConns}},
		S3:     s3.NewFromConfig(awsCfg),
		Bucket: b,
		Open:   detect.OpenSource,
		EMF:    os.Stdout,
	}, nil
}
