// Package agent is the worker loop that runs on an agent machine: it
// registers with the server, long-polls it for jobs (the poll is also the
// heartbeat), runs each job with internal/runner in its own directory,
// streams the job's log to the server as ordered, size-capped chunks, and
// reports the result once the server has the whole log.
//
// Each job runs in WorkDir/jobs/<id>, which is also its HOME and is
// removed when the job ends. With JobUsers (an agent that runs as root),
// a shell job runs as an unprivileged user leased for it, which owns its
// home (mode 0700) and nothing else: it cannot enter the agent's data
// directory or signal the agent. Jobs get the agent's environment only
// through an allow-list (AllowedEnv), never its token. A job with a Checkout gets a working copy of
// its commit (internal/repocache: a clone that borrows the objects of a
// cached mirror) in <home>/<repository name>, named by BATON_WORKSPACE,
// which the toolbox's checkout moves to SEMAPHORE_GIT_DIR.
//
// The agent survives a server that restarts or misbehaves: polls, log
// chunks and finish reports are retried with jittered exponential backoff
// for as long as it takes, while running jobs carry on and their output is
// buffered in memory. Log chunks are sent by one goroutine per job, in
// order, each retried until acknowledged; they are idempotent by sequence
// number, and when the server reports a gap (409 with the sequence number
// it expects) the uploader resends from there: it keeps every chunk of a
// running job (the acknowledged ones gzip-compressed) until the server has
// accepted the job's finish.
//
// Shutting down is two-staged. Cancelling Run's context drains: the agent
// tells the server it takes no more jobs, lets the running ones finish,
// delivers their logs and results, disconnects and returns. Closing
// Config.Stop as well stops the running jobs (result "stopped", reason
// agent_lost; the executor signals each job's process group, waits a grace
// period and kills it), delivers what it can within FlushTimeout, and
// returns.
//
// What the agent expects from the server, beyond the protocol's types:
// log sequence numbers start at 0, so FinishRequest.Chunks is the number
// of chunks and the next sequence number; a job an earlier poll assigned
// that a later poll does not list in Running never reached the agent (the
// agent may abandon a poll whose answer is in flight, to say at once that
// it drains or that a slot came free); and a Cancel is repeated while the
// job is still listed in Running, since its answer may be lost too.
package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/jobuser"
	"github.com/batonci/baton/internal/privdir"
	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/toolbox"
	"github.com/batonci/baton/internal/toolsource"
	"golang.org/x/crypto/ssh"
)

// The defaults of Config's tunables.
const (
	DefaultChunkSize     = 1 << 20
	DefaultChunkInterval = 200 * time.Millisecond
	DefaultRetryMin      = 100 * time.Millisecond
	DefaultRetryMax      = 5 * time.Second
	DefaultFlushTimeout  = 10 * time.Second
)

// Config configures an agent.
type Config struct {
	// ServerURL is the server's base URL ("https://ci.example.com").
	ServerURL string
	// Token is the agent token the server gave out.
	Token string
	// Name names the agent in the UI; default the host name.
	Name string
	// Type is the agent type (machine type) jobs ask for.
	Type string
	// Slots is how many jobs the agent runs at once; default 1.
	Slots int
	// DataDir holds the agent's state: the repository cache (repos/),
	// the copies of restored cache archives (cache-copies/), the stores of
	// the jobs' services (artifacts/<project>/, context/<workflow>/), and the
	// state file (agent.json) that keeps the agent's ID across restarts.
	// Only the agent's user may enter it (mode 0700). One agent at a time
	// may use a DataDir.
	DataDir string
	// WorkDir holds the jobs' directories (jobs/<id>, removed after each
	// job) and the toolbox (bin/); default DataDir. With JobUsers it must be set and lie
	// outside DataDir, which a job's user cannot enter.
	WorkDir string
	// JobUsers, when not nil, runs each job that runs on this machine as
	// a user leased from it (jobuser), in a home only that user may
	// enter. Nil runs jobs as the agent's own user, with its rights.
	JobUsers *jobuser.Pool
	// BatonPath is the baton binary that toolbox commands (checkout,
	// cache, artifact...) link to; the caller passes os.Executable().
	BatonPath string
	// Env is the base environment of jobs ("KEY=VALUE"); nil means the
	// variables of the agent's own environment that AllowedEnv lets
	// through (PATH, locale, time zone, terminal, proxies), never its
	// other variables. BATON_* variables (the agent's own configuration,
	// its token included) are never passed on, PATH gets the toolbox
	// first, and HOME is the job's own directory.
	Env []string
	// Executor runs the jobs' shells; nil means the shell executor (with
	// a job supervisor when Supervise is set).
	Executor executor.Executor
	// Supervise runs the default executor's shells under a job
	// supervisor (JobSupervisor), so that a job's processes die with the
	// agent.
	Supervise bool
	// Executors lists what the agent reports it runs jobs with; default
	// ["shell"].
	Executors []string
	// Images, when not nil, returns the container images the agent
	// holds; every poll reports them (the server prefers an agent that
	// holds a job's images).
	Images func() []string
	// ImagePruning, when not nil, returns what the agent removed over
	// its image disk budget; every poll reports it.
	ImagePruning func() *ci.ImagePruning
	// Version is the agent's build version, sent to the server; default
	// "unknown".
	Version string
	// HTTPClient talks to the server; nil means a client without
	// timeouts (polls are bounded by the server's poll timeout).
	HTTPClient *http.Client
	// JobServiceListen makes the listener of a job's service
	// (internal/jobsvc) at a socket path; nil means a unix socket. Tests
	// that run the agent in a synctest bubble pass an in-memory one.
	JobServiceListen func(socket string) (net.Listener, error)
	// Services, when not nil, runs a job's sem-service containers (its
	// Docker executor's); the agent closes them when the job ends.
	// NoServices says, in one line, why jobs cannot start services when
	// it is nil.
	Services   func(jobID string, inContainers bool) JobServices
	NoServices string
	// Logger receives the agent's own log; nil discards it.
	Logger *slog.Logger
	// Now is the clock of log events; nil means time.Now.
	Now func() time.Time
	// Stop, when closed, stops the running jobs (after Run's context is
	// cancelled, or instead of it). Nil means jobs are always drained.
	Stop <-chan struct{}

	// Tools, when not nil, is the agent's tool cache and its sources:
	// jobs get its entries on PATH, read-only, and install into it
	// through their job service (sem-version, tool install). Its
	// directory must be readable by the jobs' users (under WorkDir).
	Tools *toolsource.Provider

	// CacheLocalBudget bounds the copies of restored cache archives the
	// agent keeps (DataDir/cache-copies), so that restoring a key again
	// downloads nothing; default DefaultCacheLocalBudget, negative keeps
	// none. The caches themselves are the server's.
	CacheLocalBudget int64

	// ChunkSize caps the size of a log chunk (default 1 MiB); a chunk is
	// sent when it is full or ChunkInterval (default 200 ms) after its
	// first event.
	ChunkSize     int
	ChunkInterval time.Duration
	// RetryMin and RetryMax bound the jittered exponential backoff of
	// retried requests (default 100 ms and 5 s).
	RetryMin, RetryMax time.Duration
	// FlushTimeout is how long, after Stop is closed, the agent keeps
	// trying to deliver the stopped jobs' logs and results (default 10 s).
	FlushTimeout time.Duration
}

// Validate reports whether c is usable; zero tunables mean their default.
func (c Config) Validate() error {
	var errs []error
	if c.ServerURL == "" {
		errs = append(errs, errors.New("the server URL is not set"))
	} else if u, err := url.Parse(c.ServerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("bad server URL %q: want http(s)://host[:port][/path]", c.ServerURL))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("the agent token is not set"))
	}
	if c.Slots < 0 {
		errs = append(errs, fmt.Errorf("slots must be at least 1, not %d", c.Slots))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("the data directory is not set"))
	}
	if c.BatonPath == "" {
		errs = append(errs, errors.New("the path of the baton binary is not set"))
	}
	if c.JobUsers != nil && c.DataDir != "" {
		if c.WorkDir == "" {
			errs = append(errs, errors.New("jobs run as job users, but no work directory outside the data directory is set"))
		} else if within(c.WorkDir, c.DataDir) {
			errs = append(errs, fmt.Errorf("the work directory %s is inside the data directory %s, which job users cannot enter", c.WorkDir, c.DataDir))
		}
	}
	if c.ChunkSize < 0 || c.ChunkInterval < 0 || c.RetryMin < 0 || c.RetryMax < 0 || c.FlushTimeout < 0 {
		errs = append(errs, errors.New("negative chunk size, interval, retry delay or flush timeout"))
	}
	if c.RetryMin > 0 && c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		errs = append(errs, fmt.Errorf("the minimum retry delay %v is above the maximum %v", c.RetryMin, c.RetryMax))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent configuration: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	c.Slots = cmp.Or(c.Slots, 1)
	c.CacheLocalBudget = cmp.Or(c.CacheLocalBudget, DefaultCacheLocalBudget)
	c.WorkDir = cmp.Or(c.WorkDir, c.DataDir)
	if c.Env == nil {
		c.Env = AllowedEnv(os.Environ())
	}
	if c.Executor == nil {
		opts := shell.Options{}
		if c.Supervise {
			opts.Supervisor = JobSupervisor(c.BatonPath, c.DataDir)
			opts.Prestart = c.Slots
		}
		c.Executor = shell.New(opts)
	}
	if c.Executors == nil {
		c.Executors = []string{"shell"}
	}
	if c.Services == nil && c.NoServices == "" {
		c.NoServices = "sem-service needs Docker on the agent, and this agent runs no Docker executor"
	}
	c.Version = cmp.Or(c.Version, "unknown")
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.ChunkSize = cmp.Or(c.ChunkSize, DefaultChunkSize)
	c.ChunkInterval = cmp.Or(c.ChunkInterval, DefaultChunkInterval)
	c.RetryMin = cmp.Or(c.RetryMin, DefaultRetryMin)
	c.RetryMax = max(cmp.Or(c.RetryMax, DefaultRetryMax), c.RetryMin)
	c.FlushTimeout = cmp.Or(c.FlushTimeout, DefaultFlushTimeout)
	return c
}

// Attribute keys of the agent's log.
const (
	logAgent = "agent_id"
	logJob   = "job_id"
	logErr   = "err"
)

// stateFile is the name, in DataDir, of the file that keeps the agent's
// identity across restarts.
const stateFile = "agent.json"

// supervisorsDir is the directory, in DataDir, where the job supervisors
// of the agent's running jobs record themselves.
const supervisorsDir = "supervisors"

// JobServices are one job's sem-service containers: the job service
// starts them, the agent removes them when the job ends.
type JobServices interface {
	jobsvc.ServiceRunner
	Close() error
}

// JobSupervisor is the job supervisor of an agent whose baton binary is
// batonPath and data directory dataDir: shell executors that use it
// record their jobs where the agent, when it starts again, finds what an
// earlier run of it left behind. Without a binary, it is nil (no
// supervisor).
func JobSupervisor(batonPath, dataDir string) *reaper.Supervisor {
	if batonPath == "" {
		return nil
	}
	return &reaper.Supervisor{Binary: batonPath, RecordDir: filepath.Join(dataDir, supervisorsDir)}
}

// Identity names an agent outside its data directory (the labels of the
// containers it creates): its name and a digest of its data directory,
// so that an agent that starts again finds what it left behind, and never
// what another agent of the same name, on another data directory, runs.
func Identity(name, dataDir string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	return name + "@" + hex.EncodeToString(sum[:6])
}

// state is what the agent keeps across restarts: its ID and the
// credential the server gave it (the file is 0600).
type state struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential,omitempty"`
}

// agent is one running agent.
type agent struct {
	cfg    Config
	log    *slog.Logger
	client *agentapi.Client
	cache  *repocache.Cache
	// gzip compresses the log chunks the server has (upload.go).
	gzip agentapi.Gzip

	binDir, jobsDir string
	// svcDir holds the sockets of the jobs' services (jobsvc), one
	// directory each; in the temporary directory, as socket paths are
	// short, and named after DataDir, so a restarted agent removes what
	// an earlier run of it left.
	svcDir  string
	baseEnv []string // cfg.Env without BATON_* and with the toolbox on PATH
	// cacheCopies are the copies of restored cache archives.
	cacheCopies *cacheCopies
	hostKey     ssh.Signer

	// Set by register, read by the poll loop (the same goroutine).
	id          string
	credential  string
	pollTimeout time.Duration
	lostAfter   time.Duration

	// hard is cancelled when cfg.Stop is closed: it parents the jobs.
	hard context.Context
	// life is cancelled FlushTimeout after that: it parents every
	// request, so an agent told to stop gives up delivering at last.
	life context.Context

	mu      sync.Mutex
	jobs    map[string]*job // from assignment until its finish is delivered
	busy    int             // jobs whose commands run (the slots in use)
	changed chan struct{}   // wakes the poll loop when jobs change

	wg sync.WaitGroup // the jobs' goroutines
}

// Run runs the agent until ctx is done, then drains (see the package
// documentation) and returns nil. It returns an error if the
// configuration is bad, the data directory unusable, or the server
// refuses the agent (a bad token, for example).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	a := &agent{
		cfg:         cfg,
		log:         cfg.Logger,
		jobsDir:     filepath.Join(cfg.WorkDir, "jobs"),
		binDir:      filepath.Join(cfg.WorkDir, "bin"),
		svcDir:      filepath.Join(jobServiceParent(), "baton-jobsvc-"+hashName(absPath(cfg.DataDir))),
		cache:       repocache.New(filepath.Join(cfg.DataDir, "repos")),
		cacheCopies: &cacheCopies{dir: filepath.Join(cfg.DataDir, "cache-copies"), budget: cfg.CacheLocalBudget},
		jobs:        map[string]*job{},
		changed:     make(chan struct{}, 1),
	}
	a.client = agentapi.NewClient(cfg.ServerURL, cfg.Token, cfg.HTTPClient)
	a.client.AgentVersion = cfg.Version

	unlock, err := a.setUp()
	if err != nil {
		return err
	}
	defer unlock()
	defer os.RemoveAll(a.svcDir) // after every job's service closed

	// The stop watcher turns cfg.Stop into the hard and life contexts.
	hard, stopJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	life, giveUp := context.WithCancelCause(context.WithoutCancel(ctx))
	a.hard, a.life = hard, life
	done := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		select {
		case <-cfg.Stop:
		case <-done:
			return
		}
		a.log.Info("stopping the running jobs")
		stopJobs(ci.StopCause{Reason: ci.ReasonAgentLost})
		t := time.NewTimer(cfg.FlushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			giveUp(errors.New("agent stopped: gave up delivering logs and results"))
		case <-done:
		}
	})
	defer func() {
		close(done)
		watcher.Wait()
		stopJobs(nil)
		giveUp(nil)
	}()

	// The first registration ends when either stop comes: there is no
	// job to drain yet.
	rctx, cancelRegister := context.WithCancel(ctx)
	stopRegister := context.AfterFunc(hard, cancelRegister)
	err = a.register(rctx)
	stopped := rctx.Err() != nil
	stopRegister()
	cancelRegister()
	if err != nil {
		if stopped {
			return nil // stopped before it started
		}
		return err
	}
	a.log.Info("agent registered", logAgent, a.id, "server", cfg.ServerURL, "slots", cfg.Slots)
	err = a.loop(ctx)
	a.wg.Wait()

	// Say goodbye, briefly: the server forgets the agent's jobs anyway
	// when it stops polling.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if derr := a.client.Disconnect(dctx, a.id); derr != nil {
		a.log.Warn("disconnect failed", logAgent, a.id, logErr, derr)
	} else {
		a.log.Info("agent disconnected", logAgent, a.id)
	}
	return err
}

// setUp locks and prepares the data directory and installs the toolbox.
func (a *agent) setUp() (unlock func(), err error) {
	if err := privdir.Make(a.cfg.DataDir); err != nil {
		return nil, fmt.Errorf("agent data directory: %w", err)
	}
	unlock, err = lockDir(filepath.Join(a.cfg.DataDir, "agent.lock"))
	if err != nil {
		return nil, fmt.Errorf("agent data directory %s: %w", a.cfg.DataDir, err)
	}
	fail := func(err error) (func(), error) {
		unlock()
		return nil, err
	}
	// Processes of jobs of an earlier run of this agent whose supervisor
	// did not get to kill them (it was killed itself) are killed now.
	if n, err := reaper.Sweep(filepath.Join(a.cfg.DataDir, supervisorsDir)); err != nil {
		return fail(fmt.Errorf("clean up the jobs of an earlier run: %w", err))
	} else if n > 0 {
		a.log.Warn("killed processes left by jobs of an earlier run", "jobs", n)
	}
	// Job directories left by an agent that died are of no use: the
	// server has given their jobs up.
	if err := removeAll(a.jobsDir); err != nil {
		return fail(fmt.Errorf("clean up old job directories: %w", err))
	}
	// So are the sockets of their services. The directory is the
	// agent's; jobs may enter it, not list it.
	if err := removeAll(a.svcDir); err != nil {
		return fail(fmt.Errorf("clean up old job service sockets: %w", err))
	}
	if err := errors.Join(os.Mkdir(a.svcDir, 0o711), os.Chmod(a.svcDir, 0o711)); err != nil {
		return fail(fmt.Errorf("job service sockets: %w", err))
	}
	if err := a.makeWorkDir(); err != nil {
		return fail(fmt.Errorf("agent work directory: %w", err))
	}
	if err := toolbox.Install(a.binDir, a.cfg.BatonPath); err != nil {
		return fail(fmt.Errorf("install the toolbox: %w", err))
	}
	a.baseEnv = baseEnv(a.cfg.Env, a.binDir)
	if a.hostKey, err = loadHostKey(a.cfg.DataDir); err != nil {
		return fail(err)
	}
	if b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, stateFile)); err == nil {
		var st state
		if err := json.Unmarshal(b, &st); err != nil {
			a.log.Warn("ignoring a corrupt state file", "file", stateFile, logErr, err)
		} else {
			a.id = st.AgentID
			a.credential = st.Credential
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fail(fmt.Errorf("read the agent state: %w", err))
	}
	return unlock, nil
}

// makeWorkDir makes the work directory's parts. With job users, everyone
// may enter the work directory and run the toolbox, but not list the
// jobs' directories.
func (a *agent) makeWorkDir() error {
	modes := []struct {
		dir  string
		mode os.FileMode
	}{{a.cfg.WorkDir, 0o755}, {a.jobsDir, 0o711}, {a.binDir, 0o755}}
	for _, m := range modes {
		if err := os.MkdirAll(m.dir, m.mode); err != nil {
			return err
		}
		if a.cfg.JobUsers != nil {
			if err := os.Chmod(m.dir, m.mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// AllowedEnv returns the variables of env that jobs may inherit from the
// agent: the command search path, locale, time zone and terminal
// settings, CA certificate locations and proxies. Everything else (the
// service's secrets and configuration) stays out of jobs.
func AllowedEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "LANG", k == "LANGUAGE", strings.HasPrefix(k, "LC_"), k == "TZ", k == "TERM",
			k == "SSL_CERT_FILE", k == "SSL_CERT_DIR",
			k == "http_proxy", k == "https_proxy", k == "no_proxy", k == "HTTP_PROXY", k == "HTTPS_PROXY", k == "NO_PROXY":
			out = append(out, kv)
		}
	}
	return out
}

// baseEnv is env without HOME, PATH and BATON_* variables, plus PATH
// with the toolbox first.
func baseEnv(env []string, binDir string) []string {
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			path = v
		case k == "HOME" || strings.HasPrefix(k, "BATON_"):
		default:
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+binDir+string(os.PathListSeparator)+path)
}

// register announces the agent, under its old ID if it has one, retrying
// until the server answers. A refusal (bad token...) is returned.
func (a *agent) register(ctx context.Context) error {
	host, _ := os.Hostname()
	req := agentapi.RegisterRequest{
		AgentID:    a.id,
		Credential: a.credential,
		Name:       a.cfg.Name,
		Type:       a.cfg.Type,
		Slots:      a.cfg.Slots,
		Version:    a.cfg.Version,
		Hostname:   host,
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		Executors:  a.cfg.Executors,
	}
	if a.hostKey != nil {
		req.SSHHostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.hostKey.PublicKey())))
	}
	b := a.backoff()
	for {
		resp, err := a.client.Register(ctx, req)
		if err == nil {
			if resp.AgentID == "" {
				err = errors.New("register: the server gave no agent ID")
			} else {
				a.id = resp.AgentID
				a.credential = resp.Credential
				a.pollTimeout = resp.PollTimeout.D()
				a.lostAfter = resp.LostAfter.D()
				return a.saveState()
			}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if he := (*agentapi.HTTPError)(nil); req.AgentID != "" && errors.As(err, &he) && he.Status == http.StatusConflict {
			// The server still sees this ID connected and the agent has
			// no credential that proves it is that agent (one saved by an
			// older version, or lost): it becomes a new agent; the old
			// one's jobs fail as lost.
			a.log.Warn("the server refused the agent's old ID; registering as a new agent", logAgent, req.AgentID, logErr, err)
			req.AgentID, req.Credential = "", ""
			continue
		}
		if !agentapi.IsRetryable(err) {
			return fmt.Errorf("register with %s: %w", a.cfg.ServerURL, err)
		}
		d := b.next()
		a.log.Warn("register failed; retrying", logErr, err, "retry_in", d)
		if !sleep(ctx, d) {
			return context.Cause(ctx)
		}
	}
}

func (a *agent) saveState() error {
	b, _ := json.Marshal(state{AgentID: a.id, Credential: a.credential})
	path := filepath.Join(a.cfg.DataDir, stateFile)
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // WriteFile keeps the mode of a file that exists
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save the agent state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save the agent state: %w", err)
	}
	return nil
}

// pollResult is the outcome of one poll.
type pollResult struct {
	resp *agentapi.PollResponse
	err  error
}

// loop polls until the agent has drained (or given up), starting and
// cancelling jobs as the server says.
func (a *agent) loop(ctx context.Context) error {
	// Draining starts when ctx is done or the jobs are stopped; the
	// channels are set to nil once seen.
	ctxDone, hardDone := ctx.Done(), a.hard.Done()
	draining := false
	startDraining := func() {
		ctxDone, hardDone = nil, nil
		if !draining {
			draining = true
			a.log.Info("draining: taking no more jobs", logAgent, a.id)
		}
	}
	drained := func() bool {
		_, running := a.snapshot()
		return draining && len(running) == 0
	}
	// pause waits d, or less if the agent starts draining or has
	// drained; it returns false if the agent must give up.
	pause := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				return true
			case <-ctxDone:
				startDraining()
				return true
			case <-hardDone:
				startDraining()
				return true
			case <-a.changed:
				if drained() {
					return true
				}
			case <-a.life.Done():
				return false
			}
		}
	}

	b := a.backoff()
	for {
		select {
		case <-ctxDone:
			startDraining()
		case <-hardDone:
			startDraining()
		default:
		}
		if drained() || a.life.Err() != nil {
			return nil
		}
		free, running := a.snapshot()
		if draining {
			free = 0
		}
		req := agentapi.PollRequest{AgentID: a.id, FreeSlots: free, Running: running, Draining: draining}
		if a.cfg.Images != nil {
			req.Images, req.ImagesKnown = a.cfg.Images(), true
		}
		if a.cfg.ImagePruning != nil {
			req.ImagePruning = a.cfg.ImagePruning()
		}
		pctx, cancel := context.WithTimeout(a.life, a.pollDeadline())
		results := make(chan pollResult, 1)
		go func() { // owned: the loop below always receives its result
			resp, err := a.client.Poll(pctx, req)
			results <- pollResult{resp, err}
		}()
		var res pollResult
		abandoned := false
		abandon := func() {
			cancel()
			abandoned = true
		}
	wait:
		for {
			select {
			case res = <-results:
				break wait
			case <-ctxDone:
				startDraining()
				abandon() // tell the server at once
			case <-hardDone:
				startDraining()
				abandon()
			case <-a.changed:
				// Poll again if slots freed up while the server thought
				// the agent full, or if the drain is over.
				free, _ := a.snapshot()
				if (req.FreeSlots == 0 && free > 0 && !draining) || drained() {
					abandon()
				}
			}
		}
		cancel()
		var he *agentapi.HTTPError
		if res.err != nil && !abandoned && errors.As(res.err, &he) && he.Status == http.StatusUnauthorized {
			// The server no longer takes the credential (it forgot the
			// agent, or revoked its token): register again with the
			// token, which fails if the token was revoked.
			a.log.Warn("the server refused the agent's credential; registering again", logAgent, a.id, logErr, res.err)
			a.credential = ""
			a.client.SetCredential("")
			res = pollResult{resp: &agentapi.PollResponse{Reregister: true}}
		}
		if res.err != nil {
			if abandoned || a.life.Err() != nil {
				continue
			}
			if !agentapi.IsRetryable(res.err) {
				if _, running := a.snapshot(); len(running) == 0 {
					return fmt.Errorf("poll %s: %w", a.cfg.ServerURL, res.err)
				}
			}
			d := b.next()
			if a.lostAfter > 0 {
				d = min(d, a.lostAfter/3) // poll often enough not to be declared lost
			}
			a.log.Warn("poll failed; retrying", logAgent, a.id, logErr, res.err, "retry_in", d)
			if !pause(d) {
				return nil
			}
			continue
		}
		b.reset()
		a.handle(res.resp)
		if res.resp.Reregister {
			a.log.Info("the server asked the agent to register again", logAgent, a.id)
			if err := a.register(a.life); err != nil {
				if a.life.Err() != nil {
					return nil
				}
				if he := (*agentapi.HTTPError)(nil); errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
					// The token was revoked (or the agent is not allowed):
					// the server has failed its jobs; nothing they do
					// would be accepted, so they stop now.
					a.log.Error("the server refused the agent's token: stopping its jobs", logAgent, a.id, logErr, err)
					a.stopAll(ci.StopCause{Reason: ci.ReasonAgentLost})
					return err
				}
				if _, running := a.snapshot(); len(running) == 0 && !agentapi.IsRetryable(err) {
					return err
				}
				a.log.Error("register again failed", logErr, err)
			}
		}
	}
}

// pollDeadline bounds one poll: the server holds it at most its poll
// timeout, so a poll that takes much longer is a dead connection.
func (a *agent) pollDeadline() time.Duration {
	if a.pollTimeout <= 0 {
		return 2 * time.Minute
	}
	return a.pollTimeout + max(10*time.Second, a.pollTimeout/2)
}

// snapshot returns the free slots and the IDs of the jobs the agent holds.
func (a *agent) snapshot() (free int, running []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.jobs {
		running = append(running, id)
	}
	slices.Sort(running)
	return max(a.cfg.Slots-a.busy, 0), running
}

// notify wakes the poll loop.
func (a *agent) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// handle carries out a poll response's cancellations and assignments.
func (a *agent) handle(resp *agentapi.PollResponse) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range resp.Cancel {
		if j := a.jobs[c.JobID]; j != nil {
			if !j.stopRequested {
				j.stopRequested = true
				a.log.Info("stopping job", logJob, c.JobID, "reason", c.Reason)
				j.cancel(ci.StopCause{Reason: c.Reason})
			}
		}
	}
	for _, as := range resp.Assign {
		if as.JobID == "" {
			a.log.Error("ignoring an assignment without a job ID")
			continue
		}
		if a.jobs[as.JobID] != nil {
			continue // a repeated assignment
		}
		if a.busy >= a.cfg.Slots {
			a.log.Warn("the server assigned more jobs than free slots", logJob, as.JobID)
		}
		jctx, cancel := context.WithCancelCause(a.hard)
		j := &job{id: as.JobID, cancel: cancel, ctx: jctx, debug: debugState{idle: make(chan struct{}, 1)}}
		a.jobs[as.JobID] = j
		a.busy++
		a.wg.Go(func() { a.runJob(jctx, j, as) })
	}
	for _, st := range resp.Streams {
		a.wg.Go(func() { a.serveStream(st) })
	}
}

// stopAll stops every running job.
func (a *agent) stopAll(cause ci.StopCause) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, j := range a.jobs {
		if !j.stopRequested {
			j.stopRequested = true
			j.cancel(cause)
		}
	}
}

// backoff returns a fresh retry schedule.
func (a *agent) backoff() *backoff {
	return &backoff{min: a.cfg.RetryMin, max: a.cfg.RetryMax}
}

// backoff is a jittered exponential retry delay.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay: it doubles each time up to max, and is
// drawn at random from its upper half.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx is done; it reports whether it slept.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jobServiceParent is where the agent keeps its jobs' service sockets:
// /dev/shm when there is one (in memory: each job's socket directory and
// socket cost a mkdir and a bind, a few µs there, up to a few hundred on
// a disk file system), else the temporary directory, or /tmp when that
// one is too long for a unix socket's path (108 bytes on Linux) once the
// agent's and the job's directories are added.
func jobServiceParent() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	const room = 64 // "/baton-jobsvc-<hash>/baton-jobsvc-<random>/s", with a margin
	if dir := os.TempDir(); len(dir)+room <= 108 {
		return dir
	}
	return "/tmp"
}
