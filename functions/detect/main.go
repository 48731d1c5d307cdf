// Command detect is the Lambda function of the cycle's Detect step: it takes
// the cycle's lease, crawls the configured upstream politely and returns the
// candidates.
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
	lambda.Start(s.Detect)
}
