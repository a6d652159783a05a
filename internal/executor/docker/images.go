package docker

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/batonci/baton/internal/executor"
)

// ensureImages makes every container's image present according to policy,
// logging one line per image.
func (e *Executor) ensureImages(ctx context.Context, containers []executor.Container, policy string, creds []executor.RegistryCredential, log io.Writer) error {
	var clientEnv []string // a private client configuration when logged in
	if len(creds) > 0 {
		dir, err := os.MkdirTemp(e.opts.TempDir, "baton-docker-config-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		clientEnv = append(os.Environ(), "DOCKER_CONFIG="+dir)
		for _, c := range creds {
			if err := e.login(ctx, clientEnv, c); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for _, c := range containers {
		if c.Image == "" {
			return fmt.Errorf("container %q has no image", c.Name)
		}
		if seen[c.Image] {
			continue
		}
		seen[c.Image] = true
		if policy != executor.PullAlways && e.present(ctx, c.Image) {
			fmt.Fprintf(log, "Image %s: cached\n", c.Image)
			continue
		}
		start := time.Now()
		via, err := e.pull(ctx, clientEnv, c.Image)
		if err != nil {
			return err
		}
		d := time.Since(start).Round(time.Millisecond)
		if via != "" {
			fmt.Fprintf(log, "Image %s: pulled through mirror %s in %v\n", c.Image, via, d)
		} else {
			fmt.Fprintf(log, "Image %s: pulled in %v\n", c.Image, d)
		}
	}
	return nil
}

// present reports whether image is in the daemon's store.
func (e *Executor) present(ctx context.Context, image string) bool {
	_, err := e.docker(ctx, nil, "image", "inspect", "--format", "{{.Id}}", image)
	return err == nil
}

// login logs the private client configuration in to a registry.
func (e *Executor) login(ctx context.Context, env []string, c executor.RegistryCredential) error {
	args := []string{"login", "--username", c.Username, "--password-stdin"}
	if c.Registry != "" && c.Registry != "docker.io" {
		args = append(args, c.Registry)
	}
	cmd := exec.CommandContext(ctx, e.opts.Docker, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(c.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		reg := c.Registry
		if reg == "" {
			reg = "docker.io"
		}
		return fmt.Errorf("log in to registry %s as %s: %s", reg, c.Username, firstLine(string(out), err))
	}
	return nil
}

// pull pulls image, through the mirror for Docker Hub images when one is
// set (then tagged with its own name). It returns the mirror used.
func (e *Executor) pull(ctx context.Context, env []string, image string) (mirror string, err error) {
	if m := e.opts.Mirror; m != "" {
		if ref, ok := mirrorRef(m, image); ok {
			if _, err := e.docker(ctx, env, "pull", "--quiet", ref); err != nil {
				return "", fmt.Errorf("pull image %s through mirror %s: %w", image, m, pullError(err))
			}
			if _, err := e.docker(ctx, nil, "tag", ref, image); err != nil {
				return "", fmt.Errorf("tag image %s: %w", ref, err)
			}
			// The mirror's name is an alias; keep only the image's own.
			_, _ = e.docker(ctx, nil, "rmi", "--no-prune", ref)
			return m, nil
		}
	}
	if _, err := e.docker(ctx, env, "pull", "--quiet", image); err != nil {
		return "", fmt.Errorf("pull image %s: %w", image, pullError(err))
	}
	return "", nil
}

// pullError makes a pull failure's message say what happened.
func pullError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "manifest unknown"), strings.Contains(msg, "not found"),
		strings.Contains(msg, "repository does not exist"), strings.Contains(msg, "pull access denied"):
		return fmt.Errorf("image not found in the registry (or no access to it): %w", err)
	case strings.Contains(msg, "unauthorized"), strings.Contains(msg, "authentication required"):
		return fmt.Errorf("the registry refused the credentials: %w", err)
	}
	return err
}

// firstLine returns the first non-empty line of out, or err's text.
func firstLine(out string, err error) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return err.Error()
}

// mirrorRef rewrites a Docker Hub image reference to the mirror's
// (debian:12 → MIRROR/library/debian:12). It reports false for images of
// other registries, which are pulled from where they are.
func mirrorRef(mirror, image string) (string, bool) {
	name := image
	first, rest, hasSlash := strings.Cut(image, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		if first != "docker.io" && first != "index.docker.io" && first != "registry-1.docker.io" {
			return "", false
		}
		name = rest
	}
	if !strings.Contains(name, "/") {
		name = "library/" + name
	}
	return strings.TrimSuffix(mirror, "/") + "/" + name, true
}
