package blob_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/blob"
)

func TestDirFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	d, err := blob.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Put(t.Context(), "a/b/c", strings.NewReader("secret")); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		fi, _ := e.Info()
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		if p != dir && fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err := d.Delete(t.Context(), "a/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects", "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directories stay after the last object went: %v", err)
	}
}

// TestDirRefusesSymlinkEscape plants a symbolic link inside the store that
// points outside: no operation may follow it.
func TestDirRefusesSymlinkEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := blob.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.Symlink(outside, filepath.Join(dir, "objects", "link")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := d.Get(ctx, "link/victim", blob.Range{}); err == nil {
		t.Error("get followed a link out of the store")
	}
	if _, err := d.Put(ctx, "link/planted", strings.NewReader("x")); err == nil {
		t.Error("put followed a link out of the store")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Error("a file was written outside the store")
	}
	if err := d.Delete(ctx, "link/victim"); err != nil && !strings.Contains(err.Error(), "escape") {
		t.Logf("delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "victim")); err != nil {
		t.Error("delete removed a file outside the store")
	}
	for info, err := range d.List(ctx, "link/") {
		if err == nil {
			t.Errorf("list followed the link: %+v", info)
		}
	}
}

func TestDirKeyAndDirectoryConflict(t *testing.T) {
	d, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Put(t.Context(), "a", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	_, err = d.Put(t.Context(), "a/b", strings.NewReader("y"))
	if err == nil || !strings.Contains(err.Error(), "both an object and a key below it") {
		t.Fatalf("put a/b over object a: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(d.String()[len("file://"):], "tmp"))
	if len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}
