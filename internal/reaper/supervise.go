package reaper

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// killWait bounds how long the supervisor keeps killing descendants that
// do not go away (a process in uninterruptible sleep).
const killWait = 10 * time.Second

// Main is the job supervisor (see the package documentation): args are
// its arguments after the program name, as Supervisor.Wrap passes them.
// It returns the supervised program's exit status (128+N when signal N
// killed it), or 125 when it could not start it.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	lifelineFD := fs.Int("lifeline-fd", -1, "descriptor of the lifeline's read end")
	grace := fs.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL for processes left when the program exits")
	record := fs.String("record", "", "directory where the supervisor records itself")
	var onLost []string
	fs.Func("on-lost", "one word (repeated) of the command to run when the lifeline breaks", func(a string) error {
		onLost = append(onLost, a)
		return nil
	})
	uid := fs.Int("uid", -1, "user ID the program runs as")
	gid := fs.Int("gid", -1, "group ID the program runs as")
	groups := fs.String("groups", "", "supplementary group IDs of the program, comma-separated")
	controlFD := fs.Int("control-fd", -1, "descriptor of the socket the program to run comes on (a supervisor started ahead, see Ready)")
	if err := fs.Parse(args); err != nil {
		return 125
	}
	rest := fs.Args()
	if *lifelineFD < 3 || (len(rest) < 2 && *controlFD < 0) {
		fmt.Fprintf(stderr, "%s: usage: %s -lifeline-fd N [-grace D] [-record DIR] -- PATH ARGV0 [ARG...]\n", Name, Name)
		return 125
	}
	// Signals sent to the job's process group reach the supervisor too:
	// it stays to clean up, and passes them on to descendants that left
	// the group.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	parent := os.Getppid()
	parentDeath := make(chan os.Signal, 1)
	if parentDeathSignal != 0 {
		signal.Notify(parentDeath, parentDeathSignal)
	}
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 125
	}
	syscall.CloseOnExec(*lifelineFD)
	lifeline := os.NewFile(uintptr(*lifelineFD), "lifeline")
	if *record != "" {
		remove, err := writeRecord(*record)
		if err != nil {
			fmt.Fprintf(stderr, "%s: record: %v\n", Name, err)
			return 125
		}
		defer remove()
	}

	lost := make(chan struct{})
	var loseOnce sync.Once
	lose := func() { loseOnce.Do(func() { close(lost) }) }
	go func() {
		var b [1]byte
		for {
			// Nothing is ever written: only EOF (or an error) ends this.
			if _, err := lifeline.Read(b[:]); err != nil {
				lose()
				return
			}
		}
	}()
	go func() {
		for range parentDeath {
			if os.Getppid() != parent {
				lose()
				return
			}
		}
	}()
	var prog program
	// reply tells whoever started the program whether it started: the
	// agent, on the control socket, for a supervisor started ahead.
	reply := func(string) {}
	if *controlFD >= 0 {
		var given bool
		prog, reply, given = awaitProgram(*controlFD, lost, sigs)
		if !given {
			return 0
		}
		if prog.err != nil {
			reply(prog.err.Error())
			return 125
		}
	} else {
		prog = programFromArgs(rest, *lifelineFD, *uid, *gid, *groups)
		if prog.err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", Name, prog.err)
			return 125
		}
	}
	attr := prog.attr
	child, err := os.StartProcess(prog.path, prog.argv, attr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		reply(err.Error())
		return 125
	}
	reply(startedReply)
	for _, f := range attr.Files[3:] {
		_ = f.Close()
	}
	if *controlFD >= 0 {
		for _, f := range attr.Files[:3] {
			_ = f.Close()
		}
	}

	childDone := make(chan syscall.WaitStatus, 1)
	noChildren := make(chan struct{})
	go reap(child.Pid, childDone, noChildren)

	self := os.Getpid()
	termSent := false
	var status syscall.WaitStatus
wait:
	for {
		select {
		case sig := <-sigs:
			killTree(self, sig.(syscall.Signal), true)
			termSent = termSent || sig == syscall.SIGTERM
		case status = <-childDone:
			break wait
		case <-lost:
			killAll(self, noChildren)
			runOnLost(onLost)
			return 137
		}
	}
	code := status.ExitStatus()
	if status.Signaled() {
		code = 128 + int(status.Signal())
	}
	// The program is gone; so goes what it left running.
	if !termSent {
		killTree(self, syscall.SIGTERM, false)
	}
	t := time.NewTimer(*grace)
	defer t.Stop()
	select {
	case <-noChildren:
		return code
	case <-t.C:
	case <-lost:
		killAll(self, noChildren)
		runOnLost(onLost)
		return code
	}
	killAll(self, noChildren)
	return code
}

// program is what a supervisor runs, or why it cannot.
type program struct {
	path string
	argv []string
	attr *os.ProcAttr
	err  error
}

// programFromArgs is the program of a supervisor started with it: its
// path and arguments rest, this process's environment, directory and
// standard streams, the descriptors from 3 to the lifeline's, and the
// credential of -uid, -gid and -groups.
func programFromArgs(rest []string, lifelineFD, uid, gid int, groups string) program {
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for fd := 3; fd < lifelineFD; fd++ {
		files = append(files, os.NewFile(uintptr(fd), "extra"))
	}
	p := program{path: rest[0], argv: rest[1:], attr: &os.ProcAttr{Env: os.Environ(), Files: files}}
	if uid >= 0 || gid >= 0 {
		cred, err := credential(uid, gid, groups)
		if err != nil {
			p.err = err
			return p
		}
		p.attr.Sys = &syscall.SysProcAttr{Credential: cred}
	}
	return p
}

// awaitProgram waits for the program of a supervisor started ahead to come
// on the socket controlFD (see Ready.Start), and enters its directory. It
// returns given false, and nothing to run, when the supervisor is given up
// first: the socket closed, the lifeline broken or a signal. reply answers
// on the socket, once.
func awaitProgram(controlFD int, lost <-chan struct{}, sigs <-chan os.Signal) (p program, reply func(string), given bool) {
	syscall.CloseOnExec(controlFD)
	control := os.NewFile(uintptr(controlFD), "control")
	reply = func(s string) {
		_, _ = io.WriteString(control, strings.ReplaceAll(s, "\n", " ")+"\n")
		_ = control.Close()
	}
	type received struct {
		req   startRequest
		files []*os.File
		err   error
	}
	got := make(chan received, 1)
	go func() {
		req, files, err := receiveStart(control)
		got <- received{req, files, err}
	}()
	var r received
	select {
	case <-lost:
		return p, reply, false
	case <-sigs:
		return p, reply, false
	case r = <-got:
	}
	if r.err == io.EOF {
		return p, reply, false
	}
	if r.err != nil {
		p.err = fmt.Errorf("receive the program: %w", r.err)
		return p, reply, true
	}
	// As a supervisor started with its program: the directory is entered
	// as this user, and the program inherits it.
	if err := os.Chdir(r.req.Dir); err != nil {
		p.err = err
		return p, reply, true
	}
	p.path, p.argv = r.req.Path, r.req.Args
	p.attr = &os.ProcAttr{Env: r.req.Env, Files: r.files}
	if r.req.UID >= 0 || r.req.GID >= 0 {
		if r.req.UID < 0 || r.req.GID < 0 {
			p.err = errors.New("a user ID without a group ID")
			return p, reply, true
		}
		groups := append([]uint32{}, r.req.Groups...)
		p.attr.Sys = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.req.UID), Gid: uint32(r.req.GID), Groups: groups}}
	}
	return p, reply, true
}

// onLostTimeout bounds the command run when the lifeline breaks.
const onLostTimeout = 2 * time.Minute

// runOnLost runs the command of -on-lost, if any, without output: the
// job's output has no reader any more (writing there would be SIGPIPE).
func runOnLost(argv []string) {
	if len(argv) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), onLostTimeout)
	defer cancel()
	_ = exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
}

// credential is the credential of -uid, -gid and -groups.
func credential(uid, gid int, groups string) (*syscall.Credential, error) {
	if uid < 0 || gid < 0 {
		return nil, errors.New("-uid and -gid go together")
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	for _, g := range strings.Split(groups, ",") {
		if g == "" {
			continue
		}
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-groups: %w", err)
		}
		c.Groups = append(c.Groups, uint32(n))
	}
	return c, nil
}

// reap waits for every child of this process (orphaned descendants
// included, as it is a subreaper). It sends the status of the child pid
// on childDone, and closes noChildren when no child is left: then no
// descendant is left either.
func reap(pid int, childDone chan<- syscall.WaitStatus, noChildren chan<- struct{}) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD
			close(noChildren)
			return
		}
		if got == pid {
			childDone <- ws
		}
	}
}

// killAll kills every descendant of self until none is left (a process
// may fork while it is being killed), for at most killWait.
func killAll(self int, noChildren <-chan struct{}) {
	deadline := time.NewTimer(killWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		killTree(self, syscall.SIGKILL, false)
		select {
		case <-noChildren:
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}
