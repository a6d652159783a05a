package toolbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/batonci/baton/internal/jobsvc"
)

const artifactUsage = `artifact push job|workflow|project PATH [-d DESTINATION] [-f] [--expire-in DURATION]
       artifact pull job|workflow|project PATH [-d DESTINATION] [-f]
       artifact yank job|workflow|project PATH`

// runArtifact is Semaphore's artifact CLI against the project's artifact
// store, through the job service (BATON_JOBSVC), which keeps each job's,
// workflow's and the project's files apart and refuses project pushes
// and yanks from pull requests from forks. --job-id and --workflow-id
// pull another job's or workflow's artifacts of the same project.
// --expire-in is accepted and has no effect: local artifacts live until
// they are yanked.
func runArtifact(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{
		{long: "destination", short: "d", value: true},
		{long: "force", short: "f"},
		{long: "expire-in", short: "e", value: true},
		{long: "verbose", short: "v"},
		{long: "job-id", short: "j", value: true},
		{long: "workflow-id", short: "w", value: true},
	})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", artifactUsage)
		return 0
	}
	if err != nil {
		return c.usageError(artifactUsage, "%v", err)
	}
	if len(pos) != 3 {
		return c.usageError(artifactUsage, "want an operation, a scope and a path")
	}
	op, scope, p := pos[0], pos[1], pos[2]
	if op != "push" && op != "pull" && op != "yank" {
		return c.usageError(artifactUsage, "unknown operation %q", op)
	}
	store, err := artifactScope(c, scope, fl)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	switch op {
	case "push":
		return artifactPush(c, store, p, fl)
	case "pull":
		return artifactPull(c, store, p, fl)
	default:
		return artifactYank(c, store, p)
	}
}

// artifactStore is one scope of the artifact store.
type artifactStore struct {
	scope string // job, workflow, project
	id    string // another job's or workflow's, for pulls; "": the job's own
	svc   *jobsvc.Client
}

func artifactScope(c *call, scope string, fl flags) (*artifactStore, error) {
	svc, err := jobsvc.NewClient(c.getenv)
	if errors.Is(err, jobsvc.ErrUnavailable) {
		return nil, fmt.Errorf("artifacts are not available here: %v (artifact works in jobs that baton runs)", err)
	}
	if err != nil {
		return nil, err
	}
	s := &artifactStore{scope: scope, svc: svc}
	switch scope {
	case "job":
		s.id = fl["job-id"]
	case "workflow":
		s.id = fl["workflow-id"]
	case "project":
	default:
		return nil, fmt.Errorf("unknown scope %q: want job, workflow or project", scope)
	}
	if s.id == "." || s.id == ".." || strings.ContainsAny(s.id, `/\`) {
		return nil, fmt.Errorf("invalid %s ID %q", scope, s.id)
	}
	return s, nil
}

// remote returns the store path of an artifact path, which is relative to
// the scope whether or not it starts with "/".
func (s *artifactStore) remote(p string) (string, error) {
	return jobsvc.CleanArtifactPath(filepath.ToSlash(p))
}

func artifactPush(c *call, s *artifactStore, src string, fl flags) int {
	dest := fl["destination"]
	if dest == "" {
		dest = filepath.Base(filepath.Clean(src))
	}
	remote, err := s.remote(dest)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	local := c.abs(src)
	if _, err := os.Stat(local); err != nil {
		c.errorf("cannot push %s: %v", src, unwrapPathError(err))
		return 1
	}
	skip := func(p, why string) { c.infof("skipping %s: %s", p, why) }
	err = s.svc.ArtifactPush(c.ctx, s.scope, remote, fl.has("force"), func(w io.Writer) error {
		return jobsvc.WriteTree(c.ctx, w, local, skip)
	})
	switch {
	case jobsvc.IsStatus(err, http.StatusConflict):
		c.errorf("'%s' already exists in the %s's artifacts; use --force to overwrite it", dest, s.scope)
		return 1
	case err != nil:
		// Pushes are atomic: what failed left nothing behind.
		c.errorf("cannot push %s: %v (the push did not complete: nothing of it was stored)", src, err)
		return 1
	}
	c.infof("File '%s' pushed to '%s' for current %s.", src, dest, s.scope)
	return 0
}

func artifactPull(c *call, s *artifactStore, src string, fl flags) int {
	remote, err := s.remote(src)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	if ok, err := s.svc.ArtifactExists(c.ctx, s.scope, s.id, remote); err != nil {
		c.errorf("cannot pull %s: %v", src, err)
		return 1
	} else if !ok {
		c.errorf("Artifact not found: '%s' is not in the %s's artifacts", src, s.scope)
		return 1
	}
	dest := fl["destination"]
	if dest == "" {
		dest = path.Base(remote)
	}
	local := c.abs(dest)
	if _, err := os.Lstat(local); err == nil {
		if !fl.has("force") {
			c.errorf("'%s' already exists here; use --force to overwrite it", dest)
			return 1
		}
		if err := removeAll(local); err != nil {
			c.errorf("%v", err)
			return 1
		}
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		c.errorf("%v", err)
		return 1
	}
	rc, err := s.svc.ArtifactPull(c.ctx, s.scope, s.id, remote)
	if jobsvc.IsStatus(err, http.StatusNotFound) {
		c.errorf("Artifact not found: '%s' is not in the %s's artifacts", src, s.scope)
		return 1
	}
	if err == nil {
		err = jobsvc.ReadTree(c.ctx, rc, local)
		rc.Close()
	}
	if err != nil {
		c.errorf("cannot pull %s: %v", src, err)
		return 1
	}
	c.infof("Artifact '%s' pulled to '%s' from current %s.", src, dest, s.scope)
	return 0
}

func artifactYank(c *call, s *artifactStore, p string) int {
	remote, err := s.remote(p)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	err = s.svc.ArtifactYank(c.ctx, s.scope, remote)
	switch {
	case jobsvc.IsStatus(err, http.StatusNotFound):
		c.errorf("Artifact not found: '%s' is not in the %s's artifacts", p, s.scope)
		return 1
	case err != nil:
		c.errorf("cannot yank %s: %v", p, err)
		return 1
	}
	c.infof("Artifact '%s' deleted from current %s.", p, s.scope)
	return 0
}

func unwrapPathError(err error) error {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}
