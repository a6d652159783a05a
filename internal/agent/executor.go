package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/imagecache"
	"github.com/batonci/baton/internal/semservice"
)

// ExecutorMode says whether an agent runs jobs that declare containers
// with Docker.
type ExecutorMode string

const (
	// ShellOnly runs every job with the shell executor; container jobs fail.
	ShellOnly ExecutorMode = "shell"
	// DockerRequired needs a Docker daemon that answers.
	DockerRequired ExecutorMode = "docker"
	// DockerIfAvailable uses Docker when the daemon answers.
	DockerIfAvailable ExecutorMode = "auto"
)

// ExecutorOptions shape an agent's executor.
type ExecutorOptions struct {
	Mode    ExecutorMode
	Name    string // the agent's name
	DataDir string
	// BatonPath is the baton binary, the jobs' supervisor.
	BatonPath string
	// Slots is how many jobs the agent runs at once: as many supervisors
	// of shell jobs are kept started ahead of their jobs.
	Slots int
	// Mirror is the registry host[:port] Docker Hub images are pulled
	// through; "" pulls them directly.
	Mirror string
	// ImageBudget keeps the images the jobs used within this many bytes;
	// 0 is no limit.
	ImageBudget int64
	Logger      *slog.Logger
}

// Executor is an agent's executor, what it reports it runs jobs with, its
// image cache (nil without Docker), and its sem-service containers.
type Executor struct {
	Executor  executor.Executor
	Executors []string
	Images    *imagecache.Cache
	// Services runs sem-service's containers (nil without Docker), and
	// NoServices says why there are none.
	Services   func(jobID string, inContainers bool) JobServices
	NoServices string
}

// NoDockerError is NewExecutor's answer when DockerRequired finds no
// daemon.
type NoDockerError struct{ Err error }

func (e *NoDockerError) Error() string { return e.Err.Error() }
func (e *NoDockerError) Unwrap() error { return e.Err }

// NewExecutor builds an agent's executor and the executors it reports to
// the server. With Docker (DockerRequired, or DockerIfAvailable when the
// daemon answers), jobs that declare containers run in them, and what a
// previous run of this agent left behind is removed first; the images its
// jobs use are kept within ImageBudget, and Docker Hub images are pulled
// through Mirror. DockerRequired fails with a *NoDockerError when no
// daemon answers; DockerIfAvailable then reports only the shell, and
// container jobs fail saying Docker is missing.
func NewExecutor(ctx context.Context, o ExecutorOptions) (Executor, error) {
	sw := executor.Switch{Host: shell.New(shell.Options{Supervisor: JobSupervisor(o.BatonPath, o.DataDir), Prestart: o.Slots})}
	switch o.Mode {
	case ShellOnly:
		return Executor{Executor: sw, Executors: []string{"shell"}, NoServices: "sem-service needs Docker, and this agent runs with --executor shell (use --executor auto or docker on a machine with Docker)"}, nil
	case DockerRequired, DockerIfAvailable:
	default:
		return Executor{}, fmt.Errorf("executor mode %q: want shell, docker or auto", o.Mode)
	}
	d := docker.New(docker.Options{AgentID: Identity(o.Name, o.DataDir), Mirror: o.Mirror, Supervisor: JobSupervisor(o.BatonPath, o.DataDir)})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := d.Available(cctx); err != nil {
		if o.Mode == DockerRequired {
			return Executor{}, &NoDockerError{err}
		}
		sw.ContainersErr = fmt.Errorf("this agent cannot run jobs in containers: %w", err)
		return Executor{Executor: sw, Executors: []string{"shell"}, NoServices: "sem-service needs Docker, and this agent has none: " + err.Error()}, nil
	}
	if err := d.Sweep(cctx); err != nil {
		return Executor{}, fmt.Errorf("remove containers left by a previous run: %w", err)
	}
	cache, err := imagecache.New(imagecache.Options{Budget: o.ImageBudget, StateFile: filepath.Join(o.DataDir, "images.json"), Logger: o.Logger})
	if err != nil {
		return Executor{}, err
	}
	if err := cache.Refresh(cctx); err != nil {
		return Executor{}, err
	}
	sw.Containers = cache.Executor(d)
	services := func(jobID string, inContainers bool) JobServices {
		return &cachedServices{Services: d.Services(jobID, inContainers), cache: cache}
	}
	return Executor{Executor: sw, Executors: []string{"shell", "docker"}, Images: cache, Services: services}, nil
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
