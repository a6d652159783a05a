package repocache

import (
	"errors"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
)

func TestMergeCommit(t *testing.T) {
	o := newOrigin(t)
	// A fork with a commit the origin does not have.
	fork := gittest.Init(t)
	gittest.Git(t, fork, "fetch", "-q", o.url, "main")
	gittest.Git(t, fork, "checkout", "-q", "-B", "main", "FETCH_HEAD")
	forked := gittest.Commit(t, fork, "from a fork", map[string]string{"fork.txt": "fork\n"})
	conflicting := gittest.Commit(t, fork, "conflicts", map[string]string{"src/a.go": "package b\n"})
	_ = conflicting

	c := New(t.TempDir())
	ctx := t.Context()
	for _, tc := range []struct {
		name, headURL, head string
		files               []string
	}{
		{"same repository", "", o.feature, []string{"docs/x.md", "src/a.go"}},
		{"fork", "file://" + fork, forked, []string{"fork.txt", "src/a.go"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sha, err := c.MergeCommit(ctx, o.url, o.second, tc.headURL, tc.head)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Commit(ctx, o.url, sha)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(info.Parents, " "); got != o.second+" "+tc.head {
				t.Errorf("parents %q, want base then head", got)
			}
			for _, f := range tc.files {
				if _, err := c.ReadFile(ctx, o.url, sha, f); err != nil {
					t.Errorf("merge lacks %s: %v", f, err)
				}
			}
			again, err := New(t.TempDir()).MergeCommit(ctx, o.url, o.second, tc.headURL, tc.head)
			if err != nil || again != sha {
				t.Errorf("merging again in another cache = %s, %v; want the same %s", again, err, sha)
			}
		})
	}
	t.Run("conflict", func(t *testing.T) {
		base := gittest.Commit(t, o.dir, "main changes a.go", map[string]string{"src/a.go": "package c\n"})
		_, err := c.MergeCommit(ctx, o.url, base, "file://"+fork, conflicting)
		if !errors.Is(err, ErrMergeConflict) {
			t.Errorf("err = %v, want ErrMergeConflict", err)
		}
	})
	t.Run("unknown head", func(t *testing.T) {
		_, err := c.MergeCommit(ctx, o.url, o.second, "", strings.Repeat("1", 40))
		if !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("err = %v, want ErrUnknownRevision", err)
		}
	})
}
