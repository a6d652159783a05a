package shell

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/internal/bashproc"
	"github.com/batonci/baton/internal/executor/internal/interactive"
)

// session is a shell session that can also start interactive shells
// (executor.Shell) beside its bash.
type session struct {
	*bashproc.Session
	e   *Executor
	cfg executor.SessionConfig
	pid int
	// state is the session's state file (bashproc.Driver).
	state string

	mu     sync.Mutex
	closed bool
	shells map[executor.Process]struct{}
}

var _ executor.Shell = (*session)(nil)

// StartShell implements executor.Shell: a bash with the session's base
// environment, in the working directory the session's shell is in now,
// that sources cfg.Init, then the session's state after its last command
// (exported variables, working directory).
func (s *session) StartShell(ctx context.Context, cfg executor.ShellConfig) (executor.Process, error) {
	rc, err := os.CreateTemp(s.e.opts.TempDir, "baton-shell-rc-")
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	_, err = rc.WriteString(cfg.Init + "\n" + bashproc.SourceState(s.state) + "\n")
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", err)
	}
	cmd := exec.Command(s.e.opts.Bash, BashArgs(rc.Name(), cfg)...)
	cmd.Env = s.cfg.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if cfg.TTY {
		cmd.Env = append(cmd.Env, "TERM="+cfg.Term)
	}
	cmd.Dir = s.cfg.Dir
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(s.pid) + "/cwd"); err == nil {
		cmd.Dir = cwd
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", executor.ErrSessionEnded)
	}
	p, err := interactive.Start(cmd, cfg)
	if err != nil {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", err)
	}
	t := &tracked{Process: p}
	if s.shells == nil {
		s.shells = map[executor.Process]struct{}{}
	}
	s.shells[t] = struct{}{}
	stopped := make(chan func() bool, 1)
	t.done = func() {
		(<-stopped)()
		os.Remove(rc.Name())
		s.mu.Lock()
		delete(s.shells, t)
		s.mu.Unlock()
	}
	stopped <- context.AfterFunc(ctx, func() { t.Close() })
	return t, nil
}

// Close ends the interactive shells, then the session.
func (s *session) Close() error {
	s.mu.Lock()
	s.closed = true
	shells := make([]executor.Process, 0, len(s.shells))
	for p := range s.shells {
		shells = append(shells, p)
	}
	s.mu.Unlock()
	for _, p := range shells {
		p.Close()
	}
	err := s.Session.Close()
	_ = os.Remove(s.state)
	return err
}

// BashArgs are bash's arguments for an interactive process whose rc file
// is rc: an interactive shell that reads it, or a command run after it.
func BashArgs(rc string, cfg executor.ShellConfig) []string {
	if cfg.Command == "" {
		return []string{"--noprofile", "--rcfile", rc, "-i"}
	}
	return []string{"--noprofile", "--norc", "-c", ". " + quote(rc) + "\n" + cfg.Command}
}

func quote(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
		} else {
			out += string(r)
		}
	}
	return out + "'"
}

// tracked is a process its session knows of, to end it with the session.
type tracked struct {
	executor.Process
	once sync.Once
	done func()
}

func (t *tracked) Wait() (int, error) {
	code, err := t.Process.Wait()
	t.once.Do(t.done)
	return code, err
}

func (t *tracked) Close() error {
	err := t.Process.Close()
	t.once.Do(t.done)
	return err
}
