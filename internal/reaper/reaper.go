// Package reaper keeps a job's processes from outliving the agent that
// started them.
//
// The agent starts each job's shell through a job supervisor: the baton
// binary run under the name "baton-job-supervisor" (Main). The supervisor
// makes itself a child subreaper, so every process the job starts stays
// its descendant even when it double-forks or calls setsid, and starts the
// shell in its own process group. It holds the read end of a pipe, the
// lifeline, whose write end only the agent holds. When the agent dies,
// however it dies (SIGKILL included), the kernel closes the write end, the
// supervisor reads EOF, kills every descendant and exits. A parent-death
// signal (PR_SET_PDEATHSIG) tells it too, should the lifeline's write end
// have leaked into a process that lives on. When the shell
// exits, the supervisor sends SIGTERM to what the job left running, waits
// a grace period, kills what is left and exits with the shell's status.
//
// A supervisor may also be started ahead of its job (Supervisor.Prestart,
// Pool), with no program and an empty environment, and be given the one
// program it runs later (Ready.Start): the job's start then does not wait
// for the baton binary to start. Waiting, it holds its lifeline and record
// as any supervisor does, so it is cleaned up the same way.
//
// While it runs, a supervisor records itself (its process ID and start
// time) in the agent's record directory. A restarted agent calls Sweep,
// which kills what a supervisor that was itself killed left behind.
package reaper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Name is the program name (argv[0]) under which the baton binary acts as
// a job supervisor.
const Name = "baton-job-supervisor"

// Supervisor says how to run programs under a job supervisor.
type Supervisor struct {
	// Binary is the baton binary, started under Name.
	Binary string
	// RecordDir, when not empty, is where running supervisors record
	// themselves, for Sweep. It is created if needed (0700).
	RecordDir string
}

// Lifeline is the agent's end of a supervisor's lifeline. Closing it (or
// the agent's death) makes the supervisor kill the whole job. Its methods
// are safe for concurrent use.
type Lifeline struct {
	mu          sync.Mutex
	child, keep *os.File
}

// Started closes the end of the lifeline that went to the supervisor; call
// it once the command has started (or failed to). Safe on a nil Lifeline.
func (l *Lifeline) Started() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.child != nil {
		_ = l.child.Close()
		l.child = nil
	}
}

// Close closes the lifeline: the supervisor kills every process left of
// the job and exits. Safe on a nil Lifeline and more than once.
func (l *Lifeline) Close() error {
	if l == nil {
		return nil
	}
	l.Started()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keep == nil {
		return nil
	}
	err := l.keep.Close()
	l.keep = nil
	return err
}

// Wrap changes cmd, which must not have started, to run under a
// supervisor: the supervisor is started with cmd's directory, environment,
// standard streams, extra files (at the same descriptors) and process
// attributes, and starts cmd's program with them; a credential in cmd's
// process attributes is the program's, not the supervisor's. grace is how long the
// supervisor waits, after the program exits, for the processes it left
// to exit after SIGTERM before it kills them. The caller calls
// Lifeline.Started after cmd.Start and Lifeline.Close once the program and
// its processes are done with.
func (s Supervisor) Wrap(cmd *exec.Cmd, grace time.Duration, onLost ...string) (*Lifeline, error) {
	if cmd.Process != nil {
		return nil, errors.New("supervise: the command has already started")
	}
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	if s.RecordDir != "" {
		if err := os.MkdirAll(s.RecordDir, 0o700); err != nil {
			return nil, fmt.Errorf("supervise: %w", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("supervise: %w", err)
	}
	args := s.args(3+len(cmd.ExtraFiles), grace)
	for _, a := range onLost {
		args = append(args, "-on-lost", a)
	}
	var attr syscall.SysProcAttr
	if cmd.SysProcAttr != nil {
		attr = *cmd.SysProcAttr
	}
	if c := attr.Credential; c != nil {
		// The program runs as another user; the supervisor stays this
		// one, so that the program cannot signal it.
		args = append(args, "-uid", strconv.FormatUint(uint64(c.Uid), 10), "-gid", strconv.FormatUint(uint64(c.Gid), 10))
		groups := make([]string, len(c.Groups))
		for i, g := range c.Groups {
			groups[i] = strconv.FormatUint(uint64(g), 10)
		}
		args = append(args, "-groups", strings.Join(groups, ","))
		attr.Credential = nil
	}
	// A second way to learn of this process's death, should the
	// lifeline's write end have leaked into a process that lives on.
	setParentDeathSignal(&attr)
	cmd.SysProcAttr = &attr
	args = append(args, "--", cmd.Path)
	args = append(args, cmd.Args...)
	cmd.Path = s.Binary
	cmd.Args = args
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	return &Lifeline{child: r, keep: w}, nil
}

// args are the supervisor's arguments, its name first: the lifeline's
// descriptor, the grace period, the record directory, then extra.
func (s Supervisor) args(lifelineFD int, grace time.Duration, extra ...string) []string {
	args := []string{Name, "-lifeline-fd", strconv.Itoa(lifelineFD), "-grace", grace.String()}
	if s.RecordDir != "" {
		args = append(args, "-record", s.RecordDir)
	}
	return append(args, extra...)
}

// Sweep kills what earlier supervisors recorded in dir left behind: a
// supervisor still running (the agent that started it is gone) with all
// its descendants, and the members of its process group. Then it empties
// dir. Call it when the agent starts, holding the agent's lock, before it
// takes jobs. It returns how many supervisors' jobs it found.
func Sweep(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", dir, err)
	}
	found := 0
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		pid, err := strconv.Atoi(e.Name())
		b, rerr := os.ReadFile(path)
		if err != nil || pid <= 1 || rerr != nil {
			_ = os.Remove(path)
			continue
		}
		start, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if sweepOne(pid, start) {
			found++
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return found, errors.Join(errs...)
}

// sweepOne kills the job of the supervisor that was pid, started at
// start (in clock ticks after boot), and reports whether anything of it
// was left.
func sweepOne(pid int, start uint64) bool {
	procs := listProcs()
	if p, ok := procs[pid]; ok {
		if p.start != start {
			// The process ID was reused: the old group is empty, as a
			// process group's ID is not given to a new process while the
			// group has members.
			return false
		}
		// The supervisor itself is still there.
		killTree(pid, syscall.SIGKILL, false)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return true
	}
	// The supervisor is gone; members of its group may be left.
	return syscall.Kill(-pid, syscall.SIGKILL) == nil
}

// writeRecord records the running supervisor in dir, and returns the
// function that removes the record.
func writeRecord(dir string) (remove func(), err error) {
	pid := os.Getpid()
	p, ok := listProcs()[pid]
	if !ok {
		return nil, errors.New("cannot read the supervisor's own /proc entry")
	}
	path := filepath.Join(dir, strconv.Itoa(pid))
	if err := os.WriteFile(path, []byte(strconv.FormatUint(p.start, 10)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(path) }, nil
}
