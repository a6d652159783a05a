// Package server is the composition root of the CI service: it opens the
// store, the log store and the repository cache, builds the engine, the
// agent dispatcher, the triggers, the API and the web pages, and serves
// them on one HTTP listener.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/artifact"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/coveragereports"
	"github.com/batonci/baton/internal/dispatch"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/hosts"
	"github.com/batonci/baton/internal/forge/status"
	"github.com/batonci/baton/internal/httpedge"
	"github.com/batonci/baton/internal/idlemem"
	"github.com/batonci/baton/internal/library"
	"github.com/batonci/baton/internal/logshare"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/privdir"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/schedule"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testresults"
	"github.com/batonci/baton/internal/trigger"
	"github.com/batonci/baton/internal/web"
)

// Config configures a server.
type Config struct {
	// DataDir holds logs, the repository cache and, by default, the SQLite
	// database.
	DataDir string
	// DB is "sqlite:PATH" or a postgres:// URL; default sqlite under DataDir.
	DB string
	// DBMaxConns caps the server's PostgreSQL connections (default
	// store.DefaultMaxConns), however many agents poll it.
	DBMaxConns int
	// Addr is the listen address, e.g. "127.0.0.1:8080" or ":0".
	Addr string
	// BaseURL is the URL users and agents reach the server at; default
	// derived from the listener.
	BaseURL string
	// PollTimeout and LostAfter tune the agent protocol (defaults 25 s and
	// 15 s).
	PollTimeout time.Duration
	LostAfter   time.Duration
	// ArtifactSweepEvery is how often the projects' artifact retention
	// policies are applied, by one of the servers that share the database
	// (default DefaultArtifactSweepEvery).
	ArtifactSweepEvery time.Duration
	Logger             *slog.Logger
	// SecretKey is the key secrets are encrypted with (base64 of 32
	// bytes, BATON_SECRET_KEY); empty means DataDir/secret.key, created
	// on first start.
	SecretKey string
	// Storage chooses the object storage (see blob.Config); its zero
	// value is a local directory under DataDir/blobs.
	Storage blob.Config
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (--trusted-proxy); PublicURL is the URL browsers use (--public-url),
	// https:// making cookies Secure (see internal/httpedge).
	TrustedProxies []netip.Prefix
	PublicURL      string
	// NotificationBackoff and NotificationAttempts tune the retries of
	// notification deliveries (zero: the defaults of internal/notification).
	NotificationBackoff  time.Duration
	NotificationAttempts int
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("server: a data directory is required")
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DB == "" {
		c.DB = "sqlite:" + filepath.Join(c.DataDir, "baton.db")
	}
	if !strings.HasPrefix(c.DB, "sqlite:") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return fmt.Errorf("server: --db must be sqlite:PATH or postgres://..., got %q", c.DB)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is a running CI service.
type Server struct {
	cfg   Config
	Store *store.DB
	Logs  *logstore.Store
	// Blobs is the object storage, opened and checked at start.
	Blobs    blob.Backend
	Repos    *repocache.Cache
	Engine   *engine.Engine
	Dispatch *dispatch.Dispatcher
	Trigger  *trigger.Trigger
	// Statuses reports pipelines to forges as commit statuses.
	Statuses *status.Reporter
	// Artifacts are the jobs' artifacts in Blobs.
	Artifacts *artifact.Store
	// Schedules starts the projects' scheduled workflows.
	Schedules *schedule.Service
	// Notifications sends organisation notifications.
	Notifications *notification.Service
	// Tests keeps the jobs' and pipelines' test reports.
	Tests *testresults.Service
	// Libraries are the organisation's script libraries.
	Libraries *library.Service
	// Coverage keeps the jobs' and pipelines' code coverage.
	Coverage *coveragereports.Service
	listener net.Listener
	http     *http.Server
	url      string
	counters counters
	// metricsState is the Prometheus registry behind /metrics.
	metricsState serverMetrics
	// patterns are every route the server answers (see Routes).
	patterns []string
	api      *api.API
}

// counters are this server's own event counts, for /metrics.
type counters struct {
	dispatched    atomic.Int64
	dispatchNanos atomic.Int64
	agentsLost    atomic.Int64
	logBytes      atomic.Int64
}

// New opens everything and binds the listener; Run serves.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = cfg.BaseURL
	}
	edge, err := httpedge.New(httpedge.Config{TrustedProxies: cfg.TrustedProxies, PublicURL: publicURL})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if cfg.Storage.DataDir == "" {
		cfg.Storage.DataDir = cfg.DataDir
	}
	blobs, err := blob.Open(ctx, cfg.Storage)
	if err != nil {
		return nil, err // names the storage URL already
	}
	db, err := store.OpenWith(ctx, cfg.DB, store.Options{MaxConns: cfg.DBMaxConns})
	if err != nil {
		blobs.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Only Baton's user may read the data directory: the database (and
	// its -wal and -shm, which SQLite makes with the database's mode),
	// secret.key, the tokens, logs and caches. Existing directories made
	// before that rule are fixed here.
	if err := privdir.Restrict(cfg.DataDir); err != nil {
		db.Close()
		return nil, err
	}
	// Logs live in the database and the object storage; this server keeps
	// a private replica, so servers may share a data directory.
	logs, err := logstore.OpenReplica(filepath.Join(cfg.DataDir, "log-replicas"), logshare.New(db, blobs))
	if err != nil {
		db.Close()
		blobs.Close()
		return nil, fmt.Errorf("open log store: %w", err)
	}
	if n, err := importLegacyLogs(ctx, filepath.Join(cfg.DataDir, "logs"), logs); err != nil {
		logs.Close()
		db.Close()
		blobs.Close()
		return nil, err
	} else if n > 0 {
		cfg.Logger.Info("imported job logs from files into the shared logs", "logs", n)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		db.Close()
		blobs.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	url := cfg.BaseURL
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	s := &Server{cfg: cfg, Store: db, Logs: logs, Blobs: blobs, listener: ln, url: url}
	s.Repos = repocache.New(filepath.Join(cfg.DataDir, "repos"))
	secrets, err := openVault(ctx, cfg, db)
	if err != nil {
		ln.Close()
		db.Close()
		blobs.Close()
		return nil, fmt.Errorf("open secrets: %w", err)
	}
	s.Statuses = status.New(status.Config{BaseURL: url, Logger: cfg.Logger,
		Open: func(ctx context.Context, p *ci.Project) (forge.Forge, error) {
			token, err := secrets.ForgeToken(p)
			if err != nil {
				return nil, fmt.Errorf("open the forge token: %w", err)
			}
			return hosts.New(p.Forge, p.ForgeURL, token.Reveal(), nil)
		}})
	s.Notifications = notification.New(notification.Config{Store: db, Sealer: secrets, BaseURL: url, Logger: cfg.Logger,
		Backoff: cfg.NotificationBackoff, Attempts: cfg.NotificationAttempts})
	s.Tests = testresults.New(testresults.Config{Store: db, Blobs: blobs, Logger: cfg.Logger})
	s.Libraries = library.New(library.Config{Store: db, Sealer: secrets, Repos: repocache.New(filepath.Join(cfg.DataDir, "repos", "libraries")),
		Logger: cfg.Logger})
	s.Coverage = coveragereports.New(coveragereports.Config{Store: db, Blobs: blobs, Logger: cfg.Logger})
	s.Engine = engine.New(engine.Config{Store: db, Repos: s.Repos, Logs: logs, BaseURL: url, Logger: cfg.Logger, Secrets: secrets,
		Observer: observers{s.Statuses, s.Tests, s.Coverage}, Finisher: s.Notifications, Libraries: s.Libraries})
	s.Schedules = &schedule.Service{Store: db, Trigger: s.Engine.Trigger, Head: s.Engine.BranchHead, Logger: cfg.Logger}
	artifacts := artifact.New(blobs)
	s.Artifacts = artifacts
	s.Dispatch = dispatch.New(dispatch.Config{
		Store: db, Engine: s.Engine, Logs: logs, Blobs: blobs, URL: url, Artifacts: artifacts, Tests: s.Tests, Coverage: s.Coverage, Libraries: s.Libraries, PollTimeout: cfg.PollTimeout, LostAfter: cfg.LostAfter, Logger: cfg.Logger,
		Metrics: dispatch.Metrics{
			JobAssigned: func(_ string, queued time.Duration) {
				s.counters.dispatched.Add(1)
				s.counters.dispatchNanos.Add(int64(queued))
			},
			AgentLost: func(string) { s.counters.agentsLost.Add(1) },
			LogBytes:  func(n int) { s.counters.logBytes.Add(int64(n)) },
		},
	})
	mirrors := repocache.Projects{Cache: s.Repos}
	s.Trigger = trigger.New(trigger.Config{Store: db, Engine: s.Engine, Repos: mirrors, Merger: mirrors, Secrets: secrets, Logger: cfg.Logger})
	a := api.New(api.Config{Store: db, Engine: s.Engine, Logs: logs, Logger: cfg.Logger, Wake: s.Trigger.Wake, Secrets: secrets, Hooks: s.Trigger,
		Streams: s.Dispatch, Upgrade: dispatch.Upgrade, Artifacts: artifacts, Tests: s.Tests, Coverage: s.Coverage, Blobs: blobs, Notifications: s.Notifications, Schedules: s.Schedules,
		Libraries: s.Libraries})

	s.http = edge.Server(s.routes(a, web.New(web.Config{API: a, Sessions: a, Logger: cfg.Logger})))
	return s, nil
}

// URL is where the server can be reached.
func (s *Server) URL() string { return s.url }

// Run serves until ctx ends, then shuts down gracefully: open requests
// (including agents' long polls) get a moment to finish.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 10)
	schedules := func(ctx context.Context) error { s.Schedules.Run(ctx); return nil }
	// A quiet server (idle agents' polls held, no jobs) gives back the
	// memory its last busy spell left.
	trimIdle := func(ctx context.Context) error { idlemem.Run(ctx, idlemem.Config{}); return nil }
	for _, run := range []func(context.Context) error{s.Engine.Run, s.Dispatch.Run, s.Trigger.Run, s.Statuses.Run, s.Tests.Run, s.Coverage.Run, s.sweepArtifacts, schedules,
		s.Notifications.Run, trimIdle} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			cancel()
		}
	}()
	<-ctx.Done()
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	s.http.Shutdown(shutdown)
	wg.Wait()
	s.Logs.Close()
	s.Store.Close()
	s.Blobs.Close()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

var (
	_ engine.Observer = (*status.Reporter)(nil)
	_ engine.Finisher = (*notification.Service)(nil)
)

// observers tells each of its observers of a pipeline's change.
type observers []engine.Observer

func (os observers) PipelineChanged(ctx context.Context, p *ci.Pipeline, wf *ci.Workflow, proj *ci.Project) {
	for _, o := range os {
		o.PipelineChanged(ctx, p, wf, proj)
	}
}
