// Package shell is the executor that runs job sessions as a persistent bash
// process on this machine.
//
// Each session is one `bash --noprofile --norc` in its own process group
// (its own session, in PTY mode). Bash runs a small driver loop: it reads
// the path of a command file from a private pipe, sources the file with
// standard input from /dev/null, and then prints an end marker, made of a
// random per-command nonce and the exit status, to its output. Because
// commands are sourced in the one shell, the working directory, exported
// variables, functions, aliases, shell options and background processes of
// one command are there for the next, and `return N` ends a command with
// status N, as in Semaphore.
//
// The shell's standard output and error are one pipe, so their interleaving
// is preserved. Options.PTY makes them a pseudo-terminal instead (with echo
// and output post-processing turned off, so bytes pass through unchanged),
// as on Semaphore: tools that check isatty then print colours and flush line
// by line. It is not the default because a pty is several times slower than
// a pipe for large output (see BenchmarkMillionLines).
//
// Stopping a session sends SIGTERM to its process group, waits up to a grace
// period for the group to exit, then sends SIGKILL.
//
// With Options.Supervisor, bash runs under a job supervisor
// (internal/reaper) that leads the process group: when the agent dies,
// however it dies, the supervisor kills every process of the job, also
// those that left the group; when bash exits, it stops what the job left
// running.
package shell

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/internal/bashproc"
	"github.com/batonci/baton/internal/reaper"
	"github.com/creack/pty"
)

// DefaultGracePeriod is how long a stopped session's processes get between
// SIGTERM and SIGKILL when Options.GracePeriod is zero.
const DefaultGracePeriod = 10 * time.Second

// Options configures an Executor. The zero value is ready to use.
type Options struct {
	// Bash is the bash binary: a path, or a name looked up in PATH.
	// Empty means "bash".
	Bash string
	// GracePeriod is how long Close, and Run on a cancelled context, wait
	// after SIGTERM before they SIGKILL the session's process group. Zero
	// means DefaultGracePeriod.
	GracePeriod time.Duration
	// PTY connects the shell's stdout and stderr to a pseudo-terminal
	// instead of a pipe, so that commands see a terminal, as on Semaphore.
	// It costs throughput: the kernel's tty layer moves output in 4 KiB
	// steps, and stdio line-buffers output to a terminal.
	PTY bool
	// TempDir is where each session keeps its command file, in a private
	// directory removed by Close. Empty means /dev/shm when there is one
	// (in memory: making and removing a directory there costs a few µs,
	// on a disk file system up to a few hundred), else os.TempDir().
	// Sessions that run as another user (SessionConfig.User) use /dev/shm
	// when there is one.
	TempDir string
	// Supervisor, when not nil, runs each session's bash under a job
	// supervisor, so that the session's processes die with this process
	// (see the package documentation). Nil runs bash directly.
	Supervisor *reaper.Supervisor
	// Prestart, with a Supervisor and without PTY, keeps this many
	// supervisors started ahead of their sessions (reaper.Pool), so that
	// a session's start does not wait for the baton binary to start.
	Prestart int
}

// Validate reports whether o is usable.
func (o Options) Validate() error {
	if o.GracePeriod < 0 {
		return fmt.Errorf("shell executor: negative grace period %v", o.GracePeriod)
	}
	return nil
}

// Executor starts shell sessions on this machine. It is safe for concurrent
// use; sessions are independent.
type Executor struct {
	opts Options
	// ready holds supervisors started ahead (Options.Prestart), nil
	// without.
	ready *reaper.Pool
}

var _ executor.Executor = (*Executor)(nil)

// New returns an Executor with the given options.
func New(opts Options) *Executor {
	if opts.Bash == "" {
		opts.Bash = "bash"
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	e := &Executor{opts: opts}
	if opts.Supervisor != nil && opts.Prestart > 0 && !opts.PTY {
		e.ready = opts.Supervisor.NewPool(opts.Prestart, opts.GracePeriod*9/10)
		e.ready.Fill()
	}
	return e
}

// Close gives up the supervisors started ahead (Options.Prestart); without
// it they live as long as this process. Sessions are not affected.
func (e *Executor) Close() {
	if e.ready != nil {
		e.ready.Close()
	}
}

// Start starts a bash session in cfg.Dir with environment cfg.Env (the
// environment of this process when cfg.Env is nil) and sources cfg.Init in
// it. The session's processes are stopped when ctx is done or the session is
// closed; the caller must always call Close. A config that asks for
// containers is refused: the docker executor runs those.
func (e *Executor) Start(ctx context.Context, cfg executor.SessionConfig) (executor.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(cfg.Containers) > 0 {
		return nil, fmt.Errorf("start shell: %w", executor.ErrContainersUnsupported)
	}
	s, state, lifeline, err := e.start(cfg)
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	s.Watch(ctx)
	if cfg.Init != "" {
		if err := s.Init(ctx, cfg.Init); err != nil {
			_ = s.Close()
			_ = lifeline.Close()
			_ = os.Remove(state)
			return nil, fmt.Errorf("shell init: %w", err)
		}
	}
	return &session{Session: s, e: e, cfg: cfg, pid: s.Pid(), state: state, lifeline: lifeline}, nil
}

func (e *Executor) start(cfg executor.SessionConfig) (_ *bashproc.Session, _ string, _ *reaper.Lifeline, err error) {
	dir, err := os.MkdirTemp(e.tempDir(cfg.User), "baton-shell-")
	if err != nil {
		return nil, "", nil, err
	}
	var toClose []io.Closer // closed on failure
	var statePath string    // removed on failure
	defer func() {
		if err != nil {
			for _, c := range toClose {
				_ = c.Close()
			}
			_ = os.RemoveAll(dir)
			if statePath != "" {
				_ = os.Remove(statePath)
			}
		}
	}()
	cmdPath := filepath.Join(dir, "command")
	cmdFile, err := os.OpenFile(cmdPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", nil, err
	}
	toClose = append(toClose, cmdFile)
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, "", nil, err
	}
	toClose = append(toClose, ctlR, ctlW)

	if statePath, err = newStateFile(dir); err != nil {
		return nil, "", nil, err
	}
	if u := cfg.User; u != nil {
		// The user's shell reads the command file and writes the state
		// file; the directory stays closed to everyone else.
		for _, p := range []string{dir, cmdPath, statePath} {
			if err := os.Chown(p, u.UID, u.GID); err != nil {
				return nil, "", nil, err
			}
		}
	}
	cmd := exec.Command(e.opts.Bash, "--noprofile", "--norc", "-c", bashproc.Driver(cmdPath, bashproc.ShellPrelude, statePath))
	cmd.Dir = cfg.Dir
	cmd.Env = sessionEnv(cfg)
	cmd.ExtraFiles = []*os.File{ctlR} // fd 3; the driver moves it to fd 19
	var out, childOut *os.File
	if !e.opts.PTY {
		out, childOut, err = os.Pipe()
		if err != nil {
			return nil, "", nil, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	} else {
		out, childOut, err = openPTY()
		if err != nil {
			return nil, "", nil, fmt.Errorf("open pty: %w", err)
		}
		if err := rawOutput(childOut); err != nil {
			_ = out.Close()
			_ = childOut.Close()
			return nil, "", nil, fmt.Errorf("configure pty: %w", err)
		}
		// A new session whose controlling terminal is the pty (child fd 1).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1}
	}
	toClose = append(toClose, out, childOut)
	cmd.SysProcAttr.Credential = credential(cfg.User)
	cmd.Stdout = childOut
	cmd.Stderr = childOut
	var lifeline *reaper.Lifeline
	var ready *reaper.Ready
	if e.ready != nil {
		ready = e.ready.Take()
	}
	switch {
	case ready != nil:
		// A supervisor started ahead starts bash: it gets the session's
		// environment, directory, user and descriptors only now.
		sup, l, err := ready.Start(cmd)
		if err == nil {
			cmd, lifeline = sup, l
			toClose = append(toClose, lifeline)
			break
		}
		// It died while it waited: start one the usual way (cmd is
		// untouched).
		fallthrough
	case e.opts.Supervisor != nil:
		// The supervisor leads the group and dies last: it gets a
		// little less time than Close waits, to kill what is left.
		if lifeline, err = e.opts.Supervisor.Wrap(cmd, e.opts.GracePeriod*9/10); err != nil {
			return nil, "", nil, err
		}
		toClose = append(toClose, lifeline)
		fallthrough
	default:
		if err := cmd.Start(); err != nil {
			return nil, "", nil, err
		}
	}
	// The child has its copies; keeping ours would hide EOF.
	_ = childOut.Close()
	_ = ctlR.Close()
	lifeline.Started()

	s, err := bashproc.New(bashproc.Parts{
		Grace: e.opts.GracePeriod, Cmd: cmd, Pgid: cmd.Process.Pid,
		Out: out, Ctl: ctlW, Dir: dir, CmdFile: cmdFile,
	})
	if err != nil {
		// Not reachable for pipes and ptys; the shell must not leak.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = lifeline.Close()
		_ = cmd.Wait()
		return nil, "", nil, err
	}
	return s, statePath, lifeline, nil
}

// tempDir is where a session keeps its private files: Options.TempDir,
// else /dev/shm when there is one. A session that runs as another user
// must reach them through every parent directory, which Options.TempDir
// (or TMPDIR) may not allow; /dev/shm, which everyone may enter, does.
func (e *Executor) tempDir(u *executor.User) string {
	if e.opts.TempDir != "" && u == nil {
		return e.opts.TempDir
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return e.opts.TempDir
}

// credential is the credential of a session's processes: nil (this
// process's) without a user, else the user's ids and no supplementary
// groups.
func credential(u *executor.User) *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}
}

// sessionEnv is the environment of a session's processes: cfg.Env (this
// process's when nil), with HOME set to the user's home when there is a
// user.
func sessionEnv(cfg executor.SessionConfig) []string {
	if cfg.User == nil || cfg.User.Home == "" {
		return cfg.Env
	}
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+cfg.User.Home)
}

// newStateFile creates the file where the session's shell keeps its state
// for interactive shells (bashproc.Driver), readable by this user only: in
// /dev/shm when there is one, as rewriting a file after every command
// costs about 50 µs in memory but 200 µs on a disk file system; else in
// the session's private directory.
func newStateFile(dir string) (string, error) {
	if f, err := os.CreateTemp("/dev/shm", "baton-state-"); err == nil {
		return f.Name(), f.Close()
	}
	path := filepath.Join(dir, "state")
	return path, os.WriteFile(path, nil, 0o600)
}

// openPTY opens a pseudo-terminal. Unlike pty.Open's, the returned master
// is in non-blocking mode, so that reads on it go through the runtime
// poller: chunks can be read "as much as is available", and Close
// interrupts a blocked read.
func openPTY() (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, _, e := syscall.Syscall(syscall.SYS_FCNTL, m.Fd(), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		_ = tty.Close()
		return nil, nil, e
	}
	if err := syscall.SetNonblock(int(fd), true); err != nil {
		_ = syscall.Close(int(fd))
		_ = tty.Close()
		return nil, nil, err
	}
	return os.NewFile(fd, m.Name()), tty, nil
}
