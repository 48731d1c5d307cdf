// Command metrics is the Lambda function of the cycle's Metrics step (and of
// RecordFailure on the Catch path): KPIs and the health score, stored on the
// cycle and written to stdout as CloudWatch EMF.
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
	lambda.Start(event.Strict(s.Metrics))
}
