package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
)

// agentExecutor builds an agent's executor for --executor shell, docker or
// auto, and the executors it reports to the server. With docker (or auto
// when the daemon answers), jobs that declare containers run in them, and
// what a previous run of this agent left behind is removed first. docker
// fails when no daemon answers; auto then reports only the shell, and
// container jobs fail saying Docker is missing.
func agentExecutor(ctx context.Context, mode, agentName string) (executor.Executor, []string, error) {
	sw := executor.Switch{Host: shell.New(shell.Options{})}
	switch mode {
	case "shell":
		return sw, []string{"shell"}, nil
	case "docker", "auto":
	default:
		return nil, nil, fmt.Errorf("--executor %q: want shell, docker or auto", mode)
	}
	d := docker.New(docker.Options{AgentID: agentName})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := d.Available(cctx); err != nil {
		if mode == "docker" {
			return nil, nil, fmt.Errorf("--executor docker: %w", err)
		}
		sw.ContainersErr = fmt.Errorf("this agent cannot run jobs in containers: %w", err)
		return sw, []string{"shell"}, nil
	}
	if err := d.Sweep(cctx); err != nil {
		return nil, nil, fmt.Errorf("remove containers left by a previous run: %w", err)
	}
	sw.Containers = d
	return sw, []string{"shell", "docker"}, nil
}
