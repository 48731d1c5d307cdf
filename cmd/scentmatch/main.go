// Command scentmatch is the ScentMatch pipeline's operator CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/scentmatch/pipeline/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.New().Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
