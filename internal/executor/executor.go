// Package executor defines the contract between the job runner and the
// places jobs run: a persistent shell session on this machine
// (executor/shell) or in a container (executor/docker). A contract test
// suite in executor/executortest is run by every implementation.
package executor

import (
	"context"
	"errors"
	"io"

	"github.com/batonci/baton/internal/jobspec"
)

// Executor starts job sessions.
type Executor interface {
	// Start starts one persistent bash session for a job. The session's
	// processes are stopped by Session.Close, or when ctx is done.
	Start(ctx context.Context, cfg SessionConfig) (Session, error)
}

// SessionConfig describes the session to start.
type SessionConfig struct {
	// Dir is the working directory the session starts in.
	Dir string
	// Env is the base environment ("KEY=VALUE") of the shell process. The
	// runner exports the job's own variables with commands, so that they
	// are visible in the log as "Exporting NAME".
	Env []string
	// Init is bash source evaluated once when the session starts, before
	// any command, without output capture (for example shell functions such
	// as `checkout`). It must not print.
	Init string
	// User, when not nil, runs the session's processes (and the shells
	// started beside it) as this unprivileged user, with HOME set to
	// User.Home. Dir must be reachable by the user. The docker executor
	// ignores it: containers run as their image's user.
	User *User

	// Containers, when not empty, asks for a container session: the
	// first container is the main one, where the bash session runs; the
	// others are services on a private network, reachable by name. The
	// shell executor refuses such configs (ErrContainersUnsupported). Dir
	// and Mounts are bind-mounted at the same paths in the main container.
	Containers []Container
	// Mounts are host paths to make available in the main container.
	Mounts []Mount
	// PullPolicy says when images are pulled: PullIfNotPresent (the
	// default, "") or PullAlways.
	PullPolicy string
	// Credentials log in to registries before pulling.
	Credentials []RegistryCredential
	// JobID labels what a container session creates, so that it can be
	// found and removed after a crash. Empty means a random id.
	JobID string
	// Log receives the session's setup progress (one line per image:
	// cached or pulled, and how long; service start failures with the
	// service's last log lines). Nil discards it.
	Log io.Writer
}

// User is a Unix user a session runs as.
type User struct {
	// UID and GID are the user's ids; the session gets no supplementary
	// groups.
	UID, GID int
	// Home is the session's HOME.
	Home string
}

// Pull policies.
const (
	PullIfNotPresent = "if-not-present"
	PullAlways       = "always"
)

// Container, Mount and RegistryCredential are the job spec's: the
// executor runs what an agent received, without copying it.
type (
	// Container is one container of a container session.
	Container = jobspec.Container
	// Mount is a host path bind-mounted in a container at the same path.
	Mount = jobspec.Mount
	// RegistryCredential is a login to a container registry.
	RegistryCredential = jobspec.RegistryCredential
)

// ErrContainersUnsupported is returned by an executor that cannot run
// container sessions.
var ErrContainersUnsupported = errors.New("this executor cannot run jobs in containers (agent.containers); the docker executor does")

// Switch is an Executor that sends container sessions to Containers and
// the others to Host. When Containers is nil, container sessions fail with
// ContainersErr (or ErrContainersUnsupported).
type Switch struct {
	// Host runs sessions without containers.
	Host Executor
	// Containers runs container sessions; nil when none can run here.
	Containers Executor
	// ContainersErr says why container sessions cannot run here.
	ContainersErr error
}

// Start implements Executor.
func (s Switch) Start(ctx context.Context, cfg SessionConfig) (Session, error) {
	if len(cfg.Containers) == 0 {
		return s.Host.Start(ctx, cfg)
	}
	if s.Containers == nil {
		if s.ContainersErr != nil {
			return nil, s.ContainersErr
		}
		return nil, ErrContainersUnsupported
	}
	return s.Containers.Start(ctx, cfg)
}

// Session is one persistent bash process: working directory, exported
// variables, shell functions and options set by one command are seen by the
// next.
type Session interface {
	// Run runs one command (arbitrary bash source, possibly multi-line) in
	// the session, copying everything it prints (stdout and stderr,
	// interleaved as written) to out, and returns its exit status. The
	// command runs as a sourced file, so `return N` ends it with status N.
	// Its standard input is empty.
	//
	// If the command ends the shell itself (`exit`, or a failure under
	// `set -e`), Run returns the shell's exit status and ErrSessionEnded;
	// later calls return ErrSessionEnded at once.
	//
	// When ctx is done, Run kills the session's whole process group and
	// returns ctx's error.
	Run(ctx context.Context, command string, out io.Writer) (exitCode int, err error)
	// Close ends the session: SIGTERM to its process group, a grace
	// period, then SIGKILL. It waits for the shell to exit. Close is safe
	// to call more than once.
	Close() error
}

// ErrSessionEnded is returned by Session.Run when the shell is gone.
var ErrSessionEnded = errSessionEnded{}

type errSessionEnded struct{}

func (errSessionEnded) Error() string { return "shell session ended" }

// Shell is an optional interface of a Session: it starts an interactive
// process beside the session's shell, in the session's environment (the
// same machine or main container, base environment and mounts). Debug
// sessions (baton attach, baton debug) use it. Both executors implement
// it; executortest.RunShell is its contract suite.
type Shell interface {
	// StartShell starts cfg's process. It ends by itself, when ctx is
	// done, or when the session is closed.
	StartShell(ctx context.Context, cfg ShellConfig) (Process, error)
}

// ShellConfig describes an interactive process.
type ShellConfig struct {
	// Init is bash source evaluated first, silently, in the new shell:
	// the job's variables and functions, and a cd.
	Init string
	// Command is bash source to run; empty means an interactive shell.
	Command string
	// TTY gives the process a terminal of Rows x Cols; TERM is Term.
	TTY        bool
	Term       string
	Rows, Cols int
	// Stdin, Stdout and Stderr are the process's streams; with TTY,
	// Stderr is unused (the terminal carries both outputs).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Process is a running interactive process.
type Process interface {
	// Resize changes the terminal's size (without TTY it does nothing).
	Resize(rows, cols int) error
	// Wait waits for the process and returns its exit status, after its
	// output was copied to Stdout and Stderr.
	Wait() (int, error)
	// Close kills the process (and its process group) and waits for it.
	Close() error
}
