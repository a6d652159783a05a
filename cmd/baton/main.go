// Command baton is Baton's single binary: the local pipeline runner, the
// CI server, the agent and the CLI that talks to a server.
//
// For performance work, BATON_CPU_PROFILE=FILE writes a CPU profile of
// the whole process to FILE (go tool pprof reads it) when it ends.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/batonci/baton/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(os.Exit)
	dir, _ := os.Getwd()
	stopProfile := startProfile(os.Getenv("BATON_CPU_PROFILE"))
	code := cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir, Stop: stop})
	stopProfile()
	os.Exit(code)
}

// startProfile starts a CPU profile into path ("": none) and returns what
// ends it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "baton: BATON_CPU_PROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
