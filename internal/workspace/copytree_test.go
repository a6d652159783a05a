package workspace

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/gitrepo/gittest"
)

func TestCopyTree(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "src")
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	type node struct {
		kind    string // "dir", "file", "link"
		perm    os.FileMode
		content string // file content or link target
	}
	nodes := []struct {
		path string
		node
	}{
		{"", node{"dir", 0o755, ""}},
		{"empty", node{"dir", 0o755, ""}},
		{"private", node{"dir", 0o700, ""}},
		{"private/secret", node{"file", 0o600, "s"}},
		{"shared", node{"dir", 0o775, ""}},
		{"shared/group-writable", node{"file", 0o664, "g"}},
		{"exe.sh", node{"file", 0o755, "#!/bin/sh\n"}},
		{"readonly.txt", node{"file", 0o444, "ro"}},
		{"empty-file", node{"file", 0o644, ""}},
		{"big.bin", node{"file", 0o644, string(bytes.Repeat([]byte{0, 1, 2, 3}, 300_000))}},
		{"a/b/c/deep.txt", node{"file", 0o644, "deep"}},
		{"link", node{"link", 0, "a/b/c/deep.txt"}},
		{"dangling", node{"link", 0, "../nowhere"}},
		{"dirlink", node{"link", 0, "a"}},
		{"locked", node{"dir", 0o555, ""}},
		{"skipped.txt", node{"file", 0o644, "not copied"}},
	}
	var locked []string
	for _, n := range nodes {
		p := filepath.Join(src, n.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch n.kind {
		case "dir":
			if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if n.perm&0o200 == 0 {
				locked = append(locked, p)
			}
		case "file":
			must(t, os.WriteFile(p, []byte(n.content), 0o644))
			must(t, os.Chtimes(p, mtime, mtime))
		case "link":
			must(t, os.Symlink(n.content, p))
		}
		if n.kind != "link" {
			must(t, os.Chmod(p, n.perm))
		}
	}
	t.Cleanup(func() {
		for _, p := range locked {
			os.Chmod(p, 0o755)
		}
	})

	dst := filepath.Join(t.TempDir(), "dst")
	stats, err := copyTree(t.Context(), src, dst, func(rel string) bool { return rel == "skipped.txt" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dst, "locked"), 0o755) })

	for _, n := range nodes {
		p := filepath.Join(dst, n.path)
		fi, err := os.Lstat(p)
		if n.path == "skipped.txt" {
			if err == nil {
				t.Errorf("%s was copied although skip said no", n.path)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", n.path, err)
			continue
		}
		switch n.kind {
		case "dir":
			if !fi.IsDir() || fi.Mode().Perm() != n.perm {
				t.Errorf("%s: mode %v, want dir %v", n.path, fi.Mode(), n.perm)
			}
		case "file":
			data, _ := os.ReadFile(p)
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != n.perm || string(data) != n.content {
				t.Errorf("%s: mode %v, %d bytes; want file %v, %d bytes", n.path, fi.Mode(), len(data), n.perm, len(n.content))
			}
			if !fi.ModTime().Equal(mtime) {
				t.Errorf("%s: mtime %v, want %v", n.path, fi.ModTime(), mtime)
			}
		case "link":
			target, _ := os.Readlink(p)
			if fi.Mode()&os.ModeSymlink == 0 || target != n.content {
				t.Errorf("%s: mode %v target %q, want link to %q", n.path, fi.Mode(), target, n.content)
			}
		}
		if n.kind != "dir" {
			var st syscall.Stat_t
			must(t, syscall.Lstat(p, &st))
			if got, want := stats[filepath.ToSlash(n.path)], statDataOf(&st); got != want {
				t.Errorf("%s: recorded stat %+v, want %+v", n.path, got, want)
			}
		}
	}
	if _, err := copyTree(t.Context(), src, dst, nil); err == nil {
		t.Error("copyTree onto an existing destination succeeded")
	}
}

func TestCopyTreeCanceled(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	for i := range 100 {
		must(t, os.WriteFile(filepath.Join(src, string(rune('a'+i%26))+string(rune('a'+i/26))), []byte("x"), 0o644))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := copyTree(ctx, src, filepath.Join(t.TempDir(), "dst"), nil); err == nil {
		t.Error("copyTree with a canceled context succeeded")
	}
}

func TestIndexRoundTrip(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			gittest.Git(t, dir, "init", "-q", "--object-format="+format, ".")
			gittest.Write(t, dir, map[string]string{"a": "1", "dir/b": "2", "dir/sub/c": "3"})
			must(t, os.Symlink("a", filepath.Join(dir, "l")))
			gittest.Git(t, dir, "-c", "index.version=3", "add", "-A")
			gittest.Git(t, dir, "update-index", "--skip-worktree", "dir/b") // extended flags
			gittest.Git(t, dir, "commit", "-q", "-m", "x")

			data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
			must(t, err)
			hashSize := 20
			if format == "sha256" {
				hashSize = 32
			}
			ix, err := parseIndex(data, hashSize)
			must(t, err)
			var paths []string
			for _, e := range ix.entries {
				paths = append(paths, e.path)
			}
			if got, want := len(paths), 4; got != want {
				t.Fatalf("parsed %d entries %q, want %d", got, paths, want)
			}
			if got := ix.withStats(nil); !bytes.Equal(got, data) {
				t.Error("withStats(nil) changed the index")
			}

			// Patch one entry with stat data git will check.
			var st syscall.Stat_t
			must(t, syscall.Lstat(filepath.Join(dir, "dir", "sub", "c"), &st))
			patched := ix.withStats(map[string]statData{"dir/sub/c": statDataOf(&st)})
			must(t, os.WriteFile(filepath.Join(dir, ".git", "index"), patched, 0o644))
			if out := gittest.Git(t, dir, "ls-files", "--debug", "dir/sub/c"); !bytes.Contains([]byte(out), []byte("size: 1")) {
				t.Errorf("git reads the patched index as:\n%s", out)
			}
			gittest.Git(t, dir, "status", "--porcelain") // git accepts the checksum
		})
	}
	if _, err := parseIndex([]byte("DIRC\x00\x00\x00\x04\x00\x00\x00\x00"+string(make([]byte, 20))), 20); err == nil {
		t.Error("parseIndex accepted index version 4")
	}
	if _, err := parseIndex([]byte("nope"), 20); err == nil {
		t.Error("parseIndex accepted garbage")
	}
}

func TestTemplateTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 6, 7, 8, 9, 999_000_000, time.UTC)
	if got, want := templateTime(now), time.Date(2024, 5, 6, 7, 8, 8, 0, time.UTC); !got.Equal(want) {
		t.Errorf("templateTime(%v) = %v, want %v", now, got, want)
	}
}

func TestConfigQuote(t *testing.T) {
	t.Parallel()
	if got, want := configQuote(`a "b" \c`), `"a \"b\" \\c"`; got != want {
		t.Errorf("configQuote = %s, want %s", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
