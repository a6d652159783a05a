package privdir_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/privdir"
)

func TestRestrictTakesOffGroupAndOtherBits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, nil, 0o644)
	os.MkdirAll(filepath.Join(dir, "logs", "ab"), 0o755)
	os.Chmod(dir, 0o755)
	files := map[string]fs.FileMode{
		"baton.db": 0o644, "baton.db-wal": 0o666, "secret.key": 0o600,
		"logs/ab/1.log": 0o644, "repos/pack": 0o444, "bin/hook": 0o755,
	}
	want := map[string]fs.FileMode{
		"baton.db": 0o600, "baton.db-wal": 0o600, "secret.key": 0o600,
		"logs/ab/1.log": 0o600, "repos/pack": 0o400, "bin/hook": 0o700,
		"logs": 0o700, "logs/ab": 0o700, ".": 0o700,
	}
	for name, mode := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	os.Symlink(outside, filepath.Join(dir, "link"))
	if err := privdir.Restrict(dir); err != nil {
		t.Fatal(err)
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o644 {
		t.Errorf("a symlink's target was changed: %v", fi.Mode().Perm())
	}
}

func TestMakeCreatesAPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := privdir.Make(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("stat = %v, %v", fi, err)
	}
}
