// Command import is the import function: the cycle's Import step (given the
// cycle state) and the dataset chunk importer (given {"object": ...}).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/scentmatch/pipeline/internal/event"
	"github.com/scentmatch/pipeline/internal/steps"
)

func main() {
	s, logger, err := steps.ForLambda(context.Background(), 4)
	if err != nil {
		logger.Error("loading AWS configuration", "err", err)
		os.Exit(1)
	}
	lambda.Start(event.Strict(s.Import))
}
