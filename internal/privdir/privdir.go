// Package privdir keeps a directory tree private to this process's user:
// the data directories of the server and of agents hold the database, the
// secret key, tokens, logs, caches and mirrors, which no other user (a
// job's user in particular) may read.
package privdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Make creates dir (and its parents) if needed and restricts it: see
// Restrict.
func Make(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return Restrict(dir)
}

// Restrict takes the group and other permission bits off dir and off
// everything under it (directories 0700, files 0600, or less where the
// owner had less), so that only its owner can read it, as for existing
// data directories made before Baton restricted them. Symbolic links are
// left alone and not followed.
func Restrict(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && os.IsNotExist(err) {
				return nil // removed meanwhile
			}
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		mode := info.Mode().Perm()
		if mode&0o077 == 0 {
			return nil
		}
		if err := os.Chmod(p, mode&^0o077); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restrict %s to its owner: %w", dir, err)
	}
	return nil
}
