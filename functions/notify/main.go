// Command notify is the Lambda function of the cycle's Notify step, of the
// Catch path's error alert, and of the EventBridge rule for executions that
// timed out or were aborted. It e-mails through Amazon SES.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/steps"
)

func main() {
	s, logger, err := steps.ForLambda(context.Background(), 2)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(s.Notify)
}
