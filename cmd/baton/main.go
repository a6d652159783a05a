// Command baton is Baton's single binary: the local pipeline runner, the
// CI server, the agent and the CLI that talks to a server.
package main

import (
	"os"

	"github.com/batonci/baton/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(os.Exit)
	dir, _ := os.Getwd()
	os.Exit(cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir, Stop: stop}))
}
