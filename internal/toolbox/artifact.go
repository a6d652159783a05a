package toolbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

const artifactUsage = `artifact push job|workflow|project PATH [-d DESTINATION] [-f] [--expire-in DURATION]
       artifact pull job|workflow|project PATH [-d DESTINATION] [-f]
       artifact yank job|workflow|project PATH`

// runArtifact is Semaphore's artifact CLI against the directory
// BATON_ARTIFACT_DIR: jobs/<job id>, workflows/<workflow id> and
// projects/<project id> hold each scope's files. --expire-in is accepted
// and has no effect: local artifacts live until the run is deleted.
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

// artifactStore is one scope's directory in the artifact store.
type artifactStore struct {
	scope string // job, workflow, project
	dir   string
	tmp   string // for writes that appear at once
}

func artifactScope(c *call, scope string, fl flags) (*artifactStore, error) {
	root := c.getenv("BATON_ARTIFACT_DIR")
	if root == "" {
		return nil, errors.New("artifacts are not available: BATON_ARTIFACT_DIR is not set (artifact works in jobs that baton runs)")
	}
	var plural, idVar, id string
	switch scope {
	case "job":
		plural, idVar, id = "jobs", "SEMAPHORE_JOB_ID", fl["job-id"]
	case "workflow":
		plural, idVar, id = "workflows", "SEMAPHORE_WORKFLOW_ID", fl["workflow-id"]
	case "project":
		plural, idVar = "projects", "SEMAPHORE_PROJECT_ID"
	default:
		return nil, fmt.Errorf("unknown scope %q: want job, workflow or project", scope)
	}
	if id == "" {
		id = c.getenv(idVar)
	}
	if id == "" {
		return nil, fmt.Errorf("%s ID is not set: %s is empty", scope, idVar)
	}
	if strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return nil, fmt.Errorf("invalid %s ID %q", scope, id)
	}
	return &artifactStore{scope: scope, dir: filepath.Join(root, plural, id), tmp: filepath.Join(root, ".tmp")}, nil
}

// remote returns the store path of an artifact path, which is relative to
// the scope whether or not it starts with "/".
func (s *artifactStore) remote(p string) (string, error) {
	rel := path.Clean("/" + filepath.ToSlash(p))[1:]
	if rel == "" {
		return "", fmt.Errorf("invalid artifact path %q", p)
	}
	return filepath.Join(s.dir, filepath.FromSlash(rel)), nil
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
	if _, err := os.Lstat(remote); err == nil {
		if !fl.has("force") {
			c.errorf("'%s' already exists in the %s's artifacts; use --force to overwrite it", dest, s.scope)
			return 1
		}
	}
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		c.errorf("%v", err)
		return 1
	}
	staging, err := os.MkdirTemp(s.tmp, "push-")
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	defer removeAll(staging)
	staged := filepath.Join(staging, "x")
	if err := copyPath(c, local, staged); err != nil {
		c.errorf("cannot push %s: %v", src, err)
		return 1
	}
	if err := os.MkdirAll(filepath.Dir(remote), 0o755); err != nil {
		c.errorf("%v", err)
		return 1
	}
	if fl.has("force") {
		if err := removeAll(remote); err != nil {
			c.errorf("%v", err)
			return 1
		}
	}
	if err := os.Rename(staged, remote); err != nil {
		c.errorf("cannot push %s: %v", src, err)
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
	if _, err := os.Stat(remote); err != nil {
		c.errorf("Artifact not found: '%s' is not in the %s's artifacts", src, s.scope)
		return 1
	}
	dest := fl["destination"]
	if dest == "" {
		dest = filepath.Base(remote)
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
	if err := copyPath(c, remote, local); err != nil {
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
	if _, err := os.Lstat(remote); err != nil {
		c.errorf("Artifact not found: '%s' is not in the %s's artifacts", p, s.scope)
		return 1
	}
	if err := removeAll(remote); err != nil {
		c.errorf("%v", err)
		return 1
	}
	c.infof("Artifact '%s' deleted from current %s.", p, s.scope)
	return 0
}

// copyPath copies the file or directory src to the new path dst. Like an
// upload, it copies what symlinks to files point at; symlinks to
// directories inside a directory are left out (with a message), so a
// cycle cannot make it run forever.
func copyPath(c *call, src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return unwrapPathError(err)
	}
	if !fi.IsDir() {
		return copyRegular(src, dst, fi.Mode().Perm())
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		info, err := os.Stat(p) // follows symlinks
		switch {
		case err != nil:
			c.infof("skipping %s: %v", p, unwrapPathError(err))
			return nil
		case info.IsDir():
			c.infof("skipping %s: a symlink to a directory", p)
			return nil
		case !info.Mode().IsRegular():
			return nil
		}
		return copyRegular(p, target, info.Mode().Perm())
	})
}

func copyRegular(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o200)
	if err != nil {
		return err
	}
	_, werr := io.Copy(out, in)
	return errors.Join(werr, out.Close())
}

func unwrapPathError(err error) error {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}
