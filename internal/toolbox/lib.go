package toolbox

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/batonci/baton/internal/jobsvc"
)

const libUsage = "lib checkout NAME [DIR]"

// runLib puts a script library's files into the job: `lib checkout NAME
// [DIR]` extracts the library NAME, at the commit the workflow fixed (the
// one its pipelines' commands_file "@NAME/..." read), into DIR (default
// NAME, relative to the current directory), which must not exist or be
// empty. The job gets the files through its service; the library's
// repository and credentials stay on the server.
func runLib(c *call, args []string) int {
	pos, _, err := parseFlags(args, nil)
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", libUsage)
		return 0
	}
	if err != nil {
		return c.usageError(libUsage, "%v", err)
	}
	if len(pos) == 0 || pos[0] != "checkout" {
		return c.usageError(libUsage, "want checkout")
	}
	if len(pos) < 2 || len(pos) > 3 {
		return c.usageError(libUsage, "checkout wants a library's name and an optional directory")
	}
	name := pos[1]
	dir := name
	if len(pos) == 3 {
		dir = pos[2]
	}
	dst := c.abs(dir)
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 {
		c.errorf("%s is not empty: give lib checkout a new directory", dir)
		return 1
	}
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		c.errorf("cannot check out libraries here: this is not a job that baton runs (%v)", err)
		return 1
	}
	rc, commit, err := svc.Library(c.ctx, name)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	defer rc.Close()
	n, err := extractLibrary(rc, dst)
	if err != nil {
		c.errorf("library %s: %v", name, err)
		return 1
	}
	c.infof("checked out library %s at %s into %s (%d files)", name, shortCommit(commit), dir, n)
	return 0
}

func shortCommit(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// extractLibrary extracts a tar archive of a library into dst (created),
// refusing entries that would land outside it, and returns the number of
// files. A cut-short archive is an error.
func extractLibrary(r io.Reader, dst string) (int, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	root, err := filepath.EvalSymlinks(dst)
	if err != nil {
		return 0, err
	}
	tr := tar.NewReader(r)
	files := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, fmt.Errorf("read the archive: %w", err)
		}
		local := filepath.FromSlash(path.Clean(strings.TrimSuffix(hdr.Name, "/")))
		if local == "." || hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if !filepath.IsLocal(local) {
			return files, fmt.Errorf("entry %q leaves the directory", hdr.Name)
		}
		target := filepath.Join(root, local)
		// Never write through a symbolic link the archive made.
		if parent, err := filepath.EvalSymlinks(filepath.Dir(target)); err == nil && parent != root && !strings.HasPrefix(parent, root+string(filepath.Separator)) {
			return files, fmt.Errorf("entry %q leaves the directory", hdr.Name)
		}
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return files, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return files, err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm()|0o200)
			if err != nil {
				return files, err
			}
			_, werr := io.Copy(f, tr)
			if err := errors.Join(werr, f.Close()); err != nil {
				return files, err
			}
			files++
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return files, err
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil && !errors.Is(err, fs.ErrExist) {
				return files, err
			}
			files++
		}
	}
}
