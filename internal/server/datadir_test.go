package server_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/testenv"
)

// TestDataDirIsPrivateToBaton checks that a server leaves nothing in its
// data directory that another user could read: a directory made by an
// older Baton, with files readable by everyone, is fixed at start, and
// what the start creates (database, key, tokens) is private too.
func TestDataDirIsPrivateToBaton(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	old := testenv.Start(t, testenv.Options{DataDir: dir})
	old.Stop()
	// As an older Baton, or a umask of 022, left it.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			if d.IsDir() {
				os.Chmod(p, 0o755)
			} else {
				os.Chmod(p, 0o644)
			}
		}
		return nil
	})
	os.WriteFile(filepath.Join(dir, "old.log"), []byte("x"), 0o644)

	testenv.Start(t, testenv.Options{DataDir: dir})
	var seen []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		seen = append(seen, rel)
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", rel, info.Mode().Perm())
		}
		return nil
	})
	for _, name := range []string{".", "baton.db", "secret.key", "admin-token", "agent-token", "old.log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v (seen %v)", name, err, seen)
		}
	}
}
