// Command baton is Baton's single binary: the local pipeline runner, and
// (later) the server, agent and CLI of the CI service.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/cli"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel(ci.StopCause{Reason: ci.ReasonUser})
		<-sigs
		os.Exit(130) // a second interrupt does not wait for the clean-up
	}()
	dir, _ := os.Getwd()
	os.Exit(cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir}))
}
