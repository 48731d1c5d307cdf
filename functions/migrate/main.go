// Command migrate is the Lambda function that applies the schema
// migrations; make deploy invokes it once after each deploy.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func main() {
	logger := logging.New(os.Stdout, logging.Options{Format: logging.JSON})
	env := app.NewEnv(logger)
	h := &postgres.MigrateHandler{
		Logger: logger,
		Connect: func(ctx context.Context) (*pgxpool.Pool, error) {
			pool, _, err := env.Connect(ctx, postgres.PoolOptions{MaxConns: 1})
			return pool, err
		},
	}
	lambda.Start(event.Strict(h.Handle))
}
