package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/bytesize"
)

// agentExecutor builds an agent's executor (agent.NewExecutor) from the
// flags --executor (shell, docker or auto), --image-budget and
// --registry-mirror.
func agentExecutor(ctx context.Context, mode, budget, mirror string, opts agent.ExecutorOptions) (agent.Executor, error) {
	switch m := agent.ExecutorMode(mode); m {
	case agent.ShellOnly, agent.DockerRequired, agent.DockerIfAvailable:
		opts.Mode = m
	default:
		return agent.Executor{}, fmt.Errorf("--executor %q: want shell, docker or auto", mode)
	}
	if opts.Mode == agent.ShellOnly {
		return agent.NewExecutor(ctx, opts)
	}
	if budget != "" {
		b, err := bytesize.Parse(budget)
		if err != nil {
			return agent.Executor{}, fmt.Errorf("--image-budget: %w", err)
		}
		opts.ImageBudget = b
	}
	host, err := mirrorHost(mirror)
	if err != nil {
		return agent.Executor{}, err
	}
	opts.Mirror = host
	ex, err := agent.NewExecutor(ctx, opts)
	var nd *agent.NoDockerError
	if errors.As(err, &nd) {
		return ex, fmt.Errorf("--executor docker: %w", nd.Err)
	}
	return ex, err
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
