package toolbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/jobsvc"
)

const checkoutUsage = "checkout [--use-cache]"

// runCheckout puts the job's copy of the working tree where
// SEMAPHORE_GIT_DIR says and prints that directory on stdout for the
// checkout shell function to cd into.
//
// Semaphore's checkout deletes $SEMAPHORE_GIT_DIR and clones into it. Here
// the runner has already made the copy at $BATON_WORKSPACE, so checkout
// moves it to $SEMAPHORE_GIT_DIR if that is elsewhere; the function then
// sets BATON_WORKSPACE to the new place, so a second checkout finds it.
// Like Semaphore's, it first deletes whatever is at $SEMAPHORE_GIT_DIR,
// but only inside the job's home directory; elsewhere it refuses to
// delete a non-empty directory.
func runCheckout(c *call, args []string) int {
	pos, _, err := parseFlags(args, []flagSpec{{long: "use-cache"}})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", checkoutUsage)
		return 0
	}
	if err != nil {
		return c.usageError(checkoutUsage, "%v", err)
	}
	if len(pos) > 0 {
		return c.usageError(checkoutUsage, "unexpected argument %q", pos[0])
	}
	// --use-cache speeds up cloning; there is nothing to clone here.

	ws := c.getenv("BATON_WORKSPACE")
	if ws == "" {
		c.errorf("no working copy for this job: BATON_WORKSPACE is not set. checkout works in jobs that baton runs; elsewhere, clone the repository yourself")
		return 1
	}
	if !filepath.IsAbs(ws) {
		c.errorf("BATON_WORKSPACE=%s is not an absolute path", ws)
		return 1
	}
	ws = filepath.Clean(ws)
	if ready := c.getenv("BATON_WORKSPACE_READY"); ready != "" {
		if err := askForWorkspace(c, ready); err != nil {
			c.errorf("%v", err)
			return 1
		}
		if err := waitReady(c.ctx, ready); err != nil {
			c.errorf("%v", err)
			return 1
		}
	}
	home := c.home()
	gitDir := c.getenv("SEMAPHORE_GIT_DIR")
	if gitDir == "" {
		gitDir = c.getenv("SEMAPHORE_GIT_REPO_NAME")
	}
	if gitDir == "" {
		gitDir = filepath.Base(ws)
	}
	target := gitDir
	if !filepath.IsAbs(target) {
		if home == "" {
			c.errorf("SEMAPHORE_GIT_DIR=%s is relative and the job has no home directory (BATON_JOB_HOME and HOME are not set)", gitDir)
			return 1
		}
		target = filepath.Join(home, target)
	}
	target = filepath.Clean(target)

	switch {
	case isDir(ws) && samePath(ws, target):
		// Already there.
	case isDir(ws):
		if err := moveWorkspace(ws, target, home); err != nil {
			c.errorf("cannot put the working copy at SEMAPHORE_GIT_DIR=%s: %v", gitDir, err)
			return 1
		}
	case isDir(filepath.Join(target, ".git")):
		// An earlier checkout moved it there.
	default:
		c.errorf("the job's working copy %s does not exist (BATON_WORKSPACE); was it moved or deleted?", ws)
		return 1
	}

	sha, branch := describeHead(c, target)
	if branch == "" {
		branch = "detached HEAD"
	} else {
		branch = "branch " + branch
	}
	c.infof("Using the working tree snapshot %s (%s) in %s", sha, branch, target)
	if c.getenv(checkoutFunctionVar) == "1" {
		fmt.Fprintln(c.stdout, target)
	} else {
		c.infof("run `cd %s`: as a separate program, checkout cannot change its caller's directory (the checkout shell function of a job's shell does)", target)
	}
	return 0
}

// moveWorkspace moves the working copy ws to target, first removing what
// is at target as Semaphore's checkout does, if that is safe.
func moveWorkspace(ws, target, home string) error {
	if within(target, ws) {
		return fmt.Errorf("it is inside the working copy %s", ws)
	}
	if fi, err := os.Lstat(target); err == nil {
		switch {
		case within(ws, target):
			return fmt.Errorf("it contains the working copy %s", ws)
		case home != "" && (samePath(target, home) || within(home, target)):
			return fmt.Errorf("it is the job's home directory or contains it")
		case home != "" && within(target, home):
			if err := removeAll(target); err != nil {
				return err
			}
		case fi.IsDir() && isEmptyDir(target):
			if err := os.Remove(target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s exists outside the job's home directory %s and is not empty; not deleting it", target, home)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	err := os.Rename(ws, target)
	var lerr *os.LinkError
	if errors.As(err, &lerr) && errors.Is(lerr.Err, syscall.EXDEV) {
		// Another file system: mv copies and deletes.
		out, err := exec.Command("mv", "-T", "--", ws, target).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mv: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	return err
}

// describeHead returns the commit (abbreviated) and branch checked out in
// dir; the branch is "" if HEAD is detached.
func describeHead(c *call, dir string) (sha, branch string) {
	out, err := gitrepo.Run(c.ctx, dir, nil, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD")
	if err != nil {
		return "(unknown)", ""
	}
	lines := strings.Split(out, "\n")
	sha = lines[0]
	if len(sha) > 12 {
		sha = sha[:12]
	}
	if len(lines) > 1 {
		branch = strings.TrimPrefix(lines[1], "refs/heads/")
		if branch == "HEAD" {
			branch = ""
		}
	}
	return sha, branch
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isEmptyDir(p string) bool {
	entries, err := os.ReadDir(p)
	return err == nil && len(entries) == 0
}

// samePath reports whether a and b name the same directory.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// within reports whether p is strictly inside dir.
func within(p, dir string) bool {
	rel, err := filepath.Rel(resolve(dir), resolve(p))
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// resolve returns p with symlinks resolved as far as it exists.
func resolve(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, file := filepath.Split(p)
	if dir == "" || dir == p {
		return p
	}
	return filepath.Join(resolve(filepath.Clean(dir)), file)
}

// removeAll removes p, including read-only directories inside it.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// askForWorkspace asks the job's service for the job's working copy
// unless its ready file is there: an agent makes the copy of a job whose
// commands do not name checkout only when checkout asks for it.
func askForWorkspace(c *call, ready string) error {
	if _, err := os.Stat(ready); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		return fmt.Errorf("ask for the job's working copy: %w", err)
	}
	if err := svc.StartWorkspace(c.ctx); err != nil {
		return fmt.Errorf("ask for the job's working copy: %w", err)
	}
	return nil
}

// waitReady waits for the agent to finish preparing the job's working copy
// in the background: it writes the file ready names, empty on success or
// holding the error. Jobs start at once and only checkout waits.
func waitReady(ctx context.Context, ready string) error {
	for {
		data, err := os.ReadFile(ready)
		if err == nil {
			if msg := strings.TrimSpace(string(data)); msg != "" {
				return fmt.Errorf("the job's working copy could not be prepared: %s", msg)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wait for the job's working copy: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
