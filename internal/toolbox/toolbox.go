// Package toolbox implements Semaphore's toolbox commands (checkout, cache,
// artifact, test-results, coverage, sem-context, retry, sem-version, sem-service,
// install-package...) for jobs that baton runs on this machine.
//
// Each command either works for real (the cache, artifacts and sem-context
// through the job's service, internal/jobsvc; see the BATON_* variables
// below), or says plainly on standard error that it is not available
// locally and what to do instead; none pretends to have done something it
// has not. Every message starts with the command's name.
//
// The baton binary is installed under each command's name (Install) in a
// directory on the job's PATH, and baton's main dispatches on the name it
// was called by to Main. checkout changes the shell's directory, so it is
// also a shell function (ShellInit) that calls the executable and then cds.
//
// The runner sets, in every job's environment:
//
//	BATON_WORKSPACE     absolute path of the job's copy of the working tree
//	BATON_JOB_HOME      the job's home directory; a relative SEMAPHORE_GIT_DIR
//	                    is relative to it (default: $HOME)
//	BATON_JOBSVC        the job service's socket: the project's cache and
//	                    artifacts and the workflow's sem-context store, with
//	                    the job's rights (internal/jobsvc)
//	BATON_JOBSVC_TOKEN  the job's token for it
//
// and Semaphore's SEMAPHORE_JOB_ID, SEMAPHORE_WORKFLOW_ID,
// SEMAPHORE_PROJECT_ID, SEMAPHORE_PIPELINE_<n>_ARTEFACT_ID,
// SEMAPHORE_GIT_BRANCH (and SEMAPHORE_GIT_PR_BRANCH for pull requests) and
// SEMAPHORE_GIT_REPO_NAME. Users may set SEMAPHORE_GIT_DIR, CACHE_SIZE (the
// cache's limit in KiB; default 9 GiB) and CACHE_FAIL_ON_ERROR, as on
// Semaphore. cache store and restore without arguments cache ~/.nvm,
// ~/.cache/yarn and ~/go/pkg/mod under the job's HOME.
package toolbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// command is one toolbox command.
type command struct {
	name string
	run  func(c *call, args []string) int
}

func commands() []command {
	return []command{
		{"checkout", runCheckout},
		{"cache", runCache},
		{"checksum", runChecksum},
		{"artifact", runArtifact},
		{"test-results", runTestResults},
		{"coverage", runCoverage},
		{"sem-context", runSemContext},
		{"retry", runRetry},
		{"sem-version", runSemVersion},
		{"sem-service", runSemService},
		{"install-package", runInstallPackage},
		{"sem-semantic-release", runSemanticRelease},
		{"lib", runLib},
		{"tool", runTool},
	}
}

// Names lists the toolbox commands implemented as executables, in a new
// slice.
func Names() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// Main runs toolbox command name with args (not including the command's
// name) and returns its exit status. env is the job's environment
// ("KEY=VALUE", as os.Environ returns it); relative paths are relative to
// the process's working directory.
func Main(ctx context.Context, name string, args []string, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dir, err := os.Getwd()
	if err != nil {
		dir = lookup(env, "PWD")
	}
	return run(ctx, name, args, env, dir, stdin, stdout, stderr)
}

// run is Main with the working directory given, for tests.
func run(ctx context.Context, name string, args []string, env []string, dir string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &call{ctx: ctx, name: name, environ: env, dir: dir, stdin: stdin, stdout: stdout, stderr: stderr}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(c, args)
		}
	}
	c.errorf("not a toolbox command (toolbox commands: %s)", strings.Join(Names(), ", "))
	return 127
}

// Install creates dir (if needed) and in it a symlink named after every
// command in Names pointing to batonPath. It replaces existing symlinks
// and refuses to replace anything else.
func Install(dir, batonPath string) error {
	target, err := filepath.Abs(batonPath)
	if err != nil {
		return fmt.Errorf("install toolbox: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install toolbox: %w", err)
	}
	for _, name := range Names() {
		link := filepath.Join(dir, name)
		if fi, err := os.Lstat(link); err == nil {
			if fi.Mode()&fs.ModeSymlink == 0 {
				return fmt.Errorf("install toolbox: %s exists and is not a symlink", link)
			}
			if err := os.Remove(link); err != nil {
				return fmt.Errorf("install toolbox: %w", err)
			}
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("install toolbox: %w", err)
		}
	}
	return nil
}

// checkoutFunctionVar tells the checkout executable that the checkout shell
// function called it, and so will cd to the directory it prints.
const checkoutFunctionVar = "BATON_CHECKOUT_FUNCTION"

// ShellInit returns bash source, to be sourced once when a job's shell
// starts, that defines the toolbox commands that must be shell functions:
// checkout, which runs the checkout executable (found on PATH) and then
// changes the shell's directory to the working copy. It prints nothing and
// works under `set -euo pipefail`.
func ShellInit() string {
	return `checkout() {
  local __baton_dir
  __baton_dir="$(` + checkoutFunctionVar + `=1 command checkout "$@")" || return
  builtin cd -- "$__baton_dir" || return
  export BATON_WORKSPACE="$__baton_dir"
}
` + toolsShellInit()
}

// call is one run of a toolbox command.
type call struct {
	ctx            context.Context
	name           string
	environ        []string
	dir            string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// getenv returns the value of key in the job's environment (the last one
// if it is there twice), or "".
func (c *call) getenv(key string) string { return lookup(c.environ, key) }

func lookup(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// command returns a command that runs name, looked up in the job's PATH
// (not this process's), in the working directory with the job's
// environment.
func (c *call) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := name
	if !strings.Contains(name, "/") {
		path = lookPath(name, c.getenv("PATH"))
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Args[0] = name
	cmd.Dir = c.dir
	cmd.Env = c.environ
	return cmd
}

// lookPath finds an executable in the directories of pathList, or returns
// name unchanged (so that running it fails with "not found").
func lookPath(name, pathList string) string {
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}

// errorf prints a message, prefixed with the command's name, to stderr.
func (c *call) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, fmt.Sprintf(format, args...))
}

// infof is errorf for messages that are not errors: the toolbox's
// messages all go to stderr, so that stdout carries only data.
func (c *call) infof(format string, args ...any) { c.errorf(format, args...) }

// abs resolves p against the command's working directory.
func (c *call) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.dir, p)
}

// home is the job's home directory.
func (c *call) home() string {
	if h := c.getenv("BATON_JOB_HOME"); h != "" {
		return h
	}
	return c.getenv("HOME")
}

// usageError reports a command-line mistake and returns exit status 1.
func (c *call) usageError(usage string, format string, args ...any) int {
	c.errorf(format, args...)
	fmt.Fprintf(c.stderr, "usage: %s\n", usage)
	return 1
}

// flagSpec describes one command-line option.
type flagSpec struct {
	long, short string
	value       bool // takes a value
}

// flags are parsed options: long name → value ("" for switches).
type flags map[string]string

func (f flags) has(name string) bool { _, ok := f[name]; return ok }

var errHelp = errors.New("help requested")

// parseFlags separates options from arguments the way Semaphore's CLIs
// (cobra) do: options may come anywhere, as --name value, --name=value,
// -n value or -n=value, and "--" ends them. -h and --help return errHelp.
func parseFlags(args []string, specs []flagSpec) (positional []string, f flags, err error) {
	f = flags{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if a == "-h" || a == "--help" {
			return nil, nil, errHelp
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		long := strings.HasPrefix(a, "--")
		i0 := slices.IndexFunc(specs, func(s flagSpec) bool {
			return (long && s.long == name) || (!long && s.short != "" && s.short == name)
		})
		if i0 < 0 {
			return nil, nil, fmt.Errorf("unknown option %s", a)
		}
		spec := specs[i0]
		switch {
		case spec.value && !hasValue:
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("option %s needs a value", a)
			}
			i++
			value = args[i]
		case !spec.value && hasValue:
			return nil, nil, fmt.Errorf("option %s takes no value", a)
		}
		f[spec.long] = value
	}
	return positional, f, nil
}
