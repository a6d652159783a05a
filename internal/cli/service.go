package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/server"
	"github.com/batonci/baton/internal/store"
)

// logger returns the service's application logger: text on stderr, at
// warning level unless BATON_LOG_LEVEL says otherwise.
// imageRefreshEvery is how often a Docker agent reads the list of images
// its daemon holds, besides at start and after each job.
const imageRefreshEvery = 5 * time.Minute

func logger(o *IO) *slog.Logger {
	level := slog.LevelWarn
	switch o.Getenv("BATON_LOG_LEVEL") {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(o.Err, &slog.HandlerOptions{Level: level}))
}

func upCommand() *command {
	c := &command{
		name:    "up",
		summary: "start Baton on this machine: server, web UI and a built-in agent",
		usage:   "[--data DIR] [--addr HOST:PORT] [--slots N] [--tool-budget SIZE] [--tool-source NAME=URL] [--storage URL [--storage-credentials FILE]] [--job-user NAME] [--work-dir DIR] [--public-url URL] [--trusted-proxy CIDR]",
		help: `Starts the whole CI service in one process, with everything stored under the
data directory (embedded SQLite, logs, repository cache). The first start
creates the admin user and an API token, written to DIR/admin-token
(mode 0600), and points this CLI at the server. Restarting with the same
directory keeps everything.

The built-in agent runs jobs with the shell executor; its type is
the one pipelines name in agent.machine.type, by default "e1-standard-2"
and every other type can be served by separate agents ('baton agent').

Only Baton's user may read the data directory (mode 0700, files 0600).
Run as root, Baton runs each job as an unprivileged user (baton-job-1..N,
one per slot, made with useradd if missing; or --job-user NAME), in a
work directory outside the data directory (--work-dir, by default
/var/lib/baton/work/<hash of DIR>): a job cannot read the database, the
keys and tokens, or other jobs' files, nor signal Baton. Not run as root,
jobs run as Baton's user, with its rights (said at start).

Stopping: the first Ctrl-C (or SIGTERM) takes no more jobs and waits for
the running ones to finish, saying how many; a second one stops them and
exits; a third exits at once.`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		data := fs.String("data", "./baton-data", "data `DIR`")
		addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
		slots := fs.Int("slots", 2, "jobs the built-in agent runs at once")
		agentType := fs.String("agent-type", "e1-standard-2", "machine `type` the built-in agent serves")
		storage := addStorageFlags(fs, o)
		jobUser := fs.String("job-user", "", "run jobs as this unprivileged `user` (as root; default baton-job-1..N)")
		workDir := fs.String("work-dir", "", "`DIR` of the jobs' directories (as root, default /var/lib/baton/work/<hash of the data dir>)")
		cacheLocal := addCacheLocalBudgetFlag(fs)
		toolOpts := addToolFlags(fs)
		edge := addEdgeFlags(fs)
		if _, code, stop := parse(fs, args); stop {
			return code
		}
		var cfg server.Config
		if err := edge.apply(&cfg); err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitUsage
		}
		dir, err := filepath.Abs(*data)
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitUsage
		}
		blobs, err := storage.config(o, dir)
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitUsage
		}
		users, work, err := jobIsolation(o, "up", *jobUser, *slots, *workDir, dir)
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitUsage
		}
		localBudget, err := cacheLocal.bytes()
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitUsage
		}
		agentDir := filepath.Join(dir, "agent")
		tools, err := toolOpts.provider(ctx, o, cmp.Or(work, agentDir), agentDir)
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitUsage
		}
		log := logger(o)
		cfg.DataDir, cfg.Addr, cfg.Logger, cfg.SecretKey, cfg.Storage = dir, *addr, log, o.Getenv("BATON_SECRET_KEY"), blobs
		srv, err := server.New(ctx, cfg)
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitFailure
		}
		creds, err := srv.Bootstrap(ctx)
		if err != nil {
			fmt.Fprintf(o.Err, "baton up: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintf(o.Out, "Baton is running at %s\n", srv.URL())
		if creds.First {
			fmt.Fprintf(o.Out, "Sign in as %q with password %s (shown once).\n", creds.Login, creds.Password)
			fmt.Fprintf(o.Out, "API token written to %s\n", filepath.Join(dir, "admin-token"))
			if cfg := loadClientConfig(o); cfg.Server == "" {
				if err := saveClientConfig(o, clientConfig{Server: srv.URL(), Token: creds.APIToken}); err == nil {
					fmt.Fprintf(o.Out, "This CLI now talks to it: try 'baton project create NAME --repo URL'.\n")
				}
			} else if strings.TrimRight(cfg.Server, "/") != srv.URL() {
				fmt.Fprintf(o.Out, "This CLI still talks to %s (%s); to use this server: baton login %s --token \"$(cat %s)\"\n",
					cfg.Server, cfg.from, srv.URL(), filepath.Join(dir, "admin-token"))
			}
		} else {
			fmt.Fprintf(o.Out, "Data in %s; the API token is in %s\n", dir, filepath.Join(dir, "admin-token"))
		}
		context.AfterFunc(ctx, func() { sayDraining(o, srv.URL(), filepath.Join(dir, "admin-token"), "built-in") })
		return runServerAndAgent(ctx, o, srv, agent.Config{
			ServerURL: srv.URL(), Token: creds.AgentToken, Name: "built-in", Type: *agentType,
			Slots: *slots, DataDir: agentDir, WorkDir: work, JobUsers: users, Logger: log, Supervise: true,
			CacheLocalBudget: localBudget, Tools: tools,
		})
	}
	return c
}

// sayDraining tells the terminal, at the first Ctrl-C or SIGTERM, that the
// agent named agentName waits for its running jobs and that a second one
// stops them. It asks the server (still serving while the agent drains)
// with the admin's token; without an answer it says so without a count.
func sayDraining(o *IO, serverURL, tokenFile, agentName string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := -1
	if tok, err := os.ReadFile(tokenFile); err == nil {
		c := clientFor(serverURL, strings.TrimSpace(string(tok)), "this server")
		var view apiv1.AgentsView
		if c.do(ctx, "GET", "/api/v1/agents", nil, &view) == nil && view.Agents != nil {
			n = 0
			for _, a := range view.Agents {
				if a.Name == agentName {
					n += len(a.Running)
				}
			}
		}
	}
	switch {
	case n == 0:
		fmt.Fprintln(o.Err, "Stopping: no job is running.")
	case n == 1:
		fmt.Fprintln(o.Err, "Stopping: waiting for 1 running job; press Ctrl-C again to stop it.")
	case n > 1:
		fmt.Fprintf(o.Err, "Stopping: waiting for %d running jobs; press Ctrl-C again to stop them.\n", n)
	default:
		fmt.Fprintln(o.Err, "Stopping: waiting for the running jobs; press Ctrl-C again to stop them.")
	}
}

// runServerAndAgent runs a server and, if cfg names one, an agent beside
// it, until ctx ends.
func runServerAndAgent(ctx context.Context, o *IO, srv *server.Server, cfg agent.Config) int {
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	var wg sync.WaitGroup
	var srvErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		srvErr = srv.Run(srvCtx)
	}()
	code := ExitOK
	if cfg.ServerURL != "" {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(o.Err, "baton: %v\n", err)
			return ExitFailure
		}
		cfg.BatonPath = self
		cfg.Stop = o.Stop
		if err := agent.Run(ctx, cfg); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(o.Err, "baton: agent: %v\n", err)
			code = ExitFailure
		}
	} else {
		<-ctx.Done()
	}
	// The agent has drained; now stop the server.
	stopSrv()
	wg.Wait()
	if srvErr != nil {
		fmt.Fprintf(o.Err, "baton: server: %v\n", srvErr)
		return ExitFailure
	}
	return code
}

func serverCommand() *command {
	c := &command{
		name:    "server",
		summary: "run the CI server (no agent)",
		usage:   "[--db sqlite:PATH|postgres://...] [--db-max-conns N] [--gc-percent N] [--data DIR] [--addr HOST:PORT] [--url URL] [--storage URL [--storage-credentials FILE]] [--public-url URL] [--trusted-proxy CIDR]",
		help: `Runs the server: API, web UI, triggers and the agent endpoint. Several servers
can share one PostgreSQL database and one object storage (--storage
s3://BUCKET/PREFIX?endpoint=URL; the default, DIR/blobs, needs a shared data
directory): jobs are never dispatched twice and every server serves every
log. The storage is checked at start. The first server to start on an empty
database creates the admin user and prints its credentials and an agent
token; agents connect with 'baton agent --server URL --token TOKEN'.`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		db := fs.String("db", "", "database: sqlite:PATH (default under --data) or a postgres:// URL")
		maxConns := fs.Int("db-max-conns", store.DefaultMaxConns, "at most `N` connections to PostgreSQL (one more listens for notifications, one more records that agents are alive), however many agents poll")
		data := fs.String("data", "./baton-data", "data `DIR` for logs and the repository cache")
		addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
		url := fs.String("url", "", "public `URL` of this server, if not http://ADDR")
		sweepEvery := fs.Duration("artifact-sweep-every", server.DefaultArtifactSweepEvery, "apply the projects' artifact retention policies this often (`DURATION`; once per period across the servers)")
		gcPercent := fs.Int("gc-percent", 0, "collect garbage when the heap has grown by `PERCENT` of what was live after the last collection (default: the GOGC environment variable if set, else 50)")
		storage := addStorageFlags(fs, o)
		edge := addEdgeFlags(fs)
		if _, code, stop := parse(fs, args); stop {
			return code
		}
		if *gcPercent < 0 {
			fmt.Fprintf(o.Err, "baton server: --gc-percent must be positive\n")
			return ExitUsage
		}
		setGCPercent(*gcPercent, o.Getenv("GOGC"))
		dir, err := filepath.Abs(*data)
		if err != nil {
			fmt.Fprintf(o.Err, "baton server: %v\n", err)
			return ExitUsage
		}
		blobs, err := storage.config(o, dir)
		if err != nil {
			fmt.Fprintf(o.Err, "baton server: %v\n", err)
			return ExitUsage
		}
		dsn := *db
		if dsn == "" {
			dsn = o.Getenv("BATON_DB")
		}
		if *maxConns < 1 {
			fmt.Fprintf(o.Err, "baton server: --db-max-conns must be at least 1\n")
			return ExitUsage
		}
		cfg := server.Config{DataDir: dir, DB: dsn, DBMaxConns: *maxConns, Addr: *addr, BaseURL: *url, Logger: logger(o), SecretKey: o.Getenv("BATON_SECRET_KEY"), Storage: blobs, ArtifactSweepEvery: *sweepEvery}
		if err := edge.apply(&cfg); err != nil {
			fmt.Fprintf(o.Err, "baton server: %v\n", err)
			return ExitUsage
		}
		srv, err := server.New(ctx, cfg)
		if err != nil {
			fmt.Fprintf(o.Err, "baton server: %v\n", err)
			return ExitFailure
		}
		creds, err := srv.Bootstrap(ctx)
		if err != nil {
			fmt.Fprintf(o.Err, "baton server: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintf(o.Out, "Baton server listening at %s\n", srv.URL())
		if creds.First {
			fmt.Fprintf(o.Out, "Admin %q, password %s (shown once); API token in %s\n", creds.Login, creds.Password, filepath.Join(dir, "admin-token"))
		}
		fmt.Fprintf(o.Out, "Agents connect with: baton agent --server %s --token %s\n", srv.URL(), creds.AgentToken)
		return runServerAndAgent(ctx, o, srv, agent.Config{})
	}
	return c
}

// DefaultGCPercent is the server's garbage collection target (GOGC)
// unless --gc-percent or GOGC says otherwise. Idle, a server holding a
// thousand agents' polls has a live heap of about 13 MiB, which Go's
// default of 100 lets grow to twice that before collecting: at 50 the
// two servers of the thousand-agent benchmark held 17 MiB less (RSS
// 111 against 128 MiB) for no measurable CPU when idle (BENCHMARKS.md,
// "A thousand agents").
const DefaultGCPercent = 50

// setGCPercent applies --gc-percent if given (> 0), else leaves a GOGC
// from the environment, which the runtime already applied, else sets
// DefaultGCPercent.
func setGCPercent(flag int, gogcEnv string) {
	switch {
	case flag > 0:
		debug.SetGCPercent(flag)
	case gogcEnv == "":
		debug.SetGCPercent(DefaultGCPercent)
	}
}

func agentRunCommand() *command {
	c := &command{
		name:    "agent",
		summary: "run an agent that takes jobs from a server",
		usage:   "--server URL --token TOKEN [--type NAME] [--slots N] [--name NAME] [--data DIR] [--job-user NAME] [--work-dir DIR]",
		help: `Connects to a Baton server and runs the jobs whose agent.machine.type is this
agent's type, up to --slots at once: in a bash session on this machine, or in
containers with Docker for jobs that declare agent.containers (--executor). A
Docker agent keeps the images its jobs used within --image-budget, pulls
Docker Hub images through --registry-mirror when set, and reports the images
it holds to the server. The agent only makes outgoing connections, so it works
behind NAT.

Run as root, the agent runs each shell job as an unprivileged user
(baton-job-1..N, one per slot, made with useradd if missing; or --job-user
NAME) in a work directory outside its data directory (--work-dir), which
only the agent's user may read. Not run as root, jobs run as the agent's
user, with its rights (said at start). Jobs never see the agent's token
or its environment beyond PATH, locale, time zone, terminal and proxies.

SIGINT or SIGTERM drains: no new jobs, running ones finish, then it exits.
A second signal stops the running jobs.

'baton agent list' lists the agents connected to the server.`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		srvURL := fs.String("server", o.Getenv("BATON_AGENT_SERVER"), "server `URL` (env BATON_AGENT_SERVER)")
		token := fs.String("token", o.Getenv("BATON_AGENT_TOKEN"), "agent `token` (env BATON_AGENT_TOKEN)")
		typ := fs.String("type", "e1-standard-2", "machine `type` this agent serves")
		slots := fs.Int("slots", 1, "jobs run at once")
		host, _ := os.Hostname()
		name := fs.String("name", host, "agent `name`")
		data := fs.String("data", "./baton-agent", "working `DIR` (repository cache, job workspaces)")
		execMode := fs.String("executor", "auto", "`shell`, docker or auto: run jobs that declare containers with Docker (auto: when the daemon answers)")
		budget := fs.String("image-budget", "", "keep the images this agent's jobs used within `SIZE` (such as 10GB), removing the least recently used; default no limit")
		mirror := fs.String("registry-mirror", "", "pull Docker Hub images through this registry `URL` (a pull-through cache)")
		jobUser := fs.String("job-user", "", "run shell jobs as this unprivileged `user` (as root; default baton-job-1..N)")
		workDir := fs.String("work-dir", "", "`DIR` of the jobs' directories (as root, default /var/lib/baton/work/<hash of the data dir>)")
		cacheLocal := addCacheLocalBudgetFlag(fs)
		toolOpts := addToolFlags(fs)
		rest, code, stop := parse(fs, args)
		if stop {
			return code
		}
		if len(rest) > 0 {
			fmt.Fprintf(o.Err, "baton agent: unexpected argument %q (did you mean 'baton agent list'?)\n", rest[0])
			return ExitUsage
		}
		dir, _ := filepath.Abs(*data)
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitFailure
		}
		users, work, err := jobIsolation(o, "agent", *jobUser, *slots, *workDir, dir)
		if err != nil {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitUsage
		}
		localBudget, err := cacheLocal.bytes()
		if err != nil {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitUsage
		}
		cfg := agent.Config{ServerURL: *srvURL, Token: *token, Name: *name, Type: *typ, Slots: *slots, DataDir: dir, WorkDir: work, JobUsers: users, BatonPath: self, Logger: logger(o), Stop: o.Stop,
			CacheLocalBudget: localBudget}
		if cfg.Tools, err = toolOpts.provider(ctx, o, cmp.Or(work, dir), dir); err != nil {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitUsage
		}
		ex, err := agentExecutor(ctx, *execMode, *budget, *mirror, agent.ExecutorOptions{Name: *name, DataDir: dir, BatonPath: self, Slots: *slots, Logger: cfg.Logger})
		if err != nil {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitUsage
		}
		cfg.Executor, cfg.Executors = ex.Executor, ex.Executors
		cfg.Services, cfg.NoServices = ex.Services, ex.NoServices
		if ex.Images != nil {
			images := ex.Images
			cfg.Images = images.Images
			cfg.ImagePruning = func() *ci.ImagePruning {
				p := images.Pruning()
				if p.Removed == 0 {
					return nil
				}
				return &ci.ImagePruning{Removed: p.Removed, Bytes: p.Bytes, LastAt: p.LastAt, Last: p.Last}
			}
			images.EnforceLater(ctx)
			defer images.Wait()
			// Images removed by hand leave the reported list between jobs.
			refreshCtx, stopRefresh := context.WithCancel(ctx)
			refreshed := make(chan struct{})
			go func() { images.RefreshEvery(refreshCtx, imageRefreshEvery); close(refreshed) }()
			defer func() { stopRefresh(); <-refreshed }()
		}
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitUsage
		}
		fmt.Fprintf(o.Err, "agent %q (type %s, %d slot(s)) connecting to %s\n", *name, *typ, *slots, *srvURL)
		if err := agent.Run(ctx, cfg); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(o.Err, "baton agent: %v\n", err)
			return ExitFailure
		}
		return ExitOK
	}
	return c
}
