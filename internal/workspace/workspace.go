// Package workspace gives every job of a local run its own copy of the
// user's working tree as it stands, uncommitted changes included, without
// touching the user's files or repository.
//
// Take records the working tree as a git commit (a Snapshot) in a private
// object directory: it copies the user's index (so unchanged files are not read
// again) and runs `git add -A`, `git write-tree` and, if the tree differs
// from HEAD's, `git commit-tree` with GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY
// and GIT_ALTERNATE_OBJECT_DIRECTORIES pointing at private files, so that
// the user's index, objects and refs are never written. Untracked files
// are included and ignored ones are not, exactly as `git add -A` decides.
//
// Materialize makes a job's copy: a real git repository at the snapshot
// commit, on a branch named like the user's, whose objects are borrowed
// through alternates (nothing is copied from the object database). The
// first call checks the snapshot out once into a template directory; every
// call then copies the template's files (reflinked on file systems that
// can, else copied in the kernel by several goroutines) and writes the copy
// an index carrying the copy's own stat data, so `git status` in a job is
// as fast as in a fresh clone rather than rehashing every file.
//
// Nothing in the user's repository is written. Git itself may update the
// modification time of an existing object file of the user's when it
// needs that object again, which is how git marks objects as in use.
//
// Known limits: submodules (and nested repositories) are recorded as
// gitlinks and come out as empty directories, as in a plain clone; Git LFS
// content is read from the user's LFS store; directory modification times
// are not preserved; Take fails, naming the file, if a file git should add
// cannot be read.
package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/gitrepo"
)

// SnapshotMessage is the message of the commit that records uncommitted
// changes.
const SnapshotMessage = "baton: working tree snapshot"

// fallbackIdentity is the author and committer of a snapshot commit when
// the user has configured none.
var fallbackIdentity = []string{
	"GIT_AUTHOR_NAME=Baton", "GIT_AUTHOR_EMAIL=baton@localhost",
	"GIT_COMMITTER_NAME=Baton", "GIT_COMMITTER_EMAIL=baton@localhost",
}

// safeConfig keeps git from writing anything outside the index and object
// directory it is given, and from talking to daemons or a terminal.
var safeConfig = []string{
	"-c", "core.splitIndex=false", "-c", "core.fsmonitor=false",
	"-c", "core.untrackedCache=false", "-c", "gc.auto=0", "-c", "maintenance.auto=false",
}

// Snapshot is the state of a working tree at one moment, recorded as a git
// commit. Its methods are safe for concurrent use, except Cleanup, which
// must be called once, after every Materialize has returned.
type Snapshot struct {
	repo    *gitrepo.Repo
	dir     string // private; everything the snapshot creates, except copies, is here
	objects string // private object directory
	sha     string
	base    string
	branch  string
	dirty   bool

	tmplLock chan struct{} // held while the template is built
	tmpl     *template     // guarded by tmplLock; nil until built

	mu     sync.Mutex
	copies []string // guarded by mu
}

// Take records the working tree of repo as it is now. Its private files go
// in a new directory under tmpDir (which must exist), on the same file
// system as the job copies if possible.
func Take(ctx context.Context, repo *gitrepo.Repo, tmpDir string) (*Snapshot, error) {
	dir, err := os.MkdirTemp(tmpDir, "baton-snapshot-")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s, err := take(ctx, repo, dir)
	if err != nil {
		_ = removeAll(dir)
		return nil, fmt.Errorf("snapshot of %s: %w", repo.Root(), err)
	}
	return s, nil
}

func take(ctx context.Context, repo *gitrepo.Repo, dir string) (*Snapshot, error) {
	s := &Snapshot{
		repo:     repo,
		dir:      dir,
		objects:  filepath.Join(dir, "objects"),
		tmplLock: make(chan struct{}, 1),
	}
	if err := os.Mkdir(s.objects, 0o755); err != nil {
		return nil, err
	}
	var err error
	s.base, err = repo.HeadSHA(ctx)
	if err != nil && !errors.Is(err, gitrepo.ErrNoCommits) {
		return nil, err
	}
	if s.branch, err = repo.CurrentBranch(ctx); err != nil {
		return nil, err
	}

	index := filepath.Join(dir, "index")
	if err := copyFileIfExists(repo.IndexFile(), index); err != nil {
		return nil, fmt.Errorf("copy index: %w", err)
	}
	env := []string{
		"GIT_INDEX_FILE=" + index,
		"GIT_OBJECT_DIRECTORY=" + s.objects,
		"GIT_ALTERNATE_OBJECT_DIRECTORIES=" + repo.ObjectsDir(),
	}
	git := func(env []string, args ...string) (string, error) {
		return gitrepo.Run(ctx, repo.Root(), env, append(safeConfig[:len(safeConfig):len(safeConfig)], args...)...)
	}
	if _, err := git(env, "add", "--all", "--", ":/"); err != nil {
		return nil, err
	}
	tree, err := git(env, "write-tree")
	if err != nil {
		return nil, err
	}
	if s.base != "" {
		baseTree, err := git(env, "rev-parse", "--verify", s.base+"^{tree}")
		if err != nil {
			return nil, err
		}
		if tree == baseTree {
			s.sha = s.base
			return s, nil
		}
	}
	// The user's identity if git has one, else Baton's.
	if _, err := git(env, "var", "GIT_COMMITTER_IDENT"); err != nil {
		env = append(env, fallbackIdentity...)
	} else if _, err := git(env, "var", "GIT_AUTHOR_IDENT"); err != nil {
		env = append(env, fallbackIdentity...)
	}
	args := []string{"commit-tree", "--no-gpg-sign", "-m", SnapshotMessage, tree}
	if s.base != "" {
		args = append(args, "-p", s.base)
	}
	if s.sha, err = git(env, args...); err != nil {
		return nil, err
	}
	s.dirty = true
	return s, nil
}

// SHA is the commit that records the working tree: BaseSHA if the tree
// is clean, else a new commit whose parent is BaseSHA (none if the
// repository had no commits) and whose message is SnapshotMessage.
func (s *Snapshot) SHA() string { return s.sha }

// BaseSHA is the commit HEAD pointed at, or "" if there was none.
func (s *Snapshot) BaseSHA() string { return s.base }

// Branch is the branch that was checked out, or "" if HEAD was detached.
func (s *Snapshot) Branch() string { return s.branch }

// Dirty reports whether the working tree differed from HEAD (always true
// in a repository without commits).
func (s *Snapshot) Dirty() bool { return s.dirty }

// Repo is the repository the snapshot was taken of.
func (s *Snapshot) Repo() *gitrepo.Repo { return s.repo }

// Materialize makes dst, which must not exist or be an empty directory, a
// git working copy at the snapshot commit: on the user's branch (detached
// if the user's HEAD was), with the origin remote, remote-tracking
// branches and tags of the user's repository, clean (`git status` shows
// nothing) and with the whole history. Its objects are read from the
// user's repository and the snapshot through alternates, so the copy is
// valid until Cleanup. Materialize may be called concurrently.
func (s *Snapshot) Materialize(ctx context.Context, dst string) error {
	dst, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("materialize: %w", err)
	}
	t, err := s.template(ctx)
	if err != nil {
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	if err := prepareDest(dst); err != nil {
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	s.mu.Lock()
	s.copies = append(s.copies, dst)
	s.mu.Unlock()
	if err := t.copyTo(ctx, dst); err != nil {
		_ = removeAll(dst)
		return fmt.Errorf("materialize %s: %w", dst, err)
	}
	return nil
}

// prepareDest checks that dst can be created, and removes it if it is an
// empty directory so that copyTree can create it with the template's mode.
func prepareDest(dst string) error {
	entries, err := os.ReadDir(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(filepath.Dir(dst), 0o755)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("destination is not empty")
	default:
		return os.Remove(dst)
	}
}

// template returns the snapshot's checked-out template, building it on the
// first call. Concurrent callers wait for one build; if it fails (or its
// caller's ctx ends) the next caller tries again.
func (s *Snapshot) template(ctx context.Context) (*template, error) {
	select {
	case s.tmplLock <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-s.tmplLock }()
	if s.tmpl != nil {
		return s.tmpl, nil
	}
	dir := filepath.Join(s.dir, "template")
	_ = removeAll(dir) // a failed earlier attempt
	t, err := buildTemplate(ctx, s, dir)
	if err != nil {
		return nil, fmt.Errorf("check out snapshot %s: %w", s.sha, err)
	}
	s.tmpl = t
	return t, nil
}

// Cleanup removes everything the snapshot created: its private objects and
// template, and every copy Materialize made that is still where it was
// made. It must not be called while Materialize runs.
func (s *Snapshot) Cleanup() error {
	s.mu.Lock()
	copies := s.copies
	s.copies = nil
	s.mu.Unlock()
	var errs []error
	for _, c := range copies {
		if err := removeAll(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up snapshot: %w", err)
	}
	return nil
}

func copyFileIfExists(src, dst string) error {
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// templateTime is the modification time given to every file of a
// template: a whole second in the past, so that the index each copy gets,
// written later, is never "racily clean" for git (which would then read
// the files again to be sure).
func templateTime(now time.Time) time.Time {
	return now.Truncate(time.Second).Add(-time.Second)
}

// configQuote quotes a value for a git config file.
func configQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}
