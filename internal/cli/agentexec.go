package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/imagecache"
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
		return agentExec{executor: sw, executors: []string{"shell"}}, nil
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
		return agentExec{executor: sw, executors: []string{"shell"}}, nil
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
	return agentExec{executor: sw, executors: []string{"shell", "docker"}, images: cache}, nil
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
