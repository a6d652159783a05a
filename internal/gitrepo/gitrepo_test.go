package gitrepo_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

func open(t *testing.T, dir string) *gitrepo.Repo {
	t.Helper()
	r, err := gitrepo.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"a/b/c.txt": "x"})

	r := open(t, filepath.Join(dir, "a", "b"))
	if got, want := r.Root(), dir; got != want {
		t.Errorf("Root() = %q, want %q", got, want)
	}
	if got, want := r.GitDir(), filepath.Join(dir, ".git"); got != want {
		t.Errorf("GitDir() = %q, want %q", got, want)
	}
	if got, want := r.ObjectsDir(), filepath.Join(dir, ".git", "objects"); got != want {
		t.Errorf("ObjectsDir() = %q, want %q", got, want)
	}
	if got, want := r.IndexFile(), filepath.Join(dir, ".git", "index"); got != want {
		t.Errorf("IndexFile() = %q, want %q", got, want)
	}
	if got, want := r.ObjectFormat(), "sha1"; got != want {
		t.Errorf("ObjectFormat() = %q, want %q", got, want)
	}
}

func TestOpenNotRepository(t *testing.T) {
	t.Parallel()
	bare := t.TempDir()
	gittest.Git(t, bare, "init", "-q", "--bare", ".")
	work := gittest.Init(t)
	tests := []struct {
		name string
		dir  string
	}{
		{"plain directory", t.TempDir()},
		{"bare repository", bare},
		{"inside .git", filepath.Join(work, ".git")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gitrepo.Open(t.Context(), tt.dir)
			if !errors.Is(err, gitrepo.ErrNotRepository) {
				t.Fatalf("Open(%s) error = %v, want ErrNotRepository", tt.name, err)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name the directory", err)
			}
		})
	}
	if _, err := gitrepo.Open(t.Context(), filepath.Join(work, "missing")); err == nil {
		t.Error("Open(missing dir) succeeded")
	}
}

func TestWorktree(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "first", map[string]string{"f": "x"})
	wt := filepath.Join(t.TempDir(), "wt")
	gittest.Git(t, dir, "worktree", "add", "-q", "-b", "feature", wt)
	wt, _ = filepath.EvalSymlinks(wt)

	r := open(t, wt)
	if got, want := r.Root(), wt; got != want {
		t.Errorf("Root() = %q, want %q", got, want)
	}
	if got, want := r.ObjectsDir(), filepath.Join(dir, ".git", "objects"); got != want {
		t.Errorf("ObjectsDir() = %q, want %q", got, want)
	}
	if got, want := r.IndexFile(), filepath.Join(dir, ".git", "worktrees", "wt", "index"); got != want {
		t.Errorf("IndexFile() = %q, want %q", got, want)
	}
	if got, want := r.CommonDir(), filepath.Join(dir, ".git"); got != want {
		t.Errorf("CommonDir() = %q, want %q", got, want)
	}
	b, err := r.CurrentBranch(t.Context())
	if err != nil || b != "feature" {
		t.Errorf("CurrentBranch() = %q, %v, want feature", b, err)
	}
}

func TestHeadAndBranches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := gittest.Init(t)
	r := open(t, dir)

	if _, err := r.HeadSHA(ctx); !errors.Is(err, gitrepo.ErrNoCommits) {
		t.Errorf("HeadSHA() on empty repo error = %v, want ErrNoCommits", err)
	}
	if b, err := r.CurrentBranch(ctx); err != nil || b != "main" {
		t.Errorf("CurrentBranch() on empty repo = %q, %v, want main", b, err)
	}
	if b, err := r.DefaultBranch(ctx); err != nil || b != "main" {
		t.Errorf("DefaultBranch() on empty repo = %q, %v, want main (the current branch)", b, err)
	}

	first := gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	if got, err := r.HeadSHA(ctx); err != nil || got != first {
		t.Errorf("HeadSHA() = %q, %v, want %q", got, err, first)
	}

	gittest.Git(t, dir, "checkout", "-q", "--detach")
	if b, err := r.CurrentBranch(ctx); err != nil || b != "" {
		t.Errorf("CurrentBranch() detached = %q, %v, want empty", b, err)
	}
	gittest.Git(t, dir, "checkout", "-q", "-b", "feature/x")
	if b, err := r.CurrentBranch(ctx); err != nil || b != "feature/x" {
		t.Errorf("CurrentBranch() = %q, %v, want feature/x", b, err)
	}
}

func TestDefaultBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"main exists", func(t *testing.T, dir string) {
			gittest.Git(t, dir, "checkout", "-q", "-b", "topic")
		}, "main"},
		{"master exists", func(t *testing.T, dir string) {
			gittest.Git(t, dir, "branch", "-m", "main", "master")
			gittest.Git(t, dir, "checkout", "-q", "-b", "topic")
		}, "master"},
		{"main preferred over master", func(t *testing.T, dir string) {
			gittest.Git(t, dir, "branch", "master")
			gittest.Git(t, dir, "checkout", "-q", "-b", "topic")
		}, "main"},
		{"neither: current branch", func(t *testing.T, dir string) {
			gittest.Git(t, dir, "branch", "-m", "main", "trunk")
		}, "trunk"},
		{"origin/HEAD wins", func(t *testing.T, dir string) {
			gittest.Git(t, dir, "update-ref", "refs/remotes/origin/develop", "HEAD")
			gittest.Git(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")
		}, "develop"},
		{"origin/master only", func(t *testing.T, dir string) {
			gittest.Git(t, dir, "update-ref", "refs/remotes/origin/master", "HEAD")
			gittest.Git(t, dir, "branch", "-m", "main", "topic")
		}, "master"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := gittest.Init(t)
			gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
			tt.setup(t, dir)
			got, err := open(t, dir).DefaultBranch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DefaultBranch() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string
	}{
		{"https://github.com/batonci/baton.git", "batonci/baton"},
		{"https://github.com/batonci/baton", "batonci/baton"},
		{"https://github.com/batonci/baton/", "batonci/baton"},
		{"https://user:token@github.com/batonci/baton.git", "batonci/baton"},
		{"http://gitlab.example.com:8080/group/sub/proj.git", "group/sub/proj"},
		{"ssh://git@github.com/batonci/baton.git", "batonci/baton"},
		{"ssh://git@github.com:2222/batonci/baton.git", "batonci/baton"},
		{"git://example.com/owner/name.git", "owner/name"},
		{"git@github.com:batonci/baton.git", "batonci/baton"},
		{"github.com:batonci/baton", "batonci/baton"},
		{"git@bitbucket.org:team/repo.git", "team/repo"},
		{"file:///srv/git/owner/name.git", "owner/name"},
		{"file:///srv/git/owner/name/.git", "owner/name"},
		{"/srv/git/owner/name.git", "owner/name"},
		{"../relative/owner/name", "owner/name"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := gitrepo.SlugFromURL(tt.url); got != tt.want {
			t.Errorf("SlugFromURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

func TestRepoSlugAndName(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "my-project")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, dir, "init", "-q", ".")

	r := open(t, dir)
	if got := r.RemoteURL(); got != "" {
		t.Errorf("RemoteURL() without origin = %q, want empty", got)
	}
	if got, want := r.Slug(), "my-project"; got != want {
		t.Errorf("Slug() without origin = %q, want %q", got, want)
	}
	if got, want := r.RepoName(), "my-project"; got != want {
		t.Errorf("RepoName() without origin = %q, want %q", got, want)
	}

	gittest.Git(t, dir, "remote", "add", "origin", "git@github.com:acme/widgets.git")
	r = open(t, dir)
	if got, want := r.RemoteURL(), "git@github.com:acme/widgets.git"; got != want {
		t.Errorf("RemoteURL() = %q, want %q", got, want)
	}
	if got, want := r.Slug(), "acme/widgets"; got != want {
		t.Errorf("Slug() = %q, want %q", got, want)
	}
	if got, want := r.RepoName(), "widgets"; got != want {
		t.Errorf("RepoName() = %q, want %q", got, want)
	}
}

func TestCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := gittest.Init(t)
	first := gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	gittest.Write(t, dir, map[string]string{"f": "2"})
	gittest.Git(t, dir, "-c", "user.name=Ignored", "commit", "-q", "-a",
		"-m", "Add the thing\n\nIt is needed.\nReally.",
		"--date=2024-03-01T10:20:30+02:00")
	gittest.Git(t, dir, "tag", "-a", "-m", "release", "v1.0")

	r := open(t, dir)
	got, err := r.Commit(ctx, "v1.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.SHA) != 40 || len(got.Parents) != 1 || got.Parents[0] != first {
		t.Errorf("Commit: SHA %q parents %q, want a 40-hex SHA with parent %q", got.SHA, got.Parents, first)
	}
	want := gitrepo.Commit{
		SHA: got.SHA, Parents: got.Parents,
		AuthorName: "Ada Tester", AuthorEmail: "ada@example.com",
		CommitterName: "Cy Committer", CommitterEmail: "cy@example.com",
		Subject: "Add the thing", Message: "Add the thing\n\nIt is needed.\nReally.",
		AuthorTime: got.AuthorTime, CommitTime: got.CommitTime,
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("Commit(v1.0) mismatch (-want +got):\n%s", diff)
	}
	if at := got.AuthorTime.UTC().Format("2006-01-02T15:04:05"); at != "2024-03-01T08:20:30" {
		t.Errorf("AuthorTime = %s, want 2024-03-01T08:20:30 UTC", at)
	}
	if _, off := got.AuthorTime.Zone(); off != 2*3600 {
		t.Errorf("AuthorTime zone offset = %d, want +2h", off)
	}

	for _, bad := range []string{"nope", "--output=/tmp/x", strings.Repeat("0", 40)} {
		if _, err := r.Commit(ctx, bad); !errors.Is(err, gitrepo.ErrUnknownRevision) {
			t.Errorf("Commit(%q) error = %v, want ErrUnknownRevision", bad, err)
		}
	}
}

func TestChangedFiles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := gittest.Init(t)
	gittest.Commit(t, dir, "base", map[string]string{"lib/a.go": "a", "docs/x.md": "x", "old.txt": "some longer content\nline 2\n"})
	gittest.Git(t, dir, "checkout", "-q", "-b", "feature")
	gittest.Commit(t, dir, "feature 1", map[string]string{"lib/a.go": "a2", "with space.txt": "s"})
	gittest.Git(t, dir, "mv", "old.txt", "new.txt")
	gittest.Commit(t, dir, "feature 2", nil)
	gittest.Git(t, dir, "checkout", "-q", "main")
	gittest.Commit(t, dir, "main moves on", map[string]string{"docs/x.md": "x2"})
	r := open(t, dir)

	tests := []struct {
		rng  string
		want []string
	}{
		{"main...feature", []string{"lib/a.go", "new.txt", "with space.txt"}},
		{"main..feature", []string{"docs/x.md", "lib/a.go", "new.txt", "with space.txt"}},
		{"feature...main", []string{"docs/x.md"}},
		{"feature~1...feature", []string{"new.txt"}},
		{"main...main", nil},
	}
	for _, tt := range tests {
		got, err := r.ChangedFiles(ctx, tt.rng)
		if err != nil {
			t.Errorf("ChangedFiles(%q): %v", tt.rng, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ChangedFiles(%q) mismatch (-want +got):\n%s", tt.rng, diff)
		}
	}

	for _, rng := range []string{"main...nosuch", "nosuch...main", "deadbeef..main"} {
		_, err := r.ChangedFiles(ctx, rng)
		if !errors.Is(err, gitrepo.ErrUnknownRevision) {
			t.Errorf("ChangedFiles(%q) error = %v, want ErrUnknownRevision", rng, err)
			continue
		}
		missing := strings.Split(strings.ReplaceAll(rng, "...", ".."), "..")
		name := missing[0]
		if name == "main" {
			name = missing[1]
		}
		if !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("ChangedFiles(%q) error %q does not name %q", rng, err, name)
		}
	}
}

func TestTagsAt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := gittest.Init(t)
	first := gittest.Commit(t, dir, "first", map[string]string{"f": "1"})
	gittest.Git(t, dir, "tag", "v0.1")
	second := gittest.Commit(t, dir, "second", map[string]string{"f": "2"})
	gittest.Git(t, dir, "tag", "v0.2")
	gittest.Git(t, dir, "tag", "-a", "-m", "annotated", "release-2")
	r := open(t, dir)

	tests := []struct {
		rev  string
		want []string
	}{
		{first, []string{"v0.1"}},
		{second, []string{"release-2", "v0.2"}},
		{"HEAD", []string{"release-2", "v0.2"}},
	}
	for _, tt := range tests {
		got, err := r.TagsAt(ctx, tt.rev)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("TagsAt(%s) mismatch (-want +got):\n%s", tt.rev, diff)
		}
	}
	gittest.Commit(t, dir, "third", nil)
	if got, err := r.TagsAt(ctx, "HEAD"); err != nil || len(got) != 0 {
		t.Errorf("TagsAt(untagged) = %q, %v, want none", got, err)
	}
	if _, err := r.TagsAt(ctx, "nosuch"); !errors.Is(err, gitrepo.ErrUnknownRevision) {
		t.Errorf("TagsAt(nosuch) error = %v, want ErrUnknownRevision", err)
	}
}

func TestIsDirty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   bool
	}{
		{"clean", func(t *testing.T, dir string) {}, false},
		{"modified", func(t *testing.T, dir string) {
			gittest.Write(t, dir, map[string]string{"f": "changed"})
		}, true},
		{"staged", func(t *testing.T, dir string) {
			gittest.Write(t, dir, map[string]string{"f": "changed"})
			gittest.Git(t, dir, "add", "f")
		}, true},
		{"deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "f"))
		}, true},
		{"untracked", func(t *testing.T, dir string) {
			gittest.Write(t, dir, map[string]string{"new": "n"})
		}, true},
		{"ignored only", func(t *testing.T, dir string) {
			gittest.Write(t, dir, map[string]string{"build/out.bin": "n"})
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := gittest.Init(t)
			gittest.Commit(t, dir, "first", map[string]string{"f": "1", ".gitignore": "build/\n"})
			tt.change(t, dir)
			index := filepath.Join(dir, ".git", "index")
			before, _ := os.ReadFile(index)
			got, err := open(t, dir).IsDirty(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("IsDirty() = %v, want %v", got, tt.want)
			}
			after, _ := os.ReadFile(index)
			if string(before) != string(after) {
				t.Error("IsDirty rewrote the index")
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	t.Parallel()
	got := gitrepo.Environ([]string{"PATH=/bin", "GIT_DIR=/elsewhere", "GIT_INDEX_FILE=/x", "LC_ALL=de_DE", "HOME=/h"}, "EXTRA=1")
	want := []string{"PATH=/bin", "HOME=/h", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "EXTRA=1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Environ mismatch (-want +got):\n%s", diff)
	}
}
