// Command notify is the Lambda function for the cycle's Notify step: the
// state machine calls it on the success path and on the Catch path (with
// the failed state's error at $.error). It e-mails through Amazon SES.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/notify"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func main() {
	logger := logging.New(os.Stdout, logging.Options{Format: logging.JSON})
	env := app.NewEnv(logger)
	h := &notify.Lambda{Env: env, Deps: &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 2}}}
	lambda.Start(h.Handle)
}
