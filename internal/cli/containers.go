package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/runner"
)

// graphHasContainers reports whether a job of g declares agent.containers.
func graphHasContainers(g *plan.Graph) bool {
	blocks := g.Blocks
	if g.AfterPipeline != nil {
		blocks = append(append([]*plan.Block{}, blocks...), g.AfterPipeline)
	}
	for _, b := range blocks {
		for _, j := range b.Jobs {
			if len(j.Agent.Containers) > 0 {
				return true
			}
		}
	}
	return false
}

// localExecutor is the executor of `baton run`: the shell, and the docker
// executor for jobs that declare containers when Docker answers; when it
// does not, those jobs fail saying why.
func localExecutor(ctx context.Context, g *plan.Graph) executor.Executor {
	sw := executor.Switch{Host: shell.New(shell.Options{})}
	if !graphHasContainers(g) {
		return sw
	}
	d := docker.New(docker.Options{AgentID: "local-" + fmt.Sprint(os.Getpid())})
	if _, err := d.Available(ctx); err != nil {
		sw.ContainersErr = fmt.Errorf("this job runs in containers (agent.containers) but %v; install and start Docker", err)
		return sw
	}
	sw.Containers = d
	return sw
}

// containerJob fills in what a job with agent.containers needs: its
// containers (with their secrets' values), pull credentials from
// image_pull_secrets, the host paths to mount, and an environment that
// suits a container (the image's PATH, with the toolbox first).
func (lr *localRunner) containerJob(job *runner.Job, a plan.Agent) error {
	if len(a.Containers) == 0 {
		return nil
	}
	for _, c := range a.Containers {
		ec := executor.Container{Name: c.Name, Image: c.Image, Command: c.Command, Entrypoint: c.Entrypoint, User: c.User}
		for _, name := range c.Secrets {
			sec, ok := lr.secrets.byName[name]
			if !ok {
				return fmt.Errorf("secret %q of container %q not found: provide it with --secret %s:VAR=VALUE or --secrets-file FILE", name, c.Name, name)
			}
			for _, v := range sec.Env {
				ec.Env = append(ec.Env, v.Name+"="+v.Value)
			}
		}
		for _, v := range c.Env {
			ec.Env = append(ec.Env, v.Name+"="+v.Value)
		}
		job.Containers = append(job.Containers, ec)
	}
	for _, name := range a.ImagePullSecrets {
		sec, ok := lr.secrets.byName[name]
		if !ok {
			return fmt.Errorf("image pull secret %q not found: provide it with --secret or --secrets-file", name)
		}
		cred, err := pullCredential(name, sec.Env)
		if err != nil {
			return err
		}
		job.PullCredentials = append(job.PullCredentials, cred)
	}
	self, _ := os.Executable()
	job.Mounts = []executor.Mount{{Path: lr.runDir}, {Path: filepath.Dir(lr.cacheDir)}}
	if self != "" {
		job.Mounts = append(job.Mounts, executor.Mount{Path: self, ReadOnly: true})
	}
	// The host's environment means nothing in the image: keep Baton's own
	// variables, and put the toolbox in front of the image's PATH.
	var base []string
	for _, kv := range job.BaseEnv {
		if strings.HasPrefix(kv, "BATON_") {
			base = append(base, kv)
		}
	}
	job.BaseEnv = append(base, "HOME="+job.Dir)
	job.Init = "export PATH=" + shellWord(lr.binDir) + ":\"$PATH\"\n" + job.Init
	return nil
}

// pullCredential reads a Semaphore image pull secret (spec §1.3).
func pullCredential(name string, env []jobenv.Var) (executor.RegistryCredential, error) {
	get := func(k string) string {
		for _, v := range env {
			if v.Name == k {
				return v.Value
			}
		}
		return ""
	}
	switch t := get("DOCKER_CREDENTIAL_TYPE"); t {
	case "DockerHub":
		return executor.RegistryCredential{Username: get("DOCKERHUB_USERNAME"), Password: get("DOCKERHUB_PASSWORD")}, nil
	case "GenericDocker":
		return executor.RegistryCredential{Registry: get("DOCKER_URL"), Username: get("DOCKER_USERNAME"), Password: get("DOCKER_PASSWORD")}, nil
	default:
		return executor.RegistryCredential{}, fmt.Errorf("image pull secret %q: DOCKER_CREDENTIAL_TYPE %q is not supported (DockerHub or GenericDocker)", name, t)
	}
}

// shellWord quotes s for bash.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
