package cli_test

import (
	"os"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/toolbox"
)

// TestMain makes this test binary act as `baton` (and as every toolbox
// command, which `baton run` installs as links to the binary) inside the
// scripts.
func TestMain(m *testing.M) {
	main := func() {
		ctx, stop := cli.SignalContext()
		dir, _ := os.Getwd()
		os.Exit(cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir, Stop: stop}))
	}
	cmds := map[string]func(){"baton": main}
	for _, name := range toolbox.Names() {
		cmds[name] = main
	}
	testscript.Main(m, cmds)
}

// TestScripts runs the CLI behaviour specifications in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// waitfile FILE... waits up to 30 s for files to exist.
			"waitfile": func(ts *testscript.TestScript, neg bool, args []string) {
				deadline := time.Now().Add(30 * time.Second)
				for _, f := range args {
					for {
						if _, err := os.Stat(ts.MkAbs(f)); err == nil {
							break
						}
						if time.Now().After(deadline) {
							ts.Fatalf("timed out waiting for %s", f)
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			},
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("GIT_AUTHOR_NAME", "Ada Tester")
			env.Setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "Ada Tester")
			env.Setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/.cache")
			env.Setenv("HOME", env.WorkDir+"/home")
			return os.MkdirAll(env.WorkDir+"/home", 0o755)
		},
	})
}
