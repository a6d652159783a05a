package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/imagecache"
	"github.com/batonci/baton/internal/semservice"
)

// agentExecOptions are the agent flags that shape its executor.
type agentExecOptions struct {
	mode      string // shell, docker or auto
	agentName string
	dataDir   string
	batonPath string // the baton binary, the jobs' supervisor
	mirror    string // --registry-mirror
	budget    string // --image-budget
	logger    *slog.Logger
}

// agentExec is an agent's executor, what it reports it runs jobs with,
// and its image cache (nil without Docker).
type agentExec struct {
	executor  executor.Executor
	executors []string
	images    *imagecache.Cache
	// services runs sem-service's containers (nil without Docker), and
	// noServices says why there are none.
	services   func(jobID string, inContainers bool) agent.JobServices
	noServices string
}

// agentExecutor builds an agent's executor for --executor shell, docker or
// auto, and the executors it reports to the server. With docker (or auto
// when the daemon answers), jobs that declare containers run in them, and
// what a previous run of this agent left behind is removed first; the
// images its jobs use are kept within --image-budget, and Docker Hub
// images are pulled through --registry-mirror. docker fails when no
// daemon answers; auto then reports only the shell, and container jobs
// fail saying Docker is missing.
func agentExecutor(ctx context.Context, o agentExecOptions) (agentExec, error) {
	sw := executor.Switch{Host: shell.New(shell.Options{Supervisor: agent.JobSupervisor(o.batonPath, o.dataDir)})}
	switch o.mode {
	case "shell":
		return agentExec{executor: sw, executors: []string{"shell"}, noServices: "sem-service needs Docker, and this agent runs with --executor shell (use --executor auto or docker on a machine with Docker)"}, nil
	case "docker", "auto":
	default:
		return agentExec{}, fmt.Errorf("--executor %q: want shell, docker or auto", o.mode)
	}
	var budget int64
	if o.budget != "" {
		b, err := imagecache.ParseSize(o.budget)
		if err != nil {
			return agentExec{}, fmt.Errorf("--image-budget: %w", err)
		}
		budget = b
	}
	mirror, err := mirrorHost(o.mirror)
	if err != nil {
		return agentExec{}, err
	}
	d := docker.New(docker.Options{AgentID: agent.Identity(o.agentName, o.dataDir), Mirror: mirror, Supervisor: agent.JobSupervisor(o.batonPath, o.dataDir)})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := d.Available(cctx); err != nil {
		if o.mode == "docker" {
			return agentExec{}, fmt.Errorf("--executor docker: %w", err)
		}
		sw.ContainersErr = fmt.Errorf("this agent cannot run jobs in containers: %w", err)
		return agentExec{executor: sw, executors: []string{"shell"}, noServices: "sem-service needs Docker, and this agent has none: " + err.Error()}, nil
	}
	if err := d.Sweep(cctx); err != nil {
		return agentExec{}, fmt.Errorf("remove containers left by a previous run: %w", err)
	}
	cache, err := imagecache.New(imagecache.Options{Budget: budget, StateFile: filepath.Join(o.dataDir, "images.json"), Logger: o.logger})
	if err != nil {
		return agentExec{}, err
	}
	if err := cache.Refresh(cctx); err != nil {
		return agentExec{}, err
	}
	sw.Containers = cache.Executor(d)
	services := func(jobID string, inContainers bool) agent.JobServices {
		return &cachedServices{Services: d.Services(jobID, inContainers), cache: cache}
	}
	return agentExec{executor: sw, executors: []string{"shell", "docker"}, images: cache, services: services}, nil
}

// mirrorHost turns --registry-mirror (a URL or host[:port]) into the
// host[:port] image references are rewritten to.
func mirrorHost(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	h = strings.TrimSuffix(h, "/")
	if h == "" || strings.ContainsAny(h, "/ ") {
		return "", fmt.Errorf("--registry-mirror %q: want a registry URL such as http://mirror.local:5000 (no path)", s)
	}
	return h, nil
}

// cachedServices are a job's sem-service containers whose images the
// image cache counts as used and holds (never evicted) while they run.
type cachedServices struct {
	*docker.Services
	cache    *imagecache.Cache
	mu       sync.Mutex
	releases []func()
}

// Start implements jobsvc.ServiceRunner.
func (s *cachedServices) Start(ctx context.Context, spec semservice.Spec) error {
	release := s.cache.Hold([]string{spec.Image})
	if err := s.Services.Start(ctx, spec); err != nil {
		release()
		return err
	}
	s.cache.Used(spec.Image)
	s.mu.Lock()
	s.releases = append(s.releases, release)
	s.mu.Unlock()
	return nil
}

// Close removes the services and lets the cache evict their images.
func (s *cachedServices) Close() error {
	err := s.Services.Close()
	s.mu.Lock()
	for _, release := range s.releases {
		release()
	}
	s.releases = nil
	s.mu.Unlock()
	s.cache.EnforceLater(context.Background())
	return err
}
