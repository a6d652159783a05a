// Package cli implements the `baton` command line: `baton <noun> <verb>`
// commands, each with an options struct, injectable standard streams,
// `--json` on read commands and exit codes that mean something. It is the
// only package besides cmd/ that reads flags, environment variables
// (BATON_*) and configuration files.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/toolbox"
	"golang.org/x/term"
)

// Exit codes.
const (
	ExitOK      = 0 // success; a pipeline passed
	ExitFailure = 1 // a pipeline failed or was stopped, a validation found problems
	ExitUsage   = 2 // invalid input: bad flags, unreadable or invalid files
)

// IO holds the standard streams and process facts a command may use.
type IO struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
	// Dir is the working directory.
	Dir string
	// Stop is closed on a second interrupt: an agent then stops its
	// running jobs instead of waiting for them. May be nil.
	Stop <-chan struct{}
}

// isTerminal reports whether w is an interactive terminal. A character
// device is not enough: /dev/null is one, and `baton run >/dev/null`
// then coloured every line (and `baton debug` asked ssh for a tty).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	c, err := f.SyscallConn() // unlike Fd, leaves the descriptor's mode alone
	if err != nil {
		return false
	}
	tty := false
	_ = c.Control(func(fd uintptr) { tty = term.IsTerminal(int(fd)) })
	return tty
}

// color reports whether output to w should be coloured.
func (o *IO) color(w io.Writer) bool {
	return isTerminal(w) && o.Getenv("NO_COLOR") == "" && o.Getenv("TERM") != "dumb"
}

// command is one `baton` subcommand.
type command struct {
	name    string // "run", "project create"
	summary string
	usage   string // arguments after the name
	help    string // longer description
	hidden  bool   // plumbing, not listed by 'baton help'
	run     func(ctx context.Context, o *IO, args []string) int
}

func commands() []*command {
	return append([]*command{
		runCommand(),
		validateCommand(),
		planCommand(),
		versionCommand(),
		upCommand(),
		serverCommand(),
		agentRunCommand(),
		loginCommand(),
		projectCreateCommand(),
		projectListCommand(),
		projectUpdateCommand(),
		projectDeleteCommand(),
		projectDeliveriesCommand(),
		projectRedeliverCommand(),
		workflowRunCommand(),
		workflowListCommand(),
		workflowShowCommand(),
		postCommand("workflow stop", "stop a workflow", "ID", "Stops every pipeline of the workflow: running jobs are stopped, waiting ones canceled.", "/api/v1/workflows/%s/stop", "Stopping workflow"),
		workflowRebuildCommand(),
		postCommand("pipeline rerun-failed", "rerun the blocks of a pipeline that did not pass", "ID", "Creates a new pipeline in the same workflow that reruns the blocks that did not pass and their dependents; passed jobs are reused.", "/api/v1/pipelines/%s/rerun-failed", "New pipeline"),
		postCommand("job stop", "stop a job", "ID", "Stops a running job (its process group is killed) or cancels a waiting one.", "/api/v1/jobs/%s/stop", "Stopping job"),
		jobShowCommand(),
		jobLogsCommand(),
		jobTestsCommand(),
		pipelineTestsCommand(),
		projectFlakyCommand(),
		pipelineCoverageCommand(),
		projectCoverageCommand(),
		testHistoryCommand(),
		agentListCommand(),
		agentTokenCreateCommand(),
		agentTokenListCommand(),
		agentTokenRevokeCommand(),
		secretCreateCommand(),
		secretListCommand(),
		secretShowCommand(),
		secretUpdateCommand(),
		secretDeleteCommand(),
		secretRotateKeyCommand(),
	}, append(append(append(append(append(append(append(scheduleCommands(), peopleCommands()...), targetCommands()...), debugCommands()...), artifactCommands()...), notificationCommands()...), libraryCommands()...), toolCommands()...)...)
}

// Version is the version of this build.
const Version = "0.1.0-dev"

// Main runs the baton command line with argv (argv[0] is the program name)
// and returns the exit code. When argv[0] names a toolbox command (the
// binary is installed in jobs under those names) that command runs instead.
func Main(ctx context.Context, argv []string, o *IO) int {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if len(argv) > 0 && filepath.Base(argv[0]) == reaper.Name {
		return reaper.Main(argv[1:], o.Err)
	}
	if len(argv) > 0 {
		if name := filepath.Base(argv[0]); slices.Contains(toolbox.Names(), name) {
			return toolbox.Main(ctx, name, argv[1:], os.Environ(), o.In, o.Out, o.Err)
		}
	}
	args := argv[1:]
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return helpFor(o, args[1:])
		}
		printUsage(o.Out)
		return ExitOK
	}
	if args[0] == "--version" {
		args = []string{"version"}
	}
	cmd, rest := find(args)
	if cmd == nil {
		fmt.Fprintf(o.Err, "baton: unknown command %q\nRun 'baton help' for the list of commands.\n", strings.Join(args[:min(2, len(args))], " "))
		return ExitUsage
	}
	return cmd.run(ctx, o, rest)
}

// find returns the longest command whose name prefixes args.
func find(args []string) (*command, []string) {
	var best *command
	n := 0
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && slices.Equal(words, args[:len(words)]) && len(words) > n {
			best, n = c, len(words)
		}
	}
	return best, args[n:]
}

func helpFor(o *IO, args []string) int {
	cmd, _ := find(args)
	if cmd == nil {
		fmt.Fprintf(o.Err, "baton: no help for %q\n", strings.Join(args, " "))
		return ExitUsage
	}
	return cmd.run(context.Background(), o, []string{"--help"})
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Baton runs Semaphore 2.0 pipelines: locally with 'baton run', or as a CI service.

Usage:
  baton <command> [flags] [arguments]

Commands:
`)
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	width := 0
	for _, c := range cmds {
		if !c.hidden {
			width = max(width, len(c.name))
		}
	}
	for _, c := range cmds {
		if c.hidden {
			continue
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'baton help <command>' or 'baton <command> --help' for details.
Exit codes: 0 success, 1 pipeline failed or problems found, 2 invalid input.
`)
}

// flags makes the flag set of a command with a usage message built from
// its description.
func (c *command) flags(o *IO) *flag.FlagSet {
	fs := flag.NewFlagSet("baton "+c.name, flag.ContinueOnError)
	fs.SetOutput(o.Err)
	fs.Usage = func() {
		w := o.Out
		fmt.Fprintf(w, "Usage: baton %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(o.Err)
		}
	}
	return fs
}

// parse parses args, allowing flags after positional arguments. It returns
// the positional arguments, and an exit code when the caller must stop
// (help was shown, or the flags were wrong). "--" ends the flags: every
// argument after it is positional, even one that starts with "-".
func parse(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if len(args) > 0 && args[0] == "--" {
			return append(pos, args[1:]...), 0, false
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, ExitOK, true
			}
			return nil, ExitUsage, true
		}
		rest := fs.Args()
		// The flag package drops the "--" that ends the flags it read.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" && (n < 2 || !takesValue(fs, args[n-2])) {
			return append(pos, rest...), 0, false
		}
		if len(rest) == 0 {
			return pos, 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// takesValue reports whether arg is a flag of fs that takes the next
// argument as its value ("-i" for "-i KEY", not "-i=KEY" or "-json").
func takesValue(fs *flag.FlagSet, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if name == arg || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// flagSet lets command builders add flags to a command's flag set.
type flagSet struct{ *flag.FlagSet }

func defaultHTTP() *http.Client { return &http.Client{} }

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func versionCommand() *command {
	c := &command{name: "version", summary: "print Baton's version", usage: "", help: "Prints the version of this baton binary."}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		if _, code, stop := parse(fs, args); stop {
			return code
		}
		fmt.Fprintf(o.Out, "baton %s\n", Version)
		return ExitOK
	}
	return c
}

// path is p relative to the command's directory, unless absolute.
func (o *IO) path(p string) string {
	if filepath.IsAbs(p) || o.Dir == "" {
		return p
	}
	return filepath.Join(o.Dir, p)
}
