// Package interactive starts the interactive processes of debug sessions
// (executor.Shell) for both executors: a command with a pseudo-terminal
// that can be resized, or with plain pipes, in its own process group,
// with its streams copied to and from the caller's.
package interactive

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/reaper"
	"github.com/creack/pty"
)

// drainWait bounds how long Wait keeps copying a terminal's output after
// the process exited (a background process may hold the terminal open).
const drainWait = time.Second

// supervisorWait bounds how long Close waits for a supervisor to kill the
// process's descendants before it kills the process group itself.
const supervisorWait = 5 * time.Second

// Start starts cmd as cfg says (terminal, streams) and returns it as an
// executor.Process. With a supervisor, cmd runs under it (internal/reaper):
// the process and all it starts die with this process, or when the process
// is closed, and what it leaves running when it exits gets SIGTERM, then
// SIGKILL after grace.
func Start(cmd *exec.Cmd, cfg executor.ShellConfig, sup *reaper.Supervisor, grace time.Duration) (_ executor.Process, err error) {
	p := &process{cmd: cmd, outDone: make(chan struct{})}
	if sup != nil {
		if p.lifeline, err = sup.Wrap(cmd, grace); err != nil {
			return nil, err
		}
		defer func() {
			p.lifeline.Started()
			if err != nil {
				_ = p.lifeline.Close()
			}
		}()
	}
	stdout := cfg.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	if cfg.TTY {
		rows, cols := cfg.Rows, cfg.Cols
		if rows <= 0 || cols <= 0 {
			rows, cols = 24, 80
		}
		// pty.StartWithSize makes the process a session leader with the
		// terminal as its controlling terminal.
		m, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)})
		if err != nil {
			return nil, err
		}
		p.pty = m
		if cfg.Stdin != nil {
			go func() { // ends when the caller's stdin or the terminal closes
				_, _ = io.Copy(m, cfg.Stdin)
			}()
		}
		go func() {
			defer close(p.outDone)
			_, _ = io.Copy(stdout, m)
		}()
		return p, nil
	}
	stderr := cfg.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	if cmd.SysProcAttr == nil { // it may hold a Credential
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if cfg.Stdin != nil {
		go func() { // not waited for: the caller's stdin may never end
			_, _ = io.Copy(in, cfg.Stdin)
			_ = in.Close()
		}()
	} else {
		_ = in.Close()
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(stdout, outR) })
	wg.Go(func() { _, _ = io.Copy(stderr, errR) })
	go func() {
		wg.Wait()
		close(p.outDone)
	}()
	return p, nil
}

// process is a started interactive process.
type process struct {
	cmd      *exec.Cmd
	lifeline *reaper.Lifeline // nil without a supervisor
	pty      *os.File         // nil without a terminal
	outDone  chan struct{}

	waitOnce sync.Once
	code     int
	err      error

	ptyMu     sync.Mutex // guards closing pty against Resize
	ptyClosed bool
}

// Resize implements executor.Process.
func (p *process) Resize(rows, cols int) error {
	if p.pty == nil || rows <= 0 || cols <= 0 {
		return nil
	}
	p.ptyMu.Lock()
	defer p.ptyMu.Unlock()
	if p.ptyClosed {
		return nil
	}
	return pty.Setsize(p.pty, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)})
}

// Wait implements executor.Process.
func (p *process) Wait() (int, error) {
	p.waitOnce.Do(func() {
		if p.pty == nil {
			// The pipes reach EOF when every process holding them exits.
			<-p.outDone
		}
		err := p.cmd.Wait()
		_ = p.lifeline.Close()
		if p.pty != nil {
			select {
			case <-p.outDone:
			case <-time.After(drainWait):
			}
			p.ptyMu.Lock()
			p.ptyClosed = true
			_ = p.pty.Close()
			p.ptyMu.Unlock()
			<-p.outDone
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		default:
			p.code, p.err = -1, err
		}
	})
	return p.code, p.err
}

// Close implements executor.Process.
func (p *process) Close() error {
	if p.lifeline != nil {
		// The supervisor kills every process the shell started, also
		// those that left its group, and exits.
		_ = p.lifeline.Close()
		done := make(chan struct{})
		go func() {
			_, _ = p.Wait()
			close(done)
		}()
		select {
		case <-done:
			return nil
		case <-time.After(supervisorWait):
		}
	}
	if p.cmd.Process != nil {
		// The process leads its own group (a session with a terminal).
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	_, _ = p.Wait()
	return nil
}
