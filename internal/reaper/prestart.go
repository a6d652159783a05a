package reaper

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A supervisor can be started ahead of its job (Supervisor.Prestart), so
// that starting a job costs a message instead of starting the baton
// binary (an exec and a Go runtime's start: 15–30 ms on a loaded
// machine). It starts with an empty environment in "/", makes itself a
// subreaper, records itself and holds its lifeline as any supervisor
// does, and waits on a private socket for the one program it is to run:
// path, arguments, directory, environment, credential and descriptors
// (passed as SCM_RIGHTS). It runs one program only, and gets the job's
// environment only then. A supervisor that is given up (Ready.Close), or
// whose lifeline breaks while it waits, exits having started nothing; one
// the agent leaves behind is swept like a job's.

// Ready is a supervisor started ahead of its program. Ready.Start or
// Ready.Close must be called, once.
type Ready struct {
	cmd      *exec.Cmd
	lifeline *Lifeline
	control  *os.File
	used     sync.Once
}

// Pid is the ready supervisor's process ID.
func (r *Ready) Pid() int { return r.cmd.Process.Pid }

// errUsed is Start's and Close's error on a supervisor already started or
// given up: a supervisor runs one program only.
var errUsed = errors.New("the ready supervisor was used already")

// use reports whether this is the first use of r.
func (r *Ready) use() bool {
	first := false
	r.used.Do(func() { first = true })
	return first
}

// startRequest is what the agent tells a ready supervisor to run. The
// descriptors come with it: standard input, output, error, then extra
// files at 3, 4, ... in order.
type startRequest struct {
	Path   string   `json:"path"`
	Args   []string `json:"args"`
	Dir    string   `json:"dir"`
	Env    []string `json:"env"`
	Files  int      `json:"files"`
	UID    int      `json:"uid"` // -1: the supervisor's own
	GID    int      `json:"gid"`
	Groups []uint32 `json:"groups"`
}

// Prestart starts a supervisor that waits for its program (see Ready).
// grace is as for Wrap.
func (s Supervisor) Prestart(grace time.Duration) (*Ready, error) {
	if s.RecordDir != "" {
		if err := os.MkdirAll(s.RecordDir, 0o700); err != nil {
			return nil, fmt.Errorf("prestart supervisor: %w", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("prestart supervisor: %w", err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("prestart supervisor: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	defer theirs.Close()
	cmd := exec.Command(s.Binary)
	cmd.Args = s.args(3, grace, "-control-fd", "4")
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{r, theirs}
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	cmd.SysProcAttr = attr
	l := &Lifeline{child: r, keep: w}
	if err := cmd.Start(); err != nil {
		_ = l.Close()
		_ = ours.Close()
		return nil, fmt.Errorf("prestart supervisor: %w", err)
	}
	l.Started()
	return &Ready{cmd: cmd, lifeline: l, control: ours}, nil
}

// Start has the ready supervisor start cmd's program, which must not have
// started, with cmd's path, arguments, directory, environment
// (cmd.Environ()), standard streams and extra files (all *os.File or nil)
// and credential; other process attributes do not apply (the supervisor
// leads its own process group already). It returns the supervisor's
// command, to wait on, and its lifeline: close it once the program and its
// processes are done with. On error the supervisor is given up.
func (r *Ready) Start(cmd *exec.Cmd) (*exec.Cmd, *Lifeline, error) {
	if !r.use() {
		return nil, nil, errUsed
	}
	defer r.control.Close()
	fail := func(err error) (*exec.Cmd, *Lifeline, error) {
		_ = r.lifeline.Close()
		_ = r.cmd.Wait()
		return nil, nil, fmt.Errorf("start on a ready supervisor: %w", err)
	}
	if cmd.Process != nil {
		return fail(errors.New("the command has already started"))
	}
	if cmd.Err != nil {
		return fail(cmd.Err)
	}
	files := []*os.File{}
	for _, s := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		switch f := s.(type) {
		case nil:
			null, err := os.Open(os.DevNull)
			if err != nil {
				return fail(err)
			}
			defer null.Close()
			files = append(files, null)
		case *os.File:
			files = append(files, f)
		default:
			return fail(fmt.Errorf("a standard stream is a %T, not a file", s))
		}
	}
	files = append(files, cmd.ExtraFiles...)
	dir := cmd.Dir
	if dir == "" { // as exec.Cmd: this process's directory
		wd, err := os.Getwd()
		if err != nil {
			return fail(err)
		}
		dir = wd
	}
	req := startRequest{Path: cmd.Path, Args: cmd.Args, Dir: dir, Env: cmd.Environ(), Files: len(files), UID: -1, GID: -1}
	if a := cmd.SysProcAttr; a != nil && a.Credential != nil {
		req.UID, req.GID, req.Groups = int(a.Credential.Uid), int(a.Credential.Gid), a.Credential.Groups
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fail(err)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(body)))
	if err := syscall.Sendmsg(int(r.control.Fd()), head[:], syscall.UnixRights(fds...), nil, 0); err != nil {
		return fail(err)
	}
	if _, err := r.control.Write(body); err != nil {
		return fail(err)
	}
	runtime.KeepAlive(files)
	// The supervisor says whether the program started, as exec.Cmd.Start
	// would.
	reply, err := bufio.NewReader(r.control).ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("no word from the supervisor: %w", err))
	}
	if reply = strings.TrimSuffix(reply, "\n"); reply != startedReply {
		return fail(errors.New(reply))
	}
	return r.cmd, r.lifeline, nil
}

// startedReply is the ready supervisor's answer when the program started;
// any other line is the error that kept it from starting.
const startedReply = "started"

// Close gives the ready supervisor up: it exits having started nothing.
func (r *Ready) Close() error {
	if !r.use() {
		return errUsed
	}
	_ = r.control.Close()
	err := r.lifeline.Close()
	_ = r.cmd.Wait()
	return err
}

// receiveStart reads the start request from the control socket, with its
// descriptors. io.EOF means the agent gave the supervisor up.
func receiveStart(control *os.File) (startRequest, []*os.File, error) {
	var req startRequest
	var head [4]byte
	oob := make([]byte, syscall.CmsgSpace(4*64))
	n, oobn, _, _, err := syscall.Recvmsg(int(control.Fd()), head[:], oob, syscall.MSG_CMSG_CLOEXEC)
	if err != nil {
		return req, nil, err
	}
	if n == 0 {
		return req, nil, io.EOF
	}
	var files []*os.File
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return req, nil, err
	}
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return req, nil, err
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "fd"+strconv.Itoa(fd)))
		}
	}
	if n < len(head) {
		if _, err := io.ReadFull(control, head[n:]); err != nil {
			return req, files, err
		}
	}
	body := make([]byte, binary.BigEndian.Uint32(head[:]))
	if _, err := io.ReadFull(control, body); err != nil {
		return req, files, err
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, files, err
	}
	if req.Files != len(files) || len(files) < 3 || len(req.Args) == 0 {
		return req, files, fmt.Errorf("a start request with %d descriptors (%d announced) and %d arguments", len(files), req.Files, len(req.Args))
	}
	return req, files, nil
}

// Pool keeps supervisors started ahead of their jobs. Its methods are safe
// for concurrent use.
type Pool struct {
	s     Supervisor
	grace time.Duration
	size  int

	once   sync.Once
	ready  chan *Ready
	taken  chan struct{}
	closed chan struct{}
	done   chan struct{} // fill has returned
	close  sync.Once
}

// NewPool returns a pool that keeps size supervisors ready, from its first
// Fill or Take on. grace is as for Wrap.
func (s Supervisor) NewPool(size int, grace time.Duration) *Pool {
	return &Pool{s: s, grace: grace, size: max(size, 1), closed: make(chan struct{})}
}

// Fill starts filling the pool now rather than at the first Take.
func (p *Pool) Fill() {
	p.once.Do(p.start)
}

// start starts filling the pool.
func (p *Pool) start() {
	p.ready = make(chan *Ready, p.size)
	p.taken = make(chan struct{}, 1)
	p.done = make(chan struct{})
	go p.fill()
}

// Take returns a ready supervisor, or nil when none is ready (the caller
// then starts one the usual way, with Wrap); either way the pool starts
// another in the background.
func (p *Pool) Take() *Ready {
	p.once.Do(p.start)
	var r *Ready
	select {
	case r = <-p.ready:
	default:
	}
	select {
	case p.taken <- struct{}{}:
	default:
	}
	return r
}

// Close gives up the ready supervisors and starts no more. Without it, they
// live as long as this process (their lifelines break when it exits).
func (p *Pool) Close() {
	p.close.Do(func() { close(p.closed) })
	p.once.Do(func() {}) // no fill after Close
	if p.done == nil {
		return
	}
	<-p.done
	for {
		select {
		case r := <-p.ready:
			_ = r.Close()
		default:
			return
		}
	}
}

// fill keeps the pool full until it is closed.
func (p *Pool) fill() {
	defer close(p.done)
	backoff := 100 * time.Millisecond
	for {
		for len(p.ready) < p.size {
			r, err := p.s.Prestart(p.grace)
			if err != nil {
				select {
				case <-time.After(backoff):
				case <-p.closed:
					return
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			p.ready <- r
		}
		select {
		case <-p.taken:
		case <-p.closed:
			return
		}
	}
}
