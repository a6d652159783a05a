// Package docker is the executor that runs job sessions in containers, the
// way Semaphore's docker-compose executor does (docs/semaphore.md §1.3, §7.1): the first
// container of a job is its main container, where the commands run in one
// persistent bash session (the same driver as the shell executor, so the
// executor contract holds for both); the others are service containers on a
// private network per job, reachable by their name as host name.
//
// The executor drives the docker command-line client rather than the
// Engine API: the client negotiates the API version with any daemon from
// Docker 20.10 (API 1.41) on, streams the session over `docker run -i`, and
// is what an operator debugs with. Each session is:
//
//   - images made present according to the pull policy (if-not-present by
//     default, always on request), through the agent's registry mirror when
//     one is set, after logging in with the job's pull credentials in a
//     private client configuration; one log line per image says whether it
//     was cached or pulled and how long the pull took;
//   - with services, a network `baton-<session>` and one detached container
//     per service, checked to be running before any command (a service that
//     exited is reported with its last log lines);
//   - the main container `docker run -i --init` with bash as its process:
//     the workspace (SessionConfig.Dir), the session's private directory and
//     SessionConfig.Mounts are bind-mounted at the same paths, so paths mean
//     the same inside and out (the agent prepares the checkout; no git is
//     needed in the image).
//
// Stopping a session is `docker stop` with the grace period (SIGTERM to the
// container's init, which forwards it; SIGKILL after the grace period).
// Close removes every container, network and anonymous volume of the
// session. Everything is labelled with the agent and job, so that Sweep
// removes what a crashed agent left behind.
package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/internal/bashproc"
	"github.com/batonci/baton/internal/executor/internal/interactive"
	"github.com/batonci/baton/internal/reaper"
)

// Labels put on everything a session creates.
const (
	LabelManaged = "io.batonci.managed"
	LabelAgent   = "io.batonci.agent"
	LabelJob     = "io.batonci.job"
	LabelSession = "io.batonci.session"
)

// DefaultGracePeriod is the stop grace period when Options.GracePeriod is
// zero.
const DefaultGracePeriod = 10 * time.Second

// serviceLogLines is how many of a failed service's last log lines are
// shown.
const serviceLogLines = 20

// Options configures an Executor.
type Options struct {
	// Docker is the docker client binary; empty means "docker" on PATH.
	Docker string
	// GracePeriod is the time between SIGTERM and SIGKILL when a session
	// is stopped; zero means DefaultGracePeriod.
	GracePeriod time.Duration
	// TempDir holds each session's private directory (bind-mounted in its
	// main container); empty means os.TempDir().
	TempDir string
	// DefaultImage is the main container's image for a session that names
	// no containers; empty means such sessions are refused.
	DefaultImage string
	// Supervisor, when not nil, runs each session's docker client under
	// a job supervisor: should this process die, the supervisor removes
	// the session's containers and network at once. Nil leaves them to
	// Sweep.
	Supervisor *reaper.Supervisor
	// AgentID labels everything this executor creates, for Sweep; empty
	// means "local".
	AgentID string
	// Mirror is a registry (host[:port]) that Docker Hub images are
	// pulled through, such as a pull-through cache; empty means pull
	// from Docker Hub directly.
	Mirror string
	// PullPolicy is the policy for sessions that do not set one: empty
	// means executor.PullIfNotPresent.
	PullPolicy string
	// DockerSocket makes the daemon's socket (/var/run/docker.sock)
	// available in main containers. Off by default: it gives jobs control
	// of the host.
	DockerSocket bool
	// ImageUsed, when not nil, is called with every image a session
	// starts a container from (for the agent's image cache).
	ImageUsed func(image string)
}

// Validate reports whether o is usable.
func (o Options) Validate() error {
	if o.GracePeriod < 0 {
		return fmt.Errorf("docker executor: negative grace period %v", o.GracePeriod)
	}
	switch o.PullPolicy {
	case "", executor.PullIfNotPresent, executor.PullAlways:
	default:
		return fmt.Errorf("docker executor: unknown pull policy %q (want %s or %s)", o.PullPolicy, executor.PullIfNotPresent, executor.PullAlways)
	}
	return nil
}

// Executor starts container sessions. It is safe for concurrent use.
type Executor struct {
	opts Options
}

var _ executor.Executor = (*Executor)(nil)

// New returns an Executor with the given options.
func New(opts Options) *Executor {
	if opts.Docker == "" {
		opts.Docker = "docker"
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	if opts.AgentID == "" {
		opts.AgentID = "local"
	}
	if opts.PullPolicy == "" {
		opts.PullPolicy = executor.PullIfNotPresent
	}
	return &Executor{opts: opts}
}

// ErrNoDocker is returned by Available when no Docker daemon answers.
var ErrNoDocker = errors.New("docker is not available")

// Available reports whether the docker client is installed and its daemon
// answers, with the daemon's API version.
func (e *Executor) Available(ctx context.Context) (apiVersion string, err error) {
	if _, err := exec.LookPath(e.opts.Docker); err != nil {
		return "", fmt.Errorf("%w: no docker client (%s) on PATH", ErrNoDocker, e.opts.Docker)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := e.docker(ctx, nil, "version", "--format", "{{.Server.APIVersion}}")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	return strings.TrimSpace(out), nil
}

// docker runs the client and returns its standard output; a failure's
// error carries its standard error.
func (e *Executor) docker(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.opts.Docker, args...)
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), errors.New(msg)
	}
	return stdout.String(), nil
}

// labels returns the label flags for a session.
func (e *Executor) labels(sid, jobID string) []string {
	return []string{
		"--label", LabelManaged + "=1",
		"--label", LabelAgent + "=" + e.opts.AgentID,
		"--label", LabelJob + "=" + jobID,
		"--label", LabelSession + "=" + sid,
	}
}

// Sweep removes every container, network and volume labelled with this
// executor's agent id: what sessions left behind when the agent died.
// Call it when the agent starts, before it takes jobs.
func (e *Executor) Sweep(ctx context.Context) error {
	return e.remove(ctx, LabelAgent+"="+e.opts.AgentID)
}

// removeCommand is a command that removes the containers and networks
// that match a label filter, without output: what a session's supervisor
// runs when this process dies.
func (e *Executor) removeCommand(filter string) []string {
	const script = `c=$("$0" ps -aq --filter "label=$1") && [ -n "$c" ] && "$0" rm -f $c
n=$("$0" network ls -q --filter "label=$1") && [ -n "$n" ] && "$0" network rm $n
exit 0`
	return []string{"/bin/sh", "-c", script, e.opts.Docker, filter}
}

// remove removes everything that matches a label filter.
func (e *Executor) remove(ctx context.Context, filter string) error {
	var errs []error
	out, err := e.docker(ctx, nil, "ps", "-aq", "--filter", "label="+filter)
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	} else if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := e.docker(ctx, nil, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
	}
	out, err = e.docker(ctx, nil, "network", "ls", "-q", "--filter", "label="+filter)
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	} else if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := e.docker(ctx, nil, append([]string{"network", "rm"}, ids...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove networks: %w", err))
		}
	}
	out, err = e.docker(ctx, nil, "volume", "ls", "-q", "--filter", "label="+filter)
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	} else if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := e.docker(ctx, nil, append([]string{"volume", "rm", "-f"}, ids...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove volumes: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Start starts a container session: see the package documentation. The
// caller must always call Close, which removes the session's containers
// and network.
func (e *Executor) Start(ctx context.Context, cfg executor.SessionConfig) (executor.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	containers := cfg.Containers
	if len(containers) == 0 {
		if e.opts.DefaultImage == "" {
			return nil, errors.New("start container session: no containers given")
		}
		containers = []executor.Container{{Name: "main", Image: e.opts.DefaultImage}}
	}
	if fi, err := os.Stat(cfg.Dir); err != nil {
		return nil, fmt.Errorf("start container session: working directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("start container session: %s is not a directory", cfg.Dir)
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	sid := newID()
	jobID := cfg.JobID
	if jobID == "" {
		jobID = sid
	}
	policy := cfg.PullPolicy
	if policy == "" {
		policy = e.opts.PullPolicy
	}
	s := &session{e: e, sid: sid, name: "baton-" + sid}
	ok := false
	defer func() {
		if !ok {
			s.cleanup()
		}
	}()
	if err := e.ensureImages(ctx, containers, policy, cfg.Credentials, log); err != nil {
		return nil, err
	}
	if len(containers) > 1 {
		if err := s.startServices(ctx, containers[1:], jobID, log); err != nil {
			return nil, err
		}
	}
	if err := s.startMain(ctx, cfg, containers[0], jobID); err != nil {
		return nil, fmt.Errorf("start main container %q (%s): %w", containers[0].Name, containers[0].Image, err)
	}
	if e.opts.ImageUsed != nil {
		for _, c := range containers {
			e.opts.ImageUsed(c.Image)
		}
	}
	s.proc.Watch(ctx)
	// The first command proves bash runs in the image.
	init := cfg.Init
	if init == "" {
		init = "true"
	}
	if err := s.proc.Init(ctx, init); err != nil {
		if errors.Is(err, executor.ErrSessionEnded) && s.proc.ExitCode() == 127 {
			return nil, fmt.Errorf("start main container %q: image %s has no bash: the main container runs the job's commands in bash", containers[0].Name, containers[0].Image)
		}
		return nil, fmt.Errorf("container session init: %w", err)
	}
	if len(containers) > 1 {
		if err := s.checkServices(ctx, containers[1:], log); err != nil {
			return nil, err
		}
		for _, c := range containers[1:] {
			fmt.Fprintf(log, "Service %s (%s) started\n", c.Name, c.Image)
		}
	}
	ok = true
	return s, nil
}

// session is one container session.
type session struct {
	e        *Executor
	sid      string
	name     string // prefix of container names, and the network's name
	network  string // "" without services
	services []string
	dir      string // private directory, holds the command file
	proc     *bashproc.Session
	lifeline *reaper.Lifeline // the main container client's supervisor's, or nil
	// main, user and workdir are the main container's name, user and
	// working directory (for interactive shells).
	main, user, workdir string
	shells              interactive.Set

	closeOnce sync.Once
}

// stateFile is where the main container's shell keeps the session's state
// for interactive shells (bashproc.Driver): inside the container, as the
// session's directory is mounted read-only there, in memory (Docker gives
// every container a /dev/shm), as it is rewritten after every command.
func (s *session) stateFile() string { return "/dev/shm/.baton-state-" + s.sid }

// Run implements executor.Session.
func (s *session) Run(ctx context.Context, command string, out io.Writer) (int, error) {
	return s.proc.Run(ctx, command, out)
}

// Close implements executor.Session: it stops the main container and
// removes the session's containers and network.
func (s *session) Close() error {
	s.closeOnce.Do(func() {
		s.shells.CloseAll()
		if s.proc != nil {
			_ = s.proc.Close()
		}
		s.cleanup()
	})
	return nil
}

// cleanup removes what the session created. It runs with its own context:
// it must happen even when the job's context is done.
func (s *session) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = s.e.remove(ctx, LabelSession+"="+s.sid)
	_ = s.lifeline.Close()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// startServices creates the network and starts the service containers in
// parallel, then checks that they are all still running.
func (s *session) startServices(ctx context.Context, services []executor.Container, jobID string, log io.Writer) error {
	s.network = s.name
	args := append([]string{"network", "create"}, s.e.labels(s.sid, jobID)...)
	if _, err := s.e.docker(ctx, nil, append(args, s.network)...); err != nil {
		return fmt.Errorf("create the job's network: %w", err)
	}
	errs := make([]error, len(services))
	names := make([]string, len(services))
	var wg sync.WaitGroup
	for i, c := range services {
		names[i] = s.name + "-" + c.Name
		wg.Go(func() {
			args := []string{"run", "-d", "--pull", "never", "--name", names[i], "--network", s.network, "--network-alias", c.Name, "--hostname", c.Name}
			args = append(args, s.e.labels(s.sid, jobID)...)
			envArgs, env := envFlags(c.Env)
			args = append(args, envArgs...)
			if c.User != "" {
				args = append(args, "--user", c.User)
			}
			if c.Entrypoint != "" {
				ep := splitWords(c.Entrypoint)
				args = append(args, "--entrypoint", ep[0])
				args = append(args, c.Image)
				args = append(args, ep[1:]...)
			} else {
				args = append(args, c.Image)
			}
			args = append(args, splitWords(c.Command)...)
			if _, err := s.e.docker(ctx, env, args...); err != nil {
				errs[i] = fmt.Errorf("start service %q (%s): %w", c.Name, c.Image, err)
			}
		})
	}
	wg.Wait()
	s.services = names
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.checkServices(ctx, services, log)
}

// checkServices fails when a service container has exited, with its last
// log lines in the job's log. Start checks right after starting the
// services and again once the main container's shell runs, so a service
// that dies in its first moments is caught even on a busy machine.
func (s *session) checkServices(ctx context.Context, services []executor.Container, log io.Writer) error {
	names := s.services
	if len(names) == 0 {
		return nil
	}
	// One inspect for all: "name running exitcode".
	out, err := s.e.docker(ctx, nil, append([]string{"inspect", "--format", "{{.Name}} {{.State.Running}} {{.State.ExitCode}}"}, names...)...)
	if err != nil {
		return fmt.Errorf("inspect services: %w", err)
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[1] != "true" && i < len(services) {
			logs, _ := s.e.dockerCombined(ctx, "logs", "--tail", fmt.Sprint(serviceLogLines), names[i])
			fmt.Fprintf(log, "Service %s (%s) exited with status %s; its last log lines:\n%s", services[i].Name, services[i].Image, f[2], logs)
			if !strings.HasSuffix(logs, "\n") {
				fmt.Fprintln(log)
			}
			return fmt.Errorf("service %q (%s) exited immediately with status %s", services[i].Name, services[i].Image, f[2])
		}
	}
	return nil
}

// dockerCombined runs the client and returns stdout and stderr together.
func (e *Executor) dockerCombined(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, e.opts.Docker, args...).CombinedOutput()
	return string(out), err
}

// startMain starts the main container with the bash driver as its process,
// attached: its standard input is the control channel, its output the
// session's output.
func (s *session) startMain(ctx context.Context, cfg executor.SessionConfig, c executor.Container, jobID string) (err error) {
	dir, err := os.MkdirTemp(s.e.opts.TempDir, "baton-docker-")
	if err != nil {
		return err
	}
	s.dir = dir
	var toClose []io.Closer
	defer func() {
		if err != nil {
			for _, c := range toClose {
				_ = c.Close()
			}
		}
	}()
	cmdPath := filepath.Join(dir, "command")
	cmdFile, err := os.OpenFile(cmdPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	toClose = append(toClose, cmdFile)
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return err
	}
	toClose = append(toClose, ctlR, ctlW)
	out, childOut, err := os.Pipe()
	if err != nil {
		return err
	}
	toClose = append(toClose, out, childOut)

	main := s.name + "-main"
	args := []string{"run", "-i", "--init", "--pull", "never", "--name", main, "--hostname", c.Name}
	args = append(args, s.e.labels(s.sid, jobID)...)
	args = append(args, "--label", LabelRole+"="+RoleMain)
	if s.network != "" {
		args = append(args, "--network", s.network, "--network-alias", c.Name)
	}
	mounts := []executor.Mount{{Path: cfg.Dir}, {Path: dir, ReadOnly: true}}
	mounts = append(mounts, cfg.Mounts...)
	for _, m := range mounts {
		v := m.Path + ":" + m.Path
		if m.ReadOnly {
			v += ":ro"
		}
		args = append(args, "-v", v)
	}
	if s.e.opts.DockerSocket {
		args = append(args, "-v", "/var/run/docker.sock:/var/run/docker.sock")
	}
	envArgs, env := envFlags(append(append([]string{}, c.Env...), cfg.Env...))
	args = append(args, envArgs...)
	if c.User != "" {
		args = append(args, "--user", c.User)
	}
	args = append(args, "-w", cfg.Dir, "--entrypoint", "bash", c.Image,
		"--noprofile", "--norc", "-c", bashproc.Driver(cmdPath, bashproc.StdinPrelude, s.stateFile()))

	cmd := exec.Command(s.e.opts.Docker, args...)
	cmd.Env = env
	cmd.Stdin = ctlR
	cmd.Stdout = childOut
	cmd.Stderr = childOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if sup := s.e.opts.Supervisor; sup != nil {
		l, err := sup.Wrap(cmd, s.e.opts.GracePeriod, s.e.removeCommand(LabelSession+"="+s.sid)...)
		if err != nil {
			return err
		}
		s.lifeline = l
	}
	err = cmd.Start()
	s.lifeline.Started()
	if err != nil {
		return err
	}
	_ = childOut.Close()
	_ = ctlR.Close()
	grace := s.e.opts.GracePeriod
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), grace+time.Minute)
		defer cancel()
		secs := int(math.Ceil(grace.Seconds()))
		_, _ = s.e.docker(sctx, nil, "stop", "-t", fmt.Sprint(secs), main)
	}
	p, err := bashproc.New(bashproc.Parts{
		Grace: grace, Cmd: cmd, Pgid: cmd.Process.Pid,
		Out: out, Ctl: ctlW, Dir: dir, CmdFile: cmdFile, Stop: stop,
	})
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return err
	}
	s.proc = p
	s.main, s.user, s.workdir = main, c.User, cfg.Dir
	return nil
}

// envFlags turns KEY=VALUE pairs into `-e KEY` flags and a client
// environment holding the values, so that values (secrets) never appear on
// a command line and may span lines. Keys the client itself reads
// (DOCKER_*) are passed on the command line instead.
func envFlags(vars []string) (args, env []string) {
	env = os.Environ()
	for _, kv := range vars {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if strings.HasPrefix(k, "DOCKER_") {
			args = append(args, "-e", kv)
			continue
		}
		args = append(args, "-e", k)
		env = append(env, kv)
	}
	return args, env
}

// splitWords splits a command string into words the way a shell would
// without expansions: blanks separate words, single and double quotes and
// backslashes quote.
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// newID returns a random 12-character hex id.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
