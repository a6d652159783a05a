package shell

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/internal/bashproc"
	"github.com/batonci/baton/internal/executor/internal/interactive"
	"github.com/batonci/baton/internal/reaper"
)

// session is a shell session that can also start interactive shells
// (executor.Shell) beside its bash.
type session struct {
	*bashproc.Session
	e   *Executor
	cfg executor.SessionConfig
	pid int
	// state is the session's state file (bashproc.Driver).
	state  string
	shells interactive.Set
	// lifeline keeps the session's supervisor, if any, from killing it.
	lifeline *reaper.Lifeline
}

var _ executor.Shell = (*session)(nil)

// StartShell implements executor.Shell: a bash with the session's base
// environment, in the working directory the session's shell is in now,
// that sources cfg.Init, then the session's state after its last command
// (exported variables, working directory).
func (s *session) StartShell(ctx context.Context, cfg executor.ShellConfig) (executor.Process, error) {
	rc, err := os.CreateTemp(s.e.tempDir(s.cfg.User), "baton-shell-rc-")
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
	if u := s.cfg.User; u != nil {
		if err := os.Chown(rc.Name(), u.UID, u.GID); err != nil {
			os.Remove(rc.Name())
			return nil, fmt.Errorf("start shell: %w", err)
		}
	}
	cmd := exec.Command(s.e.opts.Bash, interactive.BashArgs(rc.Name(), cfg)...)
	cmd.Env = sessionEnv(s.cfg)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if cfg.TTY {
		cmd.Env = append(cmd.Env, "TERM="+cfg.Term)
	}
	cmd.Dir = s.cfg.Dir
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(s.shellPid()) + "/cwd"); err == nil {
		cmd.Dir = cwd
	}
	if s.shells.Closed() {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", executor.ErrSessionEnded)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(s.cfg.User)}
	p, err := interactive.Start(cmd, cfg, s.e.opts.Supervisor, s.e.opts.GracePeriod)
	if err != nil {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", err)
	}
	return s.shells.Track(ctx, p, func() { os.Remove(rc.Name()) }), nil
}

// shellPid returns the process ID of the session's bash: the first child
// of its supervisor, if it has one.
func (s *session) shellPid() int {
	if s.lifeline == nil {
		return s.pid
	}
	// Its only child until bash exits, started by any of its threads.
	dir := "/proc/" + strconv.Itoa(s.pid) + "/task/"
	tasks, _ := os.ReadDir(dir)
	for _, task := range tasks {
		b, _ := os.ReadFile(dir + task.Name() + "/children")
		if f := strings.Fields(string(b)); len(f) > 0 {
			if child, err := strconv.Atoi(f[0]); err == nil {
				return child
			}
		}
	}
	return s.pid
}

// Close ends the interactive shells, then the session.
func (s *session) Close() error {
	s.shells.CloseAll()
	err := s.Session.Close()
	_ = s.lifeline.Close()
	_ = os.Remove(s.state)
	return err
}
