package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/internal/bashproc"
	"github.com/batonci/baton/internal/executor/internal/interactive"
)

var _ executor.Shell = (*session)(nil)

// StartShell implements executor.Shell: `docker exec` of a bash in the
// main container (with -t under a terminal the client resizes), as the
// container's user, in its working directory, which sources cfg.Init
// (written to the session's private directory, mounted read-only in the
// container at the same path).
func (s *session) StartShell(ctx context.Context, cfg executor.ShellConfig) (executor.Process, error) {
	if s.main == "" {
		return nil, fmt.Errorf("start shell: %w", executor.ErrSessionEnded)
	}
	rc, err := os.CreateTemp(s.dir, "shell-rc-")
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	init := cfg.Init + "\n" + bashproc.SourceState(s.stateFile()) + "\n"
	if cfg.TTY && cfg.Rows > 0 && cfg.Cols > 0 {
		// docker exec sizes the terminal only after the process started,
		// so a command run at once would see 0x0: size it first.
		init = fmt.Sprintf("stty rows %d cols %d 2>/dev/null\n", cfg.Rows, cfg.Cols) + init
	}
	_, err = rc.WriteString(init)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(rc.Name(), 0o644) // the container's user may not be root
	}
	if err != nil {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", err)
	}
	args := []string{"exec", "-i"}
	if cfg.TTY {
		args = append(args, "-t", "-e", "TERM="+cfg.Term)
	}
	if s.user != "" {
		args = append(args, "-u", s.user)
	}
	if s.workdir != "" {
		args = append(args, "-w", s.workdir)
	}
	args = append(append(args, s.main, "bash"), interactive.BashArgs(rc.Name(), cfg)...)
	cmd := exec.Command(s.e.opts.Docker, args...)
	// Without a supervisor: should this process die, the session's own
	// supervisor removes the container, and all that runs in it.
	p, err := interactive.Start(cmd, cfg, nil, 0)
	if err != nil {
		os.Remove(rc.Name())
		return nil, fmt.Errorf("start shell: %w", err)
	}
	return s.shells.Track(ctx, p, func() { os.Remove(rc.Name()) }), nil
}
