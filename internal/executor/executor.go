// Package executor defines the contract between the job runner and the
// places jobs run: a persistent shell session on this machine
// (executor/shell) or in a container (executor/docker). A contract test
// suite in executor/executortest is run by every implementation.
package executor

import (
	"context"
	"io"
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
