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

// ForLambda builds the steps as a deployed function runs them (and the
// JSON logger on stdout whose level follows each cycle's debug flag): the
// process environment, the AWS SDK configuration, the S3 client, the
// pipeline bucket from SCENTMATCH_BUCKET, EMF metric lines on stdout, and
// at most maxConns database connections.
func ForLambda(ctx context.Context, maxConns int32) (*Steps, *slog.Logger, error) {
	env, level, awsCfg, err := app.ForLambda(ctx)
	if err != nil {
		return nil, env.Logger, err
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
		Level:  level,
	}, env.Logger, nil
}
