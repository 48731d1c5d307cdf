// Command notify is the Lambda function of the cycle's Notify step, of the
// Catch path's error alert, and of the EventBridge rule for executions that
// timed out or were aborted. It e-mails through Amazon SES.
//
// It is wired by notify.ForLambda rather than steps.ForLambda so that it
// links only what sending needs (see notify.Lambda.Handle).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/notify"
)

func main() {
	h, logger, err := notify.ForLambda(context.Background(), 2)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(event.Strict(h.Handle))
}
