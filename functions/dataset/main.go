// Command dataset is the dataset import state machine's first and last step:
// it splits an upload under imports/ into JSON Lines chunks and summarises
// the chunk imports.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/steps"
)

func main() {
	s, logger, err := steps.ForLambda(context.Background(), 1)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(event.Strict(s.Dataset))
}
