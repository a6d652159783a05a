package repocache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/gitssh"
	"github.com/batonci/baton/internal/gitssh/gitsshtest"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

// origin is a repository with two commits on main, a feature branch, a
// lightweight tag and an annotated tag.
type origin struct {
	dir, url               string
	first, second, feature string
}

func newOrigin(t *testing.T) origin {
	t.Helper()
	dir := gittest.Init(t)
	o := origin{dir: dir, url: "file://" + dir}
	o.first = gittest.Commit(t, dir, "first", map[string]string{
		".semaphore/semaphore.yml": "version: v1.0\n",
		"README.md":                "hello\n",
	})
	if err := os.Symlink("README.md", filepath.Join(dir, "LINK")); err != nil {
		t.Fatal(err)
	}
	o.second = gittest.Commit(t, dir, "second\n\nwith a body", map[string]string{"src/a.go": "package a\n"})
	gittest.Git(t, dir, "tag", "light", o.first)
	gittest.Git(t, dir, "tag", "-a", "-m", "release", "v1", o.first)
	gittest.Git(t, dir, "checkout", "-q", "-b", "feature")
	o.feature = gittest.Commit(t, dir, "feature", map[string]string{"docs/x.md": "x\n", "README.md": "changed\n"})
	gittest.Git(t, dir, "checkout", "-q", "main")
	return o
}

func TestListRefs(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	got, err := c.ListRefs(t.Context(), o.url)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"refs/heads/main":    o.second,
		"refs/heads/feature": o.feature,
		"refs/tags/light":    o.first,
		"refs/tags/v1":       o.first, // peeled
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListRefs() mismatch (-want +got):\n%s", diff)
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	ctx := t.Context()
	tests := []struct {
		name, sha, path string
		want            string
		wantErr         error
		wantMsg         string
	}{
		{name: "file", sha: o.first, path: ".semaphore/semaphore.yml", want: "version: v1.0\n"},
		{name: "leading slash", sha: o.first, path: "/README.md", want: "hello\n"},
		{name: "dot slash", sha: o.first, path: "./README.md", want: "hello\n"},
		{name: "other commit", sha: o.feature, path: "README.md", want: "changed\n"},
		{name: "symbolic link", sha: o.second, path: "LINK", want: "hello\n"},
		{name: "missing file", sha: o.first, path: "src/a.go", wantErr: ErrNotExist},
		{name: "missing under a file", sha: o.first, path: "README.md/x", wantErr: ErrNotExist},
		{name: "directory", sha: o.second, path: "src", wantMsg: "is a directory"},
		{name: "unknown commit", sha: strings.Repeat("1", 40), path: "README.md", wantErr: ErrUnknownRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ReadFile(ctx, o.url, tt.sha, tt.path)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadFile() error = %v, want %v", err, tt.wantErr)
				}
			case tt.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("ReadFile() error = %v, want one saying %q", err, tt.wantMsg)
				}
			case err != nil:
				t.Fatal(err)
			case string(got) != tt.want:
				t.Errorf("ReadFile() = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := c.ReadFile(ctx, o.url, o.first, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) error = %v, want one wrapping fs.ErrNotExist", err)
	}
}

func TestFetchesNewCommitsOnDemand(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	ctx := t.Context()
	if err := c.Fetch(ctx, o.url); err != nil {
		t.Fatal(err)
	}
	third := gittest.Commit(t, o.dir, "third", map[string]string{"new.txt": "new\n"})

	got, err := c.ReadFile(ctx, o.url, third, "new.txt")
	if err != nil {
		t.Fatalf("ReadFile(new commit): %v", err)
	}
	if string(got) != "new\n" {
		t.Errorf("ReadFile() = %q", got)
	}
	if sha, err := c.Resolve(ctx, o.url, "main"); err != nil || sha != third {
		t.Errorf("Resolve(main) = %q, %v; want %s", sha, err, third)
	}

	// Deleted branches are pruned.
	gittest.Git(t, o.dir, "branch", "-D", "feature")
	if err := c.Fetch(ctx, o.url); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, o.url, "feature"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Resolve(deleted branch) error = %v, want ErrUnknownRevision", err)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	tests := []struct {
		ref, want string
	}{
		{"main", o.second},
		{"refs/heads/main", o.second},
		{"feature", o.feature},
		{"light", o.first},
		{"v1", o.first},
		{"refs/tags/v1", o.first},
		{o.feature, o.feature},
		{o.first[:10], o.first},
	}
	for _, tt := range tests {
		got, err := c.Resolve(t.Context(), o.url, tt.ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.ref, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Resolve(%q) = %s, want %s", tt.ref, got, tt.want)
		}
	}
	for _, ref := range []string{"nope", strings.Repeat("a", 40), "", "--all"} {
		if _, err := c.Resolve(t.Context(), o.url, ref); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("Resolve(%q) error = %v, want ErrUnknownRevision", ref, err)
		}
	}
}

func TestCommit(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	got, err := c.Commit(t.Context(), o.url, o.second)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA != o.second || !slices.Equal(got.Parents, []string{o.first}) {
		t.Errorf("Commit() = %s parents %v, want %s parents [%s]", got.SHA, got.Parents, o.second, o.first)
	}
	if got.AuthorName != "Ada Tester" || got.AuthorEmail != "ada@example.com" || got.CommitterName != "Cy Committer" {
		t.Errorf("Commit() people = %q <%s>, %q", got.AuthorName, got.AuthorEmail, got.CommitterName)
	}
	if got.Subject != "second" || got.Message != "second\n\nwith a body" {
		t.Errorf("Commit() message = %q / %q", got.Subject, got.Message)
	}
	if time.Since(got.CommitTime) > time.Hour || got.AuthorTime.IsZero() {
		t.Errorf("Commit() times = %v, %v", got.AuthorTime, got.CommitTime)
	}
	if _, err := c.Commit(t.Context(), o.url, strings.Repeat("b", 40)); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Commit(unknown) error = %v, want ErrUnknownRevision", err)
	}
}

func TestChangedFiles(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	tests := []struct {
		rng  string
		want []string
	}{
		{"main...feature", []string{"README.md", "docs/x.md"}},
		{o.first + ".." + o.second, []string{"LINK", "src/a.go"}},
		{"light " + o.feature, []string{"LINK", "README.md", "docs/x.md", "src/a.go"}},
	}
	for _, tt := range tests {
		got, err := c.ChangedFiles(t.Context(), o.url, tt.rng)
		if err != nil {
			t.Errorf("ChangedFiles(%q): %v", tt.rng, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ChangedFiles(%q) mismatch (-want +got):\n%s", tt.rng, diff)
		}
	}
	if _, err := c.ChangedFiles(t.Context(), o.url, "main..nope"); !errors.Is(err, ErrUnknownRevision) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("ChangedFiles(unknown) error = %v, want ErrUnknownRevision naming nope", err)
	}
	for _, rng := range []string{"main", "", "main...", "--output=/tmp/x main"} {
		if _, err := c.ChangedFiles(t.Context(), o.url, rng); err == nil {
			t.Errorf("ChangedFiles(%q) succeeded, want an error", rng)
		}
	}
}

func TestMaterialize(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	cacheDir := t.TempDir()
	c := New(cacheDir)
	ctx := t.Context()

	t.Run("branch", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "job", "repo")
		if err := c.Materialize(ctx, o.url, o.first, "main", dst); err != nil {
			t.Fatal(err)
		}
		if got := gittest.Git(t, dst, "rev-parse", "HEAD"); got != o.first {
			t.Errorf("HEAD = %s, want %s", got, o.first)
		}
		if got := gittest.Git(t, dst, "symbolic-ref", "--short", "HEAD"); got != "main" {
			t.Errorf("branch = %s, want main", got)
		}
		if got := gittest.Git(t, dst, "rev-parse", "--abbrev-ref", "main@{upstream}"); got != "origin/main" {
			t.Errorf("upstream = %s, want origin/main", got)
		}
		if got := gittest.Git(t, dst, "remote", "get-url", "origin"); got != o.url {
			t.Errorf("origin = %s, want %s", got, o.url)
		}
		if got := gittest.Git(t, dst, "status", "--porcelain"); got != "" {
			t.Errorf("status = %q, want clean", got)
		}
		if b, err := os.ReadFile(filepath.Join(dst, "README.md")); err != nil || string(b) != "hello\n" {
			t.Errorf("README.md = %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(dst, "src")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("src exists at the first commit: %v", err)
		}
		// No object was copied: they come from the mirror.
		alt, err := os.ReadFile(filepath.Join(dst, ".git", "objects", "info", "alternates"))
		if err != nil || !strings.HasPrefix(string(alt), cacheDir) {
			t.Errorf("alternates = %q, %v; want the mirror's objects", alt, err)
		}
		if got := gittest.Git(t, dst, "count-objects"); !strings.HasPrefix(got, "0 objects") {
			t.Errorf("count-objects = %q, want 0 objects", got)
		}
		if packs, _ := filepath.Glob(filepath.Join(dst, ".git", "objects", "pack", "*.pack")); len(packs) > 0 {
			t.Errorf("packs were copied: %v", packs)
		}
		// Tags and other branches are there.
		gittest.Git(t, dst, "rev-parse", "v1", "origin/feature")
	})

	t.Run("new branch name", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "repo")
		if err := c.Materialize(ctx, o.url, o.feature, "pr-branch", dst); err != nil {
			t.Fatal(err)
		}
		if got := gittest.Git(t, dst, "rev-parse", "HEAD"); got != o.feature {
			t.Errorf("HEAD = %s, want %s", got, o.feature)
		}
		if got := gittest.Git(t, dst, "symbolic-ref", "--short", "HEAD"); got != "pr-branch" {
			t.Errorf("branch = %s, want pr-branch", got)
		}
	})

	t.Run("detached", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "repo")
		if err := c.Materialize(ctx, o.url, o.second, "", dst); err != nil {
			t.Fatal(err)
		}
		if _, err := gittest.TryGit(dst, "symbolic-ref", "-q", "HEAD"); err == nil {
			t.Errorf("HEAD is on a branch, want detached")
		}
		if got := gittest.Git(t, dst, "rev-parse", "HEAD"); got != o.second {
			t.Errorf("HEAD = %s, want %s", got, o.second)
		}
	})

	t.Run("errors", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "repo")
		if err := c.Materialize(ctx, o.url, strings.Repeat("c", 40), "main", dst); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("Materialize(unknown sha) error = %v, want ErrUnknownRevision", err)
		}
		gittest.Write(t, dst, map[string]string{"x": "x"})
		if err := c.Materialize(ctx, o.url, o.first, "main", dst); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("Materialize(non-empty dir) error = %v, want 'not empty'", err)
		}
		if err := c.Materialize(ctx, o.url, o.first, "bad..name", filepath.Join(t.TempDir(), "r")); err == nil {
			t.Errorf("Materialize(bad branch) succeeded")
		}
	})
}

func TestPlainPath(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	got, err := c.ReadFile(t.Context(), o.dir, o.first, "README.md")
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("ReadFile(plain path) = %q, %v", got, err)
	}
	// A plain path and its file URL are different URLs, hence mirrors.
	if key(o.dir) == key(o.url) {
		t.Errorf("key(%q) == key(%q)", o.dir, o.url)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	c := New(t.TempDir())
	missing := "file://" + filepath.Join(t.TempDir(), "nope")
	for name, f := range map[string]func() error{
		"Fetch":    func() error { return c.Fetch(t.Context(), missing) },
		"ListRefs": func() error { _, err := c.ListRefs(t.Context(), missing); return err },
		"ReadFile": func() error { _, err := c.ReadFile(t.Context(), missing, "main", "x"); return err },
	} {
		err := f()
		if err == nil {
			t.Errorf("%s: no error for an unreachable repository", name)
			continue
		}
		if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not") {
			t.Errorf("%s error = %q, want one naming the URL and saying it is not a repository", name, err)
		}
	}
	if err := c.Fetch(t.Context(), ""); err == nil {
		t.Error("Fetch(\"\") succeeded")
	}
	entries, _ := os.ReadDir(c.Dir())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".git") || strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("a failed clone left %s", e.Name())
		}
	}
}

func TestConcurrentFetchesAreShared(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	ctx := t.Context()
	if err := c.Fetch(ctx, o.url); err != nil {
		t.Fatal(err)
	}

	var runs atomic.Int32
	release := make(chan struct{})
	c.afterFetch = func(string) {
		if runs.Add(1) == 1 {
			<-release
		}
	}
	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers+1)
	wg.Go(func() { errs <- c.Fetch(ctx, o.url) })
	// Wait until the first fetch runs, then start the others: they must
	// all wait for it and then share one more fetch.
	probe.Eventually(t, 10*time.Second, func() error {
		if runs.Load() == 0 {
			return errors.New("the first fetch did not start")
		}
		return nil
	})
	for range callers {
		wg.Go(func() { errs <- c.Fetch(ctx, o.url) })
	}
	r := c.repo(o.url)
	probe.Eventually(t, 10*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		n := 0
		if r.next != nil {
			n = r.next.waiters
		}
		if n != callers {
			return fmt.Errorf("%d of %d callers wait for the next fetch", n, callers)
		}
		return nil
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := runs.Load(); got != 2 {
		t.Errorf("%d fetches ran for %d concurrent callers, want 2", got, callers+1)
	}
}

func TestFetchCanceledRunnerDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	if err := c.Fetch(t.Context(), o.url); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	var once sync.Once
	c.afterFetch = func(string) {
		once.Do(func() { close(started); cancel() })
	}
	// The first caller's context ends during its fetch; its error is its
	// own, and a caller waiting meanwhile still gets a fetch.
	done := make(chan error, 1)
	go func() { done <- c.Fetch(ctx, o.url) }()
	<-started
	if err := c.Fetch(t.Context(), o.url); err != nil {
		t.Errorf("second caller: %v", err)
	}
	<-done
}

func TestSharedDirectoryAcrossCaches(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	// Several caches on one directory stand for several processes: the
	// lock file serialises their clones and fetches.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		c := New(dir)
		wg.Go(func() {
			errs <- c.Fetch(t.Context(), o.url)
			_, err := c.ReadFile(t.Context(), o.url, o.feature, "docs/x.md")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	mirrors, _ := filepath.Glob(filepath.Join(dir, "*.git"))
	if len(mirrors) != 1 {
		t.Errorf("mirrors = %v, want one", mirrors)
	}
}

// TestFailingCloneHidesCredentials: git's errors quote the URL; the
// error shows it as https://***@host/... whatever git printed.
func TestFailingCloneHidesCredentials(t *testing.T) {
	t.Parallel()
	c := New(t.TempDir())
	// Nothing listens on port 1: the clone fails at once.
	for _, u := range []string{"http://ada:s3cret-tok3n@127.0.0.1:1/team/app.git", "http://s3cret-tok3n@127.0.0.1:1/team/app.git"} {
		_, err := c.ListRefs(t.Context(), u)
		if err == nil {
			t.Fatalf("ListRefs(%s) succeeded", u)
		}
		if strings.Contains(err.Error(), "s3cret-tok3n") || !strings.Contains(err.Error(), "http://***@127.0.0.1:1/team/app.git") {
			t.Errorf("error = %v, want the URL shown as http://***@127.0.0.1:1/team/app.git", err)
		}
	}
}

// TestProjectsHaveTheirOwnMirrors: two projects of the same URL fetch
// into two mirrors; a commit one project's mirror holds (a pull request's
// head, fetched from a fork) is not in the other's.
func TestProjectsHaveTheirOwnMirrors(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	root := New(t.TempDir())
	a, b := root.Project("project-a"), root.Project("project-b")
	if root.Project("project-a") != a {
		t.Error("Project returns a new cache for the same ID")
	}
	for _, c := range []*Cache{a, b} {
		if err := c.Fetch(t.Context(), o.url); err != nil {
			t.Fatal(err)
		}
	}
	ma, _ := filepath.Glob(filepath.Join(root.Dir(), "projects", "project-a", "*.git"))
	mb, _ := filepath.Glob(filepath.Join(root.Dir(), "projects", "project-b", "*.git"))
	if len(ma) != 1 || len(mb) != 1 || ma[0] == mb[0] {
		t.Fatalf("mirrors of project-a %v and project-b %v: want one each, apart", ma, mb)
	}
	if top, _ := filepath.Glob(filepath.Join(root.Dir(), "*.git")); len(top) != 0 {
		t.Errorf("mirrors outside the projects' directories: %v", top)
	}

	// A commit only a fork has, fetched into project-a's mirror by a
	// pull request's merge.
	fork := gittest.Init(t)
	gittest.Git(t, fork, "pull", "-q", o.dir, "main")
	head := gittest.Commit(t, fork, "from the fork", map[string]string{"fork.txt": "fork\n"})
	if _, err := a.MergeCommit(t.Context(), o.url, o.second, "file://"+fork, head); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(t.Context(), o.url, head); err != nil {
		t.Errorf("project-a lost the fork's commit: %v", err)
	}
	if _, err := b.Commit(t.Context(), o.url, head); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("project-b sees the commit fetched for project-a: %v", err)
	}

	for _, id := range []string{"../../escape", "a/b", "", ".."} {
		dir := root.Project(id).Dir()
		if rel, err := filepath.Rel(filepath.Join(root.Dir(), "projects"), dir); err != nil || strings.Contains(rel, "..") || strings.ContainsRune(rel, filepath.Separator) {
			t.Errorf("Project(%q).Dir() = %s, outside DIR/projects", id, dir)
		}
	}
}

// TestMaterializeOwnNeedsNoMirror checks that a working copy made for a
// job that cannot read the cache has its own objects: it still works
// once the cache is gone.
func TestMaterializeOwnNeedsNoMirror(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	cacheDir := t.TempDir()
	c := New(cacheDir)
	dst := filepath.Join(t.TempDir(), "job", "repo")
	if err := c.MaterializeOwn(t.Context(), o.url, o.first, "main", dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git", "objects", "info", "alternates")); !os.IsNotExist(err) {
		t.Fatalf("the working copy borrows objects: %v", err)
	}
	if err := os.RemoveAll(cacheDir); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, dst, "rev-parse", "HEAD"); got != o.first {
		t.Errorf("HEAD = %s, want %s", got, o.first)
	}
	if got := gittest.Git(t, dst, "fsck", "--no-dangling"); got != "" {
		t.Errorf("fsck = %q", got)
	}
}

func TestHeadBranch(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	if got, err := c.HeadBranch(t.Context(), o.url); err != nil || got != "main" {
		t.Fatalf("HeadBranch() = %q, %v; want main", got, err)
	}
	// A repository whose HEAD is master, as older ones are.
	gittest.Git(t, o.dir, "checkout", "-q", "-b", "master")
	if got, err := c.HeadBranch(t.Context(), o.url); err != nil || got != "master" {
		t.Fatalf("HeadBranch() = %q, %v; want master", got, err)
	}
	// A detached HEAD names no branch.
	gittest.Git(t, o.dir, "checkout", "-q", "--detach", o.first)
	if got, err := c.HeadBranch(t.Context(), o.url); !errors.Is(err, ErrUnknownRevision) {
		t.Fatalf("HeadBranch() of a detached HEAD = %q, %v; want ErrUnknownRevision", got, err)
	}
	if _, err := c.HeadBranch(t.Context(), "file://"+t.TempDir()+"/none"); err == nil {
		t.Fatal("HeadBranch() of no repository: no error")
	}
}

func TestRemoveProject(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	p := c.Project("p1")
	if err := p.Fetch(t.Context(), o.url); err != nil {
		t.Fatal(err)
	}
	other := c.Project("p2")
	if err := other.Fetch(t.Context(), o.url); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveProject("p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the removed project's mirrors are still there: %v", err)
	}
	if _, err := os.Stat(other.Dir()); err != nil {
		t.Fatalf("another project's mirrors went too: %v", err)
	}
	if c.Project("p1") == p {
		t.Fatal("Project() gives back the removed project's cache")
	}
}

// TestResolveReadsALocalOrigin: a branch or tag of a repository on this
// machine is resolved by reading its refs, with no fetch while the mirror
// has the head, and a fetch when it does not: a new commit, a force push
// to a commit the mirror lacks, packed refs, an annotated tag, a deleted
// branch (an error), and a bare origin named by its plain path.
func TestResolveReadsALocalOrigin(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	bare := t.TempDir()
	gittest.Git(t, bare, "clone", "-q", "--bare", o.dir, ".")
	for _, tc := range []struct{ name, url, dir string }{
		{"working tree, file URL", o.url, o.dir},
		{"bare, plain path", bare, bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(t.TempDir())
			var fetches atomic.Int32
			c.afterFetch = func(string) { fetches.Add(1) }
			ctx := t.Context()
			if err := c.Fetch(ctx, tc.url); err != nil {
				t.Fatal(err)
			}
			resolve := func(ref, want string, wantFetches int32) {
				t.Helper()
				before := fetches.Load()
				got, err := c.Resolve(ctx, tc.url, ref)
				if err != nil || got != want {
					t.Fatalf("Resolve(%s) = %q, %v; want %s", ref, got, err, want)
				}
				if n := fetches.Load() - before; n != wantFetches {
					t.Errorf("Resolve(%s) fetched %d times, want %d", ref, n, wantFetches)
				}
			}
			resolve("refs/heads/main", o.second, 0)
			resolve("refs/tags/v1", o.first, 0) // annotated: the commit it tags
			resolve("refs/tags/light", o.first, 0)

			// setMain points the origin's main at sha, a commit of o.dir.
			setMain := func(sha string) {
				if tc.dir == bare {
					gittest.Git(t, o.dir, "push", "-q", "--force", bare, sha+":refs/heads/main")
					return
				}
				gittest.Git(t, tc.dir, "update-ref", "refs/heads/main", sha)
			}
			// A new commit: the mirror lacks it, so one fetch.
			gittest.Git(t, o.dir, "checkout", "-q", "--detach", o.first)
			third := gittest.Commit(t, o.dir, "third", map[string]string{"third.txt": "x\n"})
			setMain(third)
			resolve("refs/heads/main", third, 1)
			// Forced back to a commit the mirror has: no fetch.
			setMain(o.second)
			resolve("refs/heads/main", o.second, 0)
			// Forced to a commit the mirror has never seen.
			forced := gittest.Commit(t, o.dir, "forced", map[string]string{"forced.txt": "x\n"})
			setMain(forced)
			resolve("refs/heads/main", forced, 1)
			// Packed refs are read too.
			gittest.Git(t, tc.dir, "pack-refs", "--all")
			resolve("refs/heads/main", forced, 0)
			resolve("refs/heads/feature", o.feature, 0)
			// A deleted branch is no branch, whatever the mirror had.
			gittest.Git(t, tc.dir, "update-ref", "-d", "refs/heads/feature")
			if _, err := c.Resolve(ctx, tc.url, "refs/heads/feature"); !errors.Is(err, ErrUnknownRevision) {
				t.Errorf("Resolve(deleted branch) error = %v, want ErrUnknownRevision", err)
			}
			// Names that are not plain refs are left to git.
			if got, err := c.Resolve(ctx, tc.url, "refs/heads/main~1"); err != nil || got != third {
				t.Errorf("Resolve(refs/heads/main~1) = %q, %v; want %s", got, err, third)
			}
			for _, ref := range []string{"refs/heads/../HEAD", "refs/heads/.x"} {
				if _, err := c.Resolve(ctx, tc.url, ref); !errors.Is(err, ErrUnknownRevision) {
					t.Errorf("Resolve(%q) error = %v, want ErrUnknownRevision", ref, err)
				}
			}
		})
	}
}

func TestFullRef(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]bool{
		"refs/heads/main": true, "refs/heads/feat/x": true, "refs/tags/v1.0": true,
		"main": false, "refs/heads/": false, "refs/heads/../../x": false, "refs/heads/a//b": false,
		"refs/heads/.hidden": false, "refs/heads/x.lock": false, "refs/heads/a b": false,
		"refs/heads/a~1": false, "refs/heads/a^": false, "refs/heads/a:b": false, "refs/heads/x.": false,
		"refs/remotes/origin/x": false, "refs/heads/a\\b": false, "refs/heads/a@{1}": false,
	} {
		if got := fullRef(ref); got != want {
			t.Errorf("fullRef(%q) = %v, want %v", ref, got, want)
		}
	}
}

// TestSSHIdentity: a cache with an SSH identity clones, fetches and
// lists the refs of a repository served by the real OpenSSH server with
// that key; without it the same URL is refused.
func TestSSHIdentity(t *testing.T) {
	t.Parallel()
	srv := gitsshtest.Start(t)
	o := newOrigin(t)
	url := srv.URL(o.dir)
	ctx := t.Context()
	c := New(t.TempDir())
	if _, err := c.Resolve(ctx, url, "refs/heads/main"); err == nil {
		t.Fatal("Resolve without the identity succeeded")
	}
	c.SetSSH(&gitssh.Identity{Key: secret.NewValue(srv.ClientKey), KnownHosts: srv.HostKnown})
	if sha, err := c.Resolve(ctx, url, "refs/heads/main"); err != nil || sha != o.second {
		t.Fatalf("Resolve(main) = %q, %v; want %s", sha, err, o.second)
	}
	if b, err := c.ReadFile(ctx, url, o.first, "README.md"); err != nil || string(b) != "hello\n" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	third := gittest.Commit(t, o.dir, "third", map[string]string{"new.txt": "new\n"})
	if sha, err := c.Resolve(ctx, url, "refs/heads/main"); err != nil || sha != third {
		t.Errorf("Resolve(main) after a commit = %q, %v; want %s", sha, err, third)
	}
	if refs, err := c.ListRefs(ctx, url); err != nil || refs["refs/heads/feature"] != o.feature {
		t.Errorf("ListRefs = %v, %v", refs, err)
	}
	c.SetSSH(&gitssh.Identity{Key: secret.NewValue(srv.OtherKey), KnownHosts: srv.HostKnown})
	if err := c.Fetch(ctx, url); err == nil || !strings.Contains(err.Error(), "Permission denied (publickey)") {
		t.Errorf("Fetch with another key: %v", err)
	}
}
