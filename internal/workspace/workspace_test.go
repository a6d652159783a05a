package workspace_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/workspace"
	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

// take opens dir and snapshots it, cleaning up after the test.
func take(t *testing.T, dir string) *workspace.Snapshot {
	t.Helper()
	repo, err := gitrepo.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := workspace.Take(t.Context(), repo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Cleanup(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func materialize(t *testing.T, s *workspace.Snapshot) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "job", "repo")
	if err := s.Materialize(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// tree describes every file, symlink and directory under dir, except .git:
// "path" → "file 0644 <content>", "link -> target", "dir 0755".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if rel == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a linked worktree's .git file
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "link -> " + target
		case d.IsDir():
			got[rel] = fmt.Sprintf("dir %04o", info.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("file %04o %s", info.Mode().Perm(), data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// gitDirDigest hashes every path, mode and content under a .git directory.
func gitDirDigest(t *testing.T, gitDir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := sha256.New()
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		got[p] = fmt.Sprintf("%v %s", info.Mode(), hex.EncodeToString(h.Sum(nil))[:16])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// assertCleanCopy checks that dir is a git working copy with nothing to
// commit and an index whose stat data git trusts.
func assertCleanCopy(t *testing.T, dir string) {
	t.Helper()
	if out := gittest.Git(t, dir, "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Errorf("git status in the copy is not clean:\n%s", out)
	}
	// diff-files compares stat data only: it lists any entry whose recorded
	// stat data does not match the file (unless git verified its content).
	if out := gittest.Git(t, dir, "diff-files", "--name-only"); out != "" {
		t.Errorf("git diff-files in the copy lists:\n%s", out)
	}
}

func TestCleanTree(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"README": "hello\n"})
	head := gittest.Commit(t, dir, "second", map[string]string{"src/main.go": "package main\n"})

	s := take(t, dir)
	if s.Dirty() || s.SHA() != head || s.BaseSHA() != head || s.Branch() != "main" {
		t.Fatalf("snapshot of a clean tree: Dirty %v SHA %s BaseSHA %s Branch %q, want clean at %s on main",
			s.Dirty(), s.SHA(), s.BaseSHA(), s.Branch(), head)
	}
	dst := materialize(t, s)
	if diff := cmp.Diff(tree(t, dir), tree(t, dst)); diff != "" {
		t.Errorf("copy differs from the working tree (-user +copy):\n%s", diff)
	}
	assertCleanCopy(t, dst)
	if got := gittest.Git(t, dst, "rev-parse", "HEAD"); got != head {
		t.Errorf("copy HEAD = %s, want %s", got, head)
	}
	if got := gittest.Git(t, dst, "rev-parse", "--abbrev-ref", "HEAD"); got != "main" {
		t.Errorf("copy branch = %q, want main", got)
	}
	if got := gittest.Git(t, dst, "log", "--format=%s"); got != "second\nfirst" {
		t.Errorf("copy log = %q, want second, first", got)
	}
	if got := gittest.Git(t, dst, "fsck", "--connectivity-only", "--no-progress"); got != "" {
		t.Errorf("git fsck in the copy: %s", got)
	}
}

func TestUncommittedChanges(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{
		".gitignore":     "*.log\nbuild/\n",
		"modified.txt":   "old\n",
		"deleted.txt":    "bye\n",
		"staged.txt":     "v1\n",
		"keep/same.txt":  "same\n",
		"script.sh":      "#!/bin/sh\necho hi\n",
		"becomes-exe.sh": "#!/bin/sh\n",
	})
	head := gittest.Git(t, dir, "rev-parse", "HEAD")
	gittest.Git(t, dir, "config", "user.name", "Repo User")
	gittest.Git(t, dir, "config", "user.email", "repo@example.com")

	gittest.Write(t, dir, map[string]string{
		"modified.txt":         "new\n",
		"untracked.txt":        "fresh\n",
		"new/dir/deep.txt":     "deep\n",
		"ignored.log":          "noise\n",
		"build/out.o":          "object\n",
		"staged.txt":           "v2\n",
		"with space & ütf.txt": "odd name\n",
	})
	gittest.Git(t, dir, "add", "staged.txt")
	gittest.Write(t, dir, map[string]string{"staged.txt": "v3 (unstaged on top)\n"})
	must(t, os.Remove(filepath.Join(dir, "deleted.txt")))
	must(t, os.WriteFile(filepath.Join(dir, "binary.bin"), []byte{0, 1, 2, 0xff, 0, 'x', '\n', 0}, 0o644))
	must(t, os.Chmod(filepath.Join(dir, "script.sh"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "becomes-exe.sh"), 0o755))
	must(t, os.Symlink("keep/same.txt", filepath.Join(dir, "link-to-file")))
	must(t, os.Symlink("nowhere", filepath.Join(dir, "dangling-link")))
	must(t, os.Symlink("keep", filepath.Join(dir, "link-to-dir")))
	indexBefore, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	must(t, err)

	s := take(t, dir)
	if !s.Dirty() || s.BaseSHA() != head || s.SHA() == head {
		t.Fatalf("snapshot: Dirty %v SHA %s BaseSHA %s, want a new commit on %s", s.Dirty(), s.SHA(), s.BaseSHA(), head)
	}
	dst := materialize(t, s)

	want := tree(t, dir)
	delete(want, "ignored.log")
	delete(want, "build")
	delete(want, "build/out.o")
	if diff := cmp.Diff(want, tree(t, dst)); diff != "" {
		t.Errorf("copy differs from the working tree without ignored files (-want +copy):\n%s", diff)
	}
	assertCleanCopy(t, dst)
	if got := gittest.Git(t, dst, "log", "--format=%s", "-2"); got != workspace.SnapshotMessage+"\nfirst" {
		t.Errorf("copy log = %q", got)
	}
	if got := gittest.Git(t, dst, "rev-parse", "HEAD^"); got != head {
		t.Errorf("snapshot parent = %s, want %s", got, head)
	}
	if got := gittest.Git(t, dst, "log", "-1", "--format=%an <%ae>"); got != "Repo User <repo@example.com>" {
		t.Errorf("snapshot author = %q, want the user's identity", got)
	}
	if got := gittest.Git(t, dst, "diff", "--name-status", "HEAD^", "HEAD"); !strings.Contains(got, "D\tdeleted.txt") {
		t.Errorf("snapshot does not record the deletion:\n%s", got)
	}

	// The user's index and working tree are as they were.
	indexAfter, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	must(t, err)
	if string(indexBefore) != string(indexAfter) {
		t.Error("the user's index changed")
	}
	if got := gittest.Git(t, dir, "diff", "--cached", "--name-only"); got != "staged.txt" {
		t.Errorf("the user's staged changes are now %q, want staged.txt", got)
	}
}

func TestUserRepositoryUntouched(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"a.txt": "a\n", "b/c.txt": "c\n"})
	gittest.Git(t, dir, "tag", "v1")
	gittest.Write(t, dir, map[string]string{"a.txt": "changed\n", "new.txt": "new\n"})
	gittest.Git(t, dir, "gc", "-q") // a pack and packed refs, like a real repo
	gittest.Write(t, dir, map[string]string{"loose.txt": "another\n"})

	gitDir := filepath.Join(dir, ".git")
	digestBefore := gitDirDigest(t, gitDir)
	objectsBefore := gittest.Git(t, dir, "count-objects", "-v")
	statusBefore := gittest.Git(t, dir, "status", "--porcelain")
	treeBefore := tree(t, dir)

	repo, err := gitrepo.Open(t.Context(), dir)
	must(t, err)
	s, err := workspace.Take(t.Context(), repo, t.TempDir())
	must(t, err)
	dst := filepath.Join(t.TempDir(), "copy")
	must(t, s.Materialize(t.Context(), dst))
	// A job that commits in its copy writes to the copy only.
	gittest.Write(t, dst, map[string]string{"job.txt": "job\n"})
	gittest.Git(t, dst, "add", "-A")
	gittest.Git(t, dst, "commit", "-q", "-m", "job commit")
	gittest.Git(t, dst, "tag", "job-tag")
	must(t, s.Cleanup())

	if diff := cmp.Diff(digestBefore, gitDirDigest(t, gitDir)); diff != "" {
		t.Errorf("the user's .git changed (-before +after):\n%s", diff)
	}
	if got := gittest.Git(t, dir, "count-objects", "-v"); got != objectsBefore {
		t.Errorf("git count-objects -v changed:\nbefore:\n%s\nafter:\n%s", objectsBefore, got)
	}
	if got := gittest.Git(t, dir, "status", "--porcelain"); got != statusBefore {
		t.Errorf("git status changed:\nbefore:\n%s\nafter:\n%s", statusBefore, got)
	}
	if diff := cmp.Diff(treeBefore, tree(t, dir)); diff != "" {
		t.Errorf("the user's working tree changed (-before +after):\n%s", diff)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("Cleanup left the copy %s: %v", dst, err)
	}
}

func TestNoCommitsYet(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Write(t, dir, map[string]string{"first.txt": "1\n", "sub/second.txt": "2\n"})

	s := take(t, dir)
	if !s.Dirty() || s.BaseSHA() != "" || s.SHA() == "" || s.Branch() != "main" {
		t.Fatalf("snapshot: Dirty %v SHA %q BaseSHA %q Branch %q", s.Dirty(), s.SHA(), s.BaseSHA(), s.Branch())
	}
	dst := materialize(t, s)
	if diff := cmp.Diff(tree(t, dir), tree(t, dst)); diff != "" {
		t.Errorf("copy differs (-user +copy):\n%s", diff)
	}
	assertCleanCopy(t, dst)
	if got := gittest.Git(t, dst, "rev-list", "--count", "HEAD"); got != "1" {
		t.Errorf("copy has %s commits, want 1", got)
	}
	// Without an identity git accepts, the snapshot is Baton's.
	probe := exec.Command("git", "var", "GIT_COMMITTER_IDENT")
	probe.Dir = dir
	if probe.Run() != nil {
		if got := gittest.Git(t, dst, "log", "-1", "--format=%an <%ae>"); got != "Baton <baton@localhost>" {
			t.Errorf("snapshot author = %q, want Baton's", got)
		}
	}

	empty := take(t, gittest.Init(t))
	if !empty.Dirty() || empty.SHA() == "" {
		t.Errorf("snapshot of an empty repo: Dirty %v SHA %q", empty.Dirty(), empty.SHA())
	}
	assertCleanCopy(t, materialize(t, empty))
}

func TestDetachedHead(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	first := gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	gittest.Commit(t, dir, "second", map[string]string{"f": "2"})
	gittest.Git(t, dir, "checkout", "-q", first)

	s := take(t, dir)
	if s.Branch() != "" || s.SHA() != first {
		t.Fatalf("snapshot: Branch %q SHA %s, want detached at %s", s.Branch(), s.SHA(), first)
	}
	dst := materialize(t, s)
	if got := gittest.Git(t, dst, "rev-parse", "--abbrev-ref", "HEAD"); got != "HEAD" {
		t.Errorf("copy HEAD is %q, want detached", got)
	}
	assertCleanCopy(t, dst)
}

func TestRefsRemoteAndShallowHistory(t *testing.T) {
	t.Parallel()
	upstream := gittest.Init(t)
	for i := range 5 {
		gittest.Commit(t, upstream, fmt.Sprintf("c%d", i), map[string]string{"f": fmt.Sprint(i)})
	}
	gittest.Git(t, upstream, "tag", "-a", "-m", "release", "v1.2.3")
	gittest.Git(t, upstream, "branch", "other")

	parent := t.TempDir()
	gittest.Git(t, parent, "clone", "-q", "--depth=3", "--no-single-branch", "file://"+upstream, "clone")
	dir := filepath.Join(parent, "clone")
	gittest.Git(t, dir, "checkout", "-q", "-b", "feature/x", "--track", "origin/main")
	gittest.Git(t, dir, "fetch", "-q", "--tags")
	gittest.Write(t, dir, map[string]string{"f": "dirty"})

	s := take(t, dir)
	dst := materialize(t, s)
	assertCleanCopy(t, dst)
	if got := gittest.Git(t, dst, "rev-parse", "--abbrev-ref", "HEAD"); got != "feature/x" {
		t.Errorf("copy branch = %q, want feature/x", got)
	}
	if got := gittest.Git(t, dst, "remote", "get-url", "origin"); got != "file://"+upstream {
		t.Errorf("copy origin = %q, want file://%s", got, upstream)
	}
	refs := gittest.Git(t, dst, "for-each-ref", "--format=%(refname)")
	for _, want := range []string{"refs/heads/feature/x", "refs/remotes/origin/main", "refs/remotes/origin/other", "refs/tags/v1.2.3"} {
		if !strings.Contains(refs, want) {
			t.Errorf("copy lacks %s; refs:\n%s", want, refs)
		}
	}
	if got := gittest.Git(t, dst, "describe", "--tags", "HEAD^"); got != "v1.2.3" {
		t.Errorf("git describe in the copy = %q, want v1.2.3", got)
	}
	// The shallow boundary comes along: history ends where the clone's does.
	if got := gittest.Git(t, dst, "rev-list", "--count", "HEAD"); got != "4" {
		t.Errorf("copy history has %s commits, want 4 (3 shallow + the snapshot)", got)
	}
	if got := gittest.Git(t, dst, "rev-parse", "--is-shallow-repository"); got != "true" {
		t.Errorf("copy is-shallow = %s, want true", got)
	}
}

func TestWorktreeAndSubdirectory(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"a/b.txt": "b\n"})
	wt := filepath.Join(t.TempDir(), "wt")
	gittest.Git(t, dir, "worktree", "add", "-q", "-b", "side", wt)
	gittest.Write(t, wt, map[string]string{"a/b.txt": "changed in worktree\n"})

	repo, err := gitrepo.Open(t.Context(), filepath.Join(wt, "a"))
	must(t, err)
	s, err := workspace.Take(t.Context(), repo, t.TempDir())
	must(t, err)
	t.Cleanup(func() { s.Cleanup() })
	dst := materialize(t, s)
	if diff := cmp.Diff(tree(t, wt), tree(t, dst)); diff != "" {
		t.Errorf("copy differs from the worktree (-worktree +copy):\n%s", diff)
	}
	if got := gittest.Git(t, dst, "rev-parse", "--abbrev-ref", "HEAD"); got != "side" {
		t.Errorf("copy branch = %q, want side", got)
	}
	assertCleanCopy(t, dst)
}

func TestSHA256Repository(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gittest.Git(t, dir, "init", "-q", "--object-format=sha256", ".")
	gittest.Commit(t, dir, "first", map[string]string{"f": "1\n"})
	gittest.Write(t, dir, map[string]string{"f": "2\n", "g": "new\n"})

	s := take(t, dir)
	if len(s.SHA()) != 64 {
		t.Fatalf("SHA() = %q, want a sha256 hash", s.SHA())
	}
	dst := materialize(t, s)
	if diff := cmp.Diff(tree(t, dir), tree(t, dst)); diff != "" {
		t.Errorf("copy differs (-user +copy):\n%s", diff)
	}
	assertCleanCopy(t, dst)
}

func TestConcurrentMaterialize(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("pkg%d/file%d.txt", i%7, i)] = strings.Repeat(fmt.Sprint(i), 100+i)
	}
	gittest.Commit(t, dir, "first", files)
	gittest.Write(t, dir, map[string]string{"pkg0/file0.txt": "dirty\n"})
	want := tree(t, dir)

	s := take(t, dir)
	root := t.TempDir()
	const jobs = 20
	var wg sync.WaitGroup
	errs := make([]error, jobs)
	for i := range jobs {
		wg.Go(func() {
			errs[i] = s.Materialize(t.Context(), filepath.Join(root, fmt.Sprintf("job%d", i), "repo"))
		})
	}
	wg.Wait()
	for i := range jobs {
		if errs[i] != nil {
			t.Fatalf("job %d: %v", i, errs[i])
		}
		dst := filepath.Join(root, fmt.Sprintf("job%d", i), "repo")
		if diff := cmp.Diff(want, tree(t, dst)); diff != "" {
			t.Errorf("job %d copy differs (-want +copy):\n%s", i, diff)
		}
		assertCleanCopy(t, dst)
	}
	// Copies are independent.
	gittest.Write(t, filepath.Join(root, "job0", "repo"), map[string]string{"pkg1/file1.txt": "job 0 was here"})
	if got := tree(t, filepath.Join(root, "job1", "repo"))["pkg1/file1.txt"]; got != want["pkg1/file1.txt"] {
		t.Errorf("a write in job 0's copy shows in job 1's: %q", got)
	}
}

func TestMaterializeDestination(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	s := take(t, dir)

	empty := t.TempDir()
	if err := s.Materialize(t.Context(), empty); err != nil {
		t.Errorf("Materialize(empty dir): %v", err)
	}
	notEmpty := t.TempDir()
	gittest.Write(t, notEmpty, map[string]string{"x": "x"})
	if err := s.Materialize(t.Context(), notEmpty); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Materialize(non-empty dir) error = %v, want 'not empty'", err)
	}
	if got := tree(t, notEmpty); len(got) != 1 {
		t.Errorf("Materialize touched a non-empty destination: %v", got)
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	gittest.Write(t, dir, map[string]string{"f": "2"})
	repo, err := gitrepo.Open(t.Context(), dir)
	must(t, err)
	tmp := t.TempDir()
	s, err := workspace.Take(t.Context(), repo, tmp)
	must(t, err)
	dst := filepath.Join(t.TempDir(), "copy")
	must(t, s.Materialize(t.Context(), dst))
	// Jobs leave read-only trees behind (Go's module cache does).
	ro := filepath.Join(dst, "gomod", "mod@v1")
	gittest.Write(t, ro, map[string]string{"x.go": "package x"})
	must(t, os.Chmod(filepath.Join(ro, "x.go"), 0o444))
	must(t, os.Chmod(ro, 0o555))

	must(t, s.Cleanup())
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("Cleanup left %d entries in the temp dir", len(entries))
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("Cleanup left the copy: %v", err)
	}
}

func TestNotARepository(t *testing.T) {
	t.Parallel()
	if _, err := gitrepo.Open(t.Context(), t.TempDir()); err == nil {
		t.Fatal("Open of a plain directory succeeded")
	}
}

func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	gittest.Write(t, dir, map[string]string{"secret": "s"})
	must(t, os.Chmod(filepath.Join(dir, "secret"), 0))
	repo, err := gitrepo.Open(t.Context(), dir)
	must(t, err)
	tmp := t.TempDir()
	if _, err := workspace.Take(t.Context(), repo, tmp); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("Take with an unreadable file: error = %v, want one naming it", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("a failed Take left %d entries behind", len(entries))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotChangedFiles(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	base := gittest.Commit(t, dir, "first", map[string]string{"a.txt": "a", "old.txt": "moving content\n"})
	gittest.Write(t, dir, map[string]string{"a.txt": "changed", "dir/ünï cödé.txt": "new"})
	gittest.Git(t, dir, "mv", "old.txt", "new.txt")

	s := take(t, dir)
	got, err := s.ChangedFiles(t.Context(), base+"..."+s.SHA())
	if err != nil {
		t.Fatal(err)
	}
	// A rename is listed under its new name only, as Semaphore's
	// change_in sees it (git's rename detection).
	want := []string{"a.txt", "dir/ünï cödé.txt", "new.txt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ChangedFiles (-want +got):\n%s", diff)
	}
}
