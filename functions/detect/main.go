// Command detect is the Lambda function of the cycle's Detect step: it takes
// the cycle's lease, crawls the configured upstream politely and returns the
// candidates.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/steps"
)

func main() {
	s, logger, err := steps.ForLambda(context.Background(), 2)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(event.Strict(s.Detect))
}
