package cli_test

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/toolbox"
)

// TestMain makes this test binary act as `baton` (and as every toolbox
// command, which `baton run` installs as links to the binary) inside the
// scripts.
func TestMain(m *testing.M) {
	main := func() {
		dir, _ := os.Getwd()
		os.Exit(cli.Main(context.Background(), os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir}))
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
