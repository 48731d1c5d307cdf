// Command maintain is the Lambda function of the cycle's Maintain step:
// retention purges, a time-boxed embedding backfill, VACUUM (ANALYZE).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/steps"
)

func main() {
	logger := logging.New(os.Stdout, logging.Options{Format: logging.JSON})
	s, err := steps.ForLambda(context.Background(), logger, 2)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(s.Maintain)
}
