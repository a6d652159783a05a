package repocache

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"

	"github.com/google/go-cmp/cmp"
)

func TestListFilesLogArchive(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	ctx := t.Context()
	files, err := c.ListFiles(ctx, o.url, o.second)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path+" "+f.Mode)
	}
	want := []string{".semaphore/semaphore.yml 100644", "LINK 120000", "README.md 100644", "src/a.go 100644"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("ListFiles (-want +got):\n%s", diff)
	}
	if files[2].Size != int64(len("hello\n")) {
		t.Errorf("README.md size = %d", files[2].Size)
	}

	log, err := c.Log(ctx, o.url, o.feature, "README.md", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].SHA != o.feature || log[1].SHA != o.first || log[1].Subject != "first" || log[0].AuthorName == "" {
		t.Errorf("Log(README.md) = %+v", log)
	}
	all, err := c.Log(ctx, o.url, o.second, "", 1)
	if err != nil || len(all) != 1 || all[0].SHA != o.second || all[0].Message != "second\n\nwith a body" {
		t.Errorf("Log(\"\", 1) = %+v, %v", all, err)
	}

	var buf bytes.Buffer
	if err := c.Archive(ctx, o.url, o.second, &buf); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		}
	}
	if got["src/a.go"] != "package a\n" || got["README.md"] != "hello\n" {
		t.Errorf("archive = %v", got)
	}
	if err := c.Archive(ctx, o.url, "0000000000000000000000000000000000000000", io.Discard); err == nil {
		t.Error("Archive of a missing commit succeeded")
	}
}

func TestResolveCached(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	c := New(t.TempDir())
	ctx := t.Context()
	if _, err := c.ResolveCached(ctx, o.url, "refs/heads/main"); err == nil {
		t.Error("ResolveCached answered before any fetch")
	}
	if _, err := c.Resolve(ctx, o.url, "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	moved := gittest.Commit(t, o.dir, "third", map[string]string{"c": "c\n"})
	got, err := c.ResolveCached(ctx, o.url, "refs/heads/main")
	if err != nil || got != o.second {
		t.Errorf("ResolveCached = %s, %v; want the head as last fetched, %s", got, err, o.second)
	}
	if got, _ := c.Resolve(ctx, o.url, "refs/heads/main"); got != moved {
		t.Errorf("Resolve = %s, want %s", got, moved)
	}
	if got, _ := c.ResolveCached(ctx, o.url, "refs/heads/main"); got != moved {
		t.Errorf("ResolveCached after a fetch = %s, want %s", got, moved)
	}
}
