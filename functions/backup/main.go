// Command backup is the Lambda function that backs the database up to the
// backup bucket ($BACKUP_LOCATION); the monthly schedule invokes it.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
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
	deps := &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 2}}
	// The manifest names the database without another secret lookup.
	source := redact.URL(os.Getenv(postgres.EnvDatabaseURL))
	if source == "" {
		source = "secret " + os.Getenv(postgres.EnvDatabaseSecretARN)
	}
	h := &backup.Handler{
		S3:     s3.NewFromConfig(awsCfg),
		Root:   os.Getenv(backup.EnvLocation),
		Logger: logger,
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
			return d.Pool, source, nil
		},
	}
	lambda.Start(event.Strict(h.Handle))
}
