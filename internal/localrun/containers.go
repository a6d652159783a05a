package localrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/batonci/baton/internal/containerjob"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/plan"
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
func (s *Session) containerJob(job *jobspec.Job, a plan.Agent) error {
	if len(a.Containers) == 0 {
		return nil
	}
	cs, creds, err := containerjob.Build(a, s.secrets.lookup)
	var nf *containerjob.NotFoundError
	if errors.As(err, &nf) {
		if nf.Container == "" {
			return fmt.Errorf("%v: provide it with --secret or --secrets-file", nf)
		}
		return fmt.Errorf("%v: provide it with --secret %s:VAR=VALUE or --secrets-file FILE", nf, nf.Secret)
	}
	if err != nil {
		return err
	}
	job.Containers, job.PullCredentials = cs, creds
	job.Mounts = []jobspec.Mount{{Path: s.runDir}}
	if socket := envValue(job.BaseEnv, jobsvc.SocketVar); socket != "" {
		job.Mounts = append(job.Mounts, jobspec.Mount{Path: filepath.Dir(socket)})
	}
	if s.binary != "" {
		job.Mounts = append(job.Mounts, jobspec.Mount{Path: s.binary, ReadOnly: true})
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
	job.Init = "export PATH=" + shellWord(s.binDir) + ":\"$PATH\"\n" + job.Init
	return nil
}

// envValue returns the value of key in env ("KEY=VALUE"), or "".
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// shellWord quotes s for bash.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
