// Package bashproc is the persistent bash session shared by the shell and
// docker executors: a driver loop in bash that sources one command file per
// command and prints an end marker, and the Go side that feeds it commands,
// splits output from markers and stops it. The executors differ only in how
// the bash process is launched (here, or in a container) and stopped.
package bashproc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/batonci/baton/internal/executor"
	"golang.org/x/sys/unix"
)

// Driver returns the bash program a session runs, given the path of its
// command file and the bash source that moves the control channel to fd
// 19 (ShellPrelude or StdinPrelude). For each command Go rewrites the file
// and writes two lines to the control channel (moved to fd 19, out of the way of user redirections): an empty
// line that starts the command, and a fresh nonce. The nonce is read only
// after the command has run, and fd 19 is closed while it runs, so a
// command cannot learn the nonce of its own end marker.
//
// The end marker is "\x1f" NONCE ";" STATUS ";" XTRACE "\n", where XTRACE is
// "x" when the command left `set -x` on. The driver turns xtrace off for its
// own bookkeeping (whose trace goes to /dev/null) and Go turns it back on
// with a `set -x;` prefix on the next command's first line, so a user's
// `set -x` traces their commands and nothing of the driver.
//
// Every builtin is called through `builtin`, so that user functions named
// read, printf or set cannot break the loop; user aliases cannot either,
// as the loop was parsed before any command ran.
//
// With a stateFile, after each command the driver writes there the
// session's exported variables and working directory as bash source
// (SourceState reads it back), so that a shell started beside the session
// (executor.Shell) sees the job as it is now, not as it began. A failure to
// write it is ignored, even under `set -e`.
func Driver(commandFile, prelude, stateFile string) string {
	state := ""
	if stateFile != "" {
		state = `{ builtin export -p; builtin printf 'builtin cd -- %q\n' "$PWD"; } 2>/dev/null >` + shellQuote(stateFile) + " || builtin :\n"
	}
	return prelude + `
shopt -s expand_aliases
__baton_f=` + shellQuote(commandFile) + `
while IFS= builtin read -r -u 19 __baton_t; do
builtin . "$__baton_f" </dev/null 19<&-
{ __baton_s=$? __baton_x=${-//[^x]/}; builtin set +x; } 2>/dev/null
` + state + `IFS= builtin read -r -u 19 __baton_n
builtin printf '\037%s;%d;%s\n' "$__baton_n" "$__baton_s" "$__baton_x"
done
`
}

// SourceState is bash source that applies a session's state file (see
// Driver), if the session wrote one: its exported variables and working
// directory.
func SourceState(stateFile string) string {
	q := shellQuote(stateFile)
	return "[ -r " + q + " ] && builtin . " + q + " 2>/dev/null"
}

// ShellPrelude takes the control channel from fd 3 (exec.Cmd.ExtraFiles).
const ShellPrelude = "exec 19<&3 3<&-"

// StdinPrelude takes the control channel from standard input, which is then
// /dev/null, and sends standard error to standard output, so that the two
// stay in order when only one stream can be carried (docker attach).
const StdinPrelude = "exec 19<&0 0</dev/null 2>&1"

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

const (
	// readBufferSize (floodBufferSize once the output has flooded, see
	// gatherMin) bounds the output a session holds in memory while a
	// command runs, and pendingMax between commands; a producer faster
	// than the consumer blocks in write(2).
	readBufferSize = 64 << 10
	pendingMax     = 64 << 10
	// drainQuiet is how long Run keeps reading after the shell exited
	// while other processes still hold its output open, and drainMax how
	// long at most (a leftover `yes &` is never quiet).
	drainQuiet = 100 * time.Millisecond
	drainMax   = time.Second
	// A producer faster than the reader (seq 1000000) writes 4 KiB at a
	// time, and a reader that keeps up wakes for every write: for a
	// million short lines, 1,700 reads and output events. Once a read
	// finds at least gatherMin bytes, the output is a flood, and the next
	// read waits gatherDelay, to take in one go what the producer wrote
	// meanwhile. The pipe then grows to gatherPipeSize (pages are used
	// only while it holds data), so that the producer does not block
	// while the reader waits, and the read buffer to floodBufferSize, so
	// that each read and output event carries more. Output is held back
	// at most gatherDelay, and only in a flood.
	gatherMin       = 4 << 10
	gatherDelay     = time.Millisecond
	gatherPipeSize  = 1 << 20
	floodBufferSize = 256 << 10
	// maxKeptBuffer is the largest command buffer a session reuses.
	maxKeptBuffer = 64 << 10
	// killWait bounds the wait for the process group to vanish after
	// SIGKILL.
	killWait = 2 * time.Second
)

// Parts are the pieces of a started bash driver that New takes over.
type Parts struct {
	// Grace is the time between SIGTERM and SIGKILL.
	Grace time.Duration
	// Cmd is the started process running Driver.
	Cmd *exec.Cmd
	// Pgid is its process group.
	Pgid int
	// Out is the read end of its output (a pipe, or a non-blocking pty
	// master). New reads a copy of its descriptor and closes it.
	Out *os.File
	// Ctl is the write end of the control channel.
	Ctl *os.File
	// Dir is a private directory removed by Close.
	Dir string
	// CmdFile is the open command file the driver sources.
	CmdFile *os.File
	// Stop, when not nil, replaces signalling the process group: it must
	// stop every process of the session (SIGTERM, grace period, SIGKILL)
	// and return when they are gone. The process group is still killed
	// afterwards, should Cmd outlive them.
	Stop func()
}

// New takes over a started driver process. The caller must call Close.
//
// The session reads its output outside Go's network poller, from a copy
// of Out's descriptor that it waits on with poll(2) in the reader's own
// thread: in the poller's epoll set, every write the job makes to the
// pipe (4 KiB each for seq) woke an idle Go thread, which found nothing
// to do: 3,500 wake-ups for 10M lines, a fifth of baton run's CPU for
// that output.
func New(p Parts) (*Session, error) {
	out, err := takeDescriptor(p.Out)
	if err != nil {
		return nil, fmt.Errorf("take the output's descriptor: %w", err)
	}
	wakeR, wakeW, err := os.Pipe()
	if err != nil {
		_ = syscall.Close(out)
		return nil, err
	}
	wake := -1
	if err := descriptor(wakeR, func(fd int) { wake = fd }); err != nil {
		_ = syscall.Close(out)
		_ = wakeR.Close()
		_ = wakeW.Close()
		return nil, err
	}
	s := &Session{
		grace:    p.Grace,
		cmd:      p.Cmd,
		pgid:     p.Pgid,
		out:      out,
		wakeR:    wakeR,
		wakeW:    wakeW,
		wake:     wake,
		ctl:      p.Ctl,
		dir:      p.Dir,
		cmdFile:  p.CmdFile,
		stop:     p.Stop,
		fed:      make(chan struct{}, 1),
		readDone: make(chan struct{}),
		closing:  make(chan struct{}),
		exited:   make(chan struct{}),
	}
	s.attached = sync.NewCond(&s.feedMu)
	s.stopWatch = func() bool { return false }
	go s.wait()
	go s.readLoop()
	return s, nil
}

// Watch stops the session when ctx is done. Call it at most once, before
// the session is shared.
func (s *Session) Watch(ctx context.Context) {
	s.stopWatch = context.AfterFunc(ctx, s.terminate)
}

// Init runs init (bash source that must not print) once, and reports its
// failure with what it printed.
func (s *Session) Init(ctx context.Context, init string) error {
	out := &limitedBuffer{max: 4 << 10}
	code, err := s.Run(ctx, init, out)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit status %d", code)
	}
	if err != nil {
		if msg := out.String(); msg != "" {
			return fmt.Errorf("%w: %q", err, msg)
		}
		return err
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return string(b.buf) }

// Session is one running shell. Run calls are serialised.
type Session struct {
	grace time.Duration
	cmd   *exec.Cmd
	pgid  int
	out   int // pty master or pipe read end, non-blocking, not in Go's poller
	// Close closes wakeW, which wakes the reader from poll(2) on wake
	// (wakeR's descriptor) should a stray process hold the output open.
	wakeR, wakeW *os.File
	wake         int
	ctl          *os.File // write end of the driver's command pipe
	dir          string
	cmdFile      *os.File // the file the driver sources, rewritten per command
	stop         func()   // Parts.Stop

	stopWatch func() bool // stops the Start context's AfterFunc

	runMu  sync.Mutex // held by Run, and by Close while it tears down
	ended  bool       // Run saw the shell exit, or Close ran
	xtrace bool       // the last command left `set -x` on
	src    []byte     // command file contents, reused
	ctlMsg []byte     // message to the driver, reused
	scan   markerScanner

	// The reader goroutine feeds the running command's scanner itself, so
	// that a flood of output is read, split and written by one goroutine
	// (no hand-over from thread to thread for each chunk); Run waits for
	// the end marker. Between commands, output waits in pending.
	feedMu   sync.Mutex
	feeding  *markerScanner // the running command's, nil between commands
	cmdDone  chan struct{}  // closed by the reader when feeding saw its marker
	pending  []byte         // output read when no command ran
	stopped  bool           // Close ran: the reader stops
	attached *sync.Cond     // on feedMu: a command started, or Close ran
	// fed is signalled after each chunk fed to a command.
	fed chan struct{}

	// gather is whether the reader may wait in a flood: unknown until
	// the first flood, then whether the output pipe could grow.
	gather gatherState

	readDone chan struct{} // closed when the reader goroutine returns
	closing  chan struct{} // closed by Close

	exited   chan struct{} // closed once the shell has been reaped
	exitCode int           // the shell's exit status, set before exited closes

	termOnce  sync.Once
	closeOnce sync.Once
}

var _ executor.Session = (*Session)(nil)

// Run implements executor.Session.
func (s *Session) Run(ctx context.Context, command string, out io.Writer) (int, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.ended {
		return s.exitCode, executor.ErrSessionEnded
	}
	if out == nil {
		out = io.Discard
	}
	sc := &s.scan
	sc.reset(out)
	msg := append(s.ctlMsg[:0], '\n')
	msg = appendNonce(msg)
	sc.prefix = append(append(append(sc.prefix[:0], 0x1f), msg[1:]...), ';')
	msg = append(msg, '\n')
	s.ctlMsg = msg[:0]
	done := s.attach(sc)
	if ctx.Err() != nil {
		s.terminate()
		code, _ := s.finish(sc, done)
		return code, ctx.Err()
	}

	src := s.src[:0]
	if s.xtrace {
		src = append(src, "set -x;"...)
	}
	src = append(src, command...)
	if len(command) == 0 || command[len(command)-1] != '\n' {
		src = append(src, '\n')
	}
	if cap(src) <= maxKeptBuffer {
		s.src = src[:0]
	} else {
		s.src = nil // don't keep a huge command's buffer for the session's life
	}
	if err := s.writeCommand(src); err != nil {
		s.detach()
		return -1, fmt.Errorf("write command file: %w", err)
	}
	if _, err := s.ctl.Write(msg); err != nil {
		// The shell is gone (EPIPE); make sure, and report how it ended.
		s.terminate()
		return s.finish(sc, done)
	}
	select {
	case <-done:
		s.xtrace = sc.xtrace
		code, err := sc.status, sc.err
		sc.reset(nil)
		return code, err
	case <-s.exited:
		code, err := s.finish(sc, done)
		if ctx.Err() != nil && err != nil {
			// Killed because ctx is done (also the Start context).
			return code, ctx.Err()
		}
		return code, err
	case <-ctx.Done():
		s.terminate()
		code, _ := s.finish(sc, done)
		return code, ctx.Err()
	}
}

// attach makes sc the scanner the reader feeds, after the output read
// since the last command (written by background processes), and returns
// the channel closed when sc sees its marker.
func (s *Session) attach(sc *markerScanner) chan struct{} {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	if len(s.pending) > 0 {
		sc.write(s.pending)
		s.pending = s.pending[:0]
	}
	select {
	case <-s.fed:
	default:
	}
	s.feeding, s.cmdDone = sc, make(chan struct{})
	s.attached.Broadcast()
	return s.cmdDone
}

// detach stops feeding the running command's scanner.
func (s *Session) detach() {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	s.feeding = nil
}

// deliver feeds output the reader read to the running command's scanner,
// or keeps it for the next command.
func (s *Session) deliver(p []byte) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	sc := s.feeding
	if sc == nil {
		s.pending = append(s.pending, p...)
		return
	}
	if sc.feed(p) {
		s.feeding = nil
		s.pending = append(s.pending, sc.rest...)
		close(s.cmdDone)
	}
	select {
	case s.fed <- struct{}{}:
	default:
	}
}

// waitToRead waits while no command runs and enough output is pending, so
// that a chatty background process blocks instead of filling memory. It
// reports false once Close ran.
func (s *Session) waitToRead() bool {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	for s.feeding == nil && len(s.pending) >= pendingMax && !s.stopped {
		s.attached.Wait()
	}
	return !s.stopped
}

// writeCommand replaces the command file's contents with src. The file
// stays open: on ext4, reopening it with O_TRUNC costs a flush on every
// command (auto_da_alloc), a hundred times more than this.
func (s *Session) writeCommand(src []byte) error {
	if _, err := s.cmdFile.WriteAt(src, 0); err != nil {
		return err
	}
	return s.cmdFile.Truncate(int64(len(src)))
}

// finish is called once the shell has exited or is being killed: it waits
// for the shell, lets the reader deliver the output still in flight, and
// marks the session ended. If the command's end marker (done) turns up
// after all, the command finished before the shell did and its status is
// returned without error.
func (s *Session) finish(sc *markerScanner, done chan struct{}) (int, error) {
	<-s.exited
	s.ended = true
	quiet := time.NewTimer(drainQuiet)
	defer quiet.Stop()
	limit := time.NewTimer(drainMax)
	defer limit.Stop()
drain:
	for {
		select {
		case <-done:
			break drain
		case <-s.fed:
			quiet.Reset(drainQuiet)
		case <-s.readDone:
			break drain
		case <-quiet.C:
			break drain
		case <-limit.C:
			break drain
		}
	}
	s.detach()
	if sc.done {
		return sc.status, sc.err
	}
	sc.flush()
	if sc.err != nil {
		return s.exitCode, sc.err
	}
	return s.exitCode, executor.ErrSessionEnded
}

// Close implements executor.Session.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.stopWatch()
		s.terminate()
		// An active Run returns promptly now that the shell is gone.
		s.runMu.Lock()
		defer s.runMu.Unlock()
		s.ended = true
		close(s.closing)
		s.feedMu.Lock()
		s.stopped = true
		s.attached.Broadcast()
		s.feedMu.Unlock()
		_ = s.wakeW.Close() // wakes the reader if a stray process holds the output
		<-s.readDone
		_ = syscall.Close(s.out)
		_ = s.wakeR.Close()
		_ = s.ctl.Close()
		_ = s.cmdFile.Close()
		_ = os.RemoveAll(s.dir)
	})
	return nil
}

// terminate stops the session's process group: SIGTERM, then SIGKILL once
// the grace period is over, and waits for the shell to be reaped and (for a
// bounded time) for the rest of the group to exit. Only the first call does
// the work; concurrent calls wait for it.
func (s *Session) terminate() {
	s.termOnce.Do(func() {
		if s.stop != nil {
			s.stop()
			deadline := time.NewTimer(killWait)
			defer deadline.Stop()
			select {
			case <-s.exited:
			case <-deadline.C:
			}
			_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
			<-s.exited
			return
		}
		_ = syscall.Kill(-s.pgid, syscall.SIGTERM)
		grace := time.NewTimer(s.grace)
		defer grace.Stop()
		select {
		case <-s.exited:
			if s.waitGroupGone(grace.C) {
				return
			}
		case <-grace.C:
		}
		_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
		<-s.exited
		deadline := time.NewTimer(killWait)
		defer deadline.Stop()
		s.waitGroupGone(deadline.C)
	})
}

// waitGroupGone polls until no live process is left in the session's
// process group, or until stop fires. It reports whether the group is gone.
func (s *Session) waitGroupGone(stop <-chan time.Time) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if !groupAlive(s.pgid) {
			return true
		}
		select {
		case <-tick.C:
		case <-stop:
			return false
		}
	}
}

// wait reaps the shell and records its exit status.
func (s *Session) wait() {
	_ = s.cmd.Wait()
	st := s.cmd.ProcessState
	code := st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	s.exitCode = code
	close(s.exited)
}

// gatherState says whether a session's reader waits for more output in a
// flood (see gatherMin).
type gatherState int

const (
	gatherUnknown gatherState = iota // no flood yet
	gatherOn                         // the output pipe grew: wait in floods
	gatherOff                        // not a pipe, or it could not grow
)

// readLoop reads the shell's output and delivers it, until EOF (every
// writer is gone) or Close. In a flood it waits a little between reads
// (see gatherMin).
func (s *Session) readLoop() {
	defer close(s.readDone)
	buf := make([]byte, readBufferSize)
	var wait *time.Timer
	for s.waitToRead() {
		if s.gather == gatherOn && len(buf) < floodBufferSize {
			buf = make([]byte, floodBufferSize)
		}
		n, err := s.read(buf)
		if n > 0 {
			s.deliver(buf[:n])
		}
		if err != nil {
			return
		}
		if n < gatherMin || n == len(buf) || !s.mayGather() {
			continue
		}
		if wait == nil {
			wait = time.NewTimer(gatherDelay)
			defer wait.Stop()
		} else {
			wait.Reset(gatherDelay)
		}
		select {
		case <-wait.C:
		case <-s.closing:
			return
		}
	}
}

// mayGather reports whether the reader may wait for more output in a
// flood, growing the output pipe the first time it is asked.
func (s *Session) mayGather() bool {
	if s.gather == gatherUnknown {
		s.gather = gatherOff
		if growPipe(uintptr(s.out), gatherPipeSize) == nil {
			s.gather = gatherOn
		}
	}
	return s.gather == gatherOn
}

// read waits for output and then reads all that is available, up to
// len(buf), so chunks are as large as the producer allows without waiting
// for more. It returns errClosed once Close ran.
func (s *Session) read(buf []byte) (int, error) {
	for {
		n, err := readAvailable(s.out, buf)
		if n > 0 || err != nil {
			return n, err
		}
		if err := s.waitReadable(); err != nil {
			return 0, err
		}
	}
}

// errClosed ends the reader: Close ran.
var errClosed = errors.New("session closed")

// waitReadable waits with poll(2), in the calling thread, until the
// output can be read (or has ended) or Close wakes the reader.
func (s *Session) waitReadable() error {
	fds := []unix.PollFd{{Fd: int32(s.out), Events: unix.POLLIN}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case fds[1].Revents != 0:
			return errClosed
		case fds[0].Revents != 0:
			return nil
		}
	}
}

// readAvailable reads from the non-blocking fd until buf is full or
// nothing more is available (EAGAIN), and returns what it read and EOF,
// or EIO when a pty's last writer is gone.
func readAvailable(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return n, nil
		case err != nil:
			return n, err
		case m == 0:
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// takeDescriptor returns a copy of f's descriptor, non-blocking and
// closed on exec, and closes f, which takes it out of Go's poller.
func takeDescriptor(f *os.File) (int, error) {
	fd := -1
	var dupErr error
	if err := descriptor(f, func(orig int) { fd, dupErr = unix.FcntlInt(uintptr(orig), unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return -1, err
	}
	_ = f.Close()
	return fd, nil
}

// descriptor calls fn with f's descriptor, leaving its mode alone (unlike
// Fd, which makes it blocking).
func descriptor(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// nonceEncoding spells nonces with characters that never need quoting.
var nonceEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// appendNonce appends an unguessable 80-bit nonce to b.
func appendNonce(b []byte) []byte {
	var raw [10]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand panics instead)
	return nonceEncoding.AppendEncode(b, raw[:])
}

// markerScanner splits a command's output from its end marker. It holds
// back a tail of the output only while the tail could be the start of the
// marker.
type markerScanner struct {
	out    io.Writer
	prefix []byte // "\x1f" nonce ";"
	hold   []byte
	err    error // the first error writing to out

	done   bool
	status int
	xtrace bool
	rest   []byte // output after the marker
}

// feed scans the next chunk and reports whether the marker has been found.
func (m *markerScanner) feed(p []byte) bool {
	data := p
	if len(m.hold) > 0 {
		m.hold = append(m.hold, p...)
		data = m.hold
	}
	if len(m.prefix) == 0 {
		m.write(data)
		m.hold = m.hold[:0]
		return false
	}
	if i := bytes.Index(data, m.prefix); i >= 0 {
		tail := data[i+len(m.prefix):]
		j := bytes.IndexByte(tail, '\n')
		if j < 0 {
			m.write(data[:i])
			m.keep(data[i:])
			return false
		}
		fields := tail[:j]
		status, x, _ := bytes.Cut(fields, []byte(";"))
		m.status, _ = strconv.Atoi(string(status))
		m.xtrace = len(x) > 0
		m.write(data[:i])
		m.rest = append(m.rest[:0], tail[j+1:]...)
		m.hold = m.hold[:0]
		m.done = true
		return true
	}
	// Hold back the longest tail that is a proper prefix of the marker.
	// The marker has one 0x1f, at its start, so only the last 0x1f in the
	// final len(prefix)-1 bytes can begin such a tail.
	k := 0
	from := max(0, len(data)-(len(m.prefix)-1))
	if i := bytes.LastIndexByte(data[from:], 0x1f); i >= 0 {
		if t := data[from+i:]; bytes.HasPrefix(m.prefix, t) {
			k = len(t)
		}
	}
	m.write(data[:len(data)-k])
	m.keep(data[len(data)-k:])
	return false
}

// reset prepares m for a command whose output goes to out.
func (m *markerScanner) reset(out io.Writer) {
	m.out = out
	m.prefix = m.prefix[:0]
	m.hold = m.hold[:0]
	m.err = nil
	m.done = false
	m.status = 0
	m.xtrace = false
	m.rest = m.rest[:0]
}

// keep makes t (a tail of p or of m.hold) the held-back bytes.
func (m *markerScanner) keep(t []byte) {
	n := copy(m.hold[:cap(m.hold)], t) // may overlap: copy is memmove
	if n < len(t) {
		m.hold = append(m.hold[:n], t[n:]...)
		return
	}
	m.hold = m.hold[:n]
}

// flush writes held-back bytes: the output ended without a marker.
func (m *markerScanner) flush() {
	m.write(m.hold)
	m.hold = m.hold[:0]
}

func (m *markerScanner) write(p []byte) {
	if len(p) == 0 || m.err != nil {
		return
	}
	if _, err := m.out.Write(p); err != nil {
		m.err = err
	}
}

// ExitCode returns the shell's exit status once it has exited, and -1
// before.
func (s *Session) ExitCode() int {
	select {
	case <-s.exited:
		return s.exitCode
	default:
		return -1
	}
}

// Pid is the process ID of the driver process (the shell, or the client
// that runs it in a container); it leads the session's process group.
func (s *Session) Pid() int { return s.pgid }
