// Command baton is Baton's single binary: the local pipeline runner, the
// CI server, the agent and the CLI that talks to a server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/cli"
)

// main wires signals: the first SIGINT/SIGTERM cancels the command's
// context (a run stops its jobs, an agent drains), the second closes Stop
// (an agent stops its jobs), the third exits at once.
func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel(ci.StopCause{Reason: ci.ReasonUser})
		<-sigs
		close(stop)
		<-sigs
		os.Exit(130)
	}()
	dir, _ := os.Getwd()
	os.Exit(cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir, Stop: stop}))
}
