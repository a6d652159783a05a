// Package testenv runs the whole Baton system in-process for tests: a
// server on a loopback port with a temporary data directory (SQLite, or
// PostgreSQL when asked), agents, real local git repositories, and a small
// API client. Environments are independent, so scenarios run in parallel.
package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/apiclient"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/server"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/batonci/baton/internal/toolbox"
	"github.com/batonci/baton/internal/toolsource"
)

// TB is the part of testing.TB that environments use, so test scripts can
// drive them too.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Options tune an environment.
type Options struct {
	// DB is the database DSN; empty means SQLite in the data directory.
	DB string
	// LostAfter is how long before a silent agent is lost (default 2 s).
	LostAfter time.Duration
	// DataDir reuses a data directory (server restarts).
	DataDir string
	// Addr is the listen address; default a free loopback port.
	Addr string
	// Logger receives the server's application logs; nil discards them.
	Logger *slog.Logger
	// Storage is the server's object storage; zero means DATA/blobs.
	Storage blob.Config
	// TrustedProxies and PublicURL are the server's --trusted-proxy and
	// --public-url.
	TrustedProxies []netip.Prefix
	PublicURL      string
	// NotificationBackoff and NotificationAttempts tune the retries of
	// notification deliveries (zero: the server's defaults).
	NotificationBackoff  time.Duration
	NotificationAttempts int
}

// Env is a running server.
type Env struct {
	Server     *server.Server
	URL        string
	Token      string // admin API token
	AgentToken string
	DataDir    string
	t          TB
	cancel     context.CancelFunc
	done       chan struct{}
}

// Start starts a server; it stops at the end of the test.
func Start(t TB, opts Options) *Env {
	t.Helper()
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	if opts.LostAfter == 0 {
		opts.LostAfter = 2 * time.Second
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{DataDir: dir, DB: opts.DB, Addr: opts.Addr, LostAfter: opts.LostAfter, PollTimeout: 5 * time.Second, Logger: opts.Logger, Storage: opts.Storage,
		TrustedProxies: opts.TrustedProxies, PublicURL: opts.PublicURL,
		NotificationBackoff: opts.NotificationBackoff, NotificationAttempts: opts.NotificationAttempts})
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	creds, err := srv.Bootstrap(ctx)
	if err != nil {
		cancel()
		t.Fatalf("bootstrap: %v", err)
	}
	tok := creds.APIToken
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(dir, "admin-token"))
		if err != nil {
			t.Fatalf("read admin token: %v", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	e := &Env{Server: srv, URL: srv.URL(), Token: tok, AgentToken: creds.AgentToken, DataDir: dir, t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		srv.Run(ctx)
	}()
	t.Cleanup(e.Stop)
	return e
}

// Attach returns an Env for a server that runs elsewhere (a baton
// process the test started), reached at url with the admin token. Its
// Stop does nothing.
func Attach(t TB, url, token, dataDir string) *Env {
	done := make(chan struct{})
	close(done)
	return &Env{URL: url, Token: token, DataDir: dataDir, t: t, cancel: func() {}, done: done}
}

// Stop stops the server and waits for it.
func (e *Env) Stop() {
	e.cancel()
	<-e.done
}

// Agent is an in-process agent.
type Agent struct {
	cancel context.CancelFunc
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	Err    error
	// DataDir is the agent's data directory.
	DataDir string
}

// AgentOptions tune an agent started with StartAgentWith.
type AgentOptions struct {
	// Executor runs the agent's jobs; nil means the shell executor.
	Executor executor.Executor
	// Executors is what the agent reports it runs jobs with; nil means
	// ["shell"].
	Executors []string
	// Images, when not nil, is what the agent reports it holds.
	Images func() []string
	// Services and NoServices are agent.Config's: sem-service's runner.
	Services   func(jobID string, inContainers bool) agent.JobServices
	NoServices string
	// Tools is agent.Config's: the agent's tool cache (agent.NewTools).
	Tools *toolsource.Provider
}

// StartAgent runs an in-process agent of the given type with slots; it
// drains and stops at the end of the test, or when Stop is called.
func (e *Env) StartAgent(t TB, name, typ string, slots int) *Agent {
	t.Helper()
	return e.StartAgentWith(t, name, typ, slots, AgentOptions{})
}

// StartAgentWith is StartAgent with an executor of the test's choosing
// (the docker executor, for example).
func (e *Env) StartAgentWith(t TB, name, typ string, slots int, o AgentOptions) *Agent {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{cancel: cancel, stop: make(chan struct{}), done: make(chan struct{}), DataDir: t.TempDir()}
	cfg := agent.Config{
		ServerURL: e.URL, Token: e.AgentToken, Name: name, Type: typ, Slots: slots,
		DataDir: a.DataDir, BatonPath: self, Env: os.Environ(), Stop: a.stop,
		Executor: o.Executor, Executors: o.Executors, Images: o.Images,
		Services: o.Services, NoServices: o.NoServices, Tools: o.Tools,
	}
	go func() {
		defer close(a.done)
		a.Err = agent.Run(ctx, cfg)
	}()
	t.Cleanup(a.Kill)
	return a
}

// Stop drains the agent (running jobs finish) and waits for it.
func (a *Agent) Stop() {
	a.cancel()
	<-a.done
}

// Kill stops the agent and its running jobs and waits for it.
func (a *Agent) Kill() {
	a.once.Do(func() { close(a.stop) })
	a.cancel()
	<-a.done
}

// Do calls the API with the admin token and decodes the answer into out;
// it fails the test on an error status unless want names it.
func (e *Env) Do(method, path string, body, out any, want ...int) int {
	e.t.Helper()
	return e.DoAs(e.Token, method, path, body, out, want...)
}

// Client is the shared API client with the admin token, for tests and
// benchmarks that call the API with the typed methods.
func (e *Env) Client() *apiclient.Client {
	return apiclient.New(e.URL, e.Token, http.DefaultClient)
}

// DoAs calls the API with a token ("" for anonymous).
func (e *Env) DoAs(token, method, path string, body, out any, want ...int) int {
	e.t.Helper()
	resp, err := e.Client().WithToken(token).Send(context.Background(), method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	ok := resp.StatusCode < 300
	if len(want) > 0 {
		ok = false
		for _, w := range want {
			ok = ok || w == resp.StatusCode
		}
	}
	if !ok {
		e.t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %T: %v\n%s", method, path, out, err, data)
		}
	}
	return resp.StatusCode
}

// Workflow is the API's workflow view.
type Workflow struct {
	ci.Workflow
	Project   string         `json:"project"`
	Pipelines []*ci.Pipeline `json:"pipelines"`
}

// WaitWorkflow waits until a workflow is done (or timeout) and returns it.
func (e *Env) WaitWorkflow(id string, timeout time.Duration) *Workflow {
	e.t.Helper()
	var w Workflow
	e.Eventually(timeout, func() bool {
		e.Do("GET", "/api/v1/workflows/"+id, nil, &w)
		return w.State == ci.StateDone
	}, "workflow %s done", id)
	return &w
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func (e *Env) Eventually(timeout time.Duration, cond func() bool, format string, args ...any) {
	e.t.Helper()
	probe.Eventually(e.t, timeout, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("waiting for: "+format, args...)
	})
}

// Jobs lists every job of a workflow view by "block/job" name.
func (w *Workflow) Jobs() map[string]*ci.Job {
	out := map[string]*ci.Job{}
	for _, p := range w.Pipelines {
		for _, b := range p.Blocks {
			for _, j := range b.Jobs {
				out[b.Name+"/"+j.Name] = j
			}
		}
	}
	return out
}

// Log returns a job's whole log as plain text.
func (e *Env) Log(jobID string) string {
	e.t.Helper()
	resp, err := e.Client().Send(context.Background(), http.MethodGet, "/api/v1/jobs/"+jobID+"/log?format=text", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Repo is a real git repository in a temporary directory.
type Repo struct {
	Dir string
	t   TB
	mu  sync.Mutex
}

// NewRepo creates a repository on branch main with the given files
// committed.
func NewRepo(t TB, files map[string]string) *Repo {
	t.Helper()
	r := &Repo{Dir: t.TempDir(), t: t}
	r.Git("init", "-q", "-b", "main")
	if len(files) > 0 {
		r.Commit("initial commit", files)
	}
	return r
}

// URL is the repository's clone URL.
func (r *Repo) URL() string { return "file://" + r.Dir }

// HTTPURL serves the repository read-only over git's smart HTTP protocol
// (git http-backend) on loopback until the test ends, and returns its
// clone URL: a remote URL, for what refuses local ones (a fork's clone URL
// in a webhook).
func (r *Repo) HTTPURL() string {
	r.t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		r.t.Fatal(err)
	}
	h := &cgi.Handler{Path: git, Args: []string{"http-backend"},
		Env:        []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Dir), "GIT_HTTP_EXPORT_ALL=1"},
		InheritEnv: []string{"PATH", "HOME"}}
	srv := httptest.NewServer(h)
	r.t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(r.Dir)
}

// HTTPURLWithToken is HTTPURL for a private repository: every request
// must carry HTTP basic authentication with password token (any user
// name), else 401 asks for it, as a forge does.
func (r *Repo) HTTPURLWithToken(token string) string {
	r.t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		r.t.Fatal(err)
	}
	h := &cgi.Handler{Path: git, Args: []string{"http-backend"},
		Env:        []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Dir), "GIT_HTTP_EXPORT_ALL=1"},
		InheritEnv: []string{"PATH", "HOME"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, pw, ok := req.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	}))
	r.t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(r.Dir)
}

// Git runs a git command in the repository and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (path → content; "" content deletes) and commits
// them with message; it returns the new commit's sha.
func (r *Repo) Commit(message string, files map[string]string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, content := range files {
		p := filepath.Join(r.Dir, name)
		if content == "" {
			os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", message)
	return r.Git("rev-parse", "HEAD")
}

// Main is the TestMain of packages whose tests run agents: jobs call
// toolbox commands, which agents install as links to the running binary
// (the test binary here), so when this binary is started under a toolbox
// name it must act as that command instead of running the tests again.
//
// Under the name "baton" the binary is the baton command itself, so tests
// can run real agent and server processes (see BatonBinary), and under
// the job supervisor's name (internal/reaper) it is the supervisor that
// such agents start jobs with.
func Main(m interface{ Run() int }) int {
	name := filepath.Base(os.Args[0])
	if name == reaper.Name {
		return reaper.Main(os.Args[1:], os.Stderr)
	}
	if slices.Contains(toolbox.Names(), name) {
		return toolbox.Main(context.Background(), name, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	}
	if name == "baton" {
		ctx, stop := cli.SignalContext(os.Exit)
		dir, _ := os.Getwd()
		return cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir, Stop: stop})
	}
	return m.Run()
}

// BatonBinary returns the path of a "baton" copy of the running test
// binary, which Main turns into the baton command. The copy is in a
// directory every user may enter, as an installed baton would be, so
// that jobs run as job users (by a baton running as root) can run the
// toolbox, which links to it.
func BatonBinary(t TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "baton-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "baton")
	if err := copyFile(self, p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
