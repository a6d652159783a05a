package toolbox

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// archiveName is the name a path is stored under in a cache archive: as
// given, cleaned, with slashes; absolute paths stay absolute (like
// `tar -P`), so they are restored where they were.
func archiveName(p string) string {
	return filepath.ToSlash(filepath.Clean(p))
}

// writeArchive writes the file or directory tree p (relative to cwd, or
// absolute) to w as a gzip-compressed tar archive whose entries are named
// after p. Symlinks are stored as symlinks; sockets and devices are left
// out.
func writeArchive(ctx context.Context, w io.Writer, p, cwd string) error {
	root := p
	if !filepath.IsAbs(root) {
		root = filepath.Join(cwd, p)
	}
	name := archiveName(p)
	bw := bufio.NewWriterSize(w, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed) // local disk: speed over size
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, file)
		if err != nil {
			return err
		}
		entry := path.Join(name, filepath.ToSlash(rel))
		if rel == "." {
			entry = name
		}
		var link string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(file); err != nil {
				return err
			}
		case fi.IsDir(), fi.Mode().IsRegular():
		default:
			return nil // socket, device, pipe
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = entry
		if fi.IsDir() && !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("archive %s: %w", p, err)
	}
	if err := errors.Join(tw.Close(), zw.Close(), bw.Flush()); err != nil {
		return fmt.Errorf("archive %s: %w", p, err)
	}
	return nil
}

// readArchive extracts a writeArchive archive: relative entries under cwd,
// absolute ones where they say. Existing files are overwritten. It returns
// the path of the first entry: what was restored.
func readArchive(ctx context.Context, r io.Reader, cwd string) (string, error) {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read archive: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	type dirMode struct {
		dir  string
		mode fs.FileMode
	}
	var dirs []dirMode
	restored := ""
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read archive: %w", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		var target string
		if path.IsAbs(name) {
			target = filepath.FromSlash(path.Clean(name))
		} else {
			local := filepath.FromSlash(path.Clean(name))
			if !filepath.IsLocal(local) {
				return "", fmt.Errorf("read archive: entry %q leaves the directory", hdr.Name)
			}
			target = filepath.Join(cwd, local)
		}
		if restored == "" {
			restored = name
		}
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return "", err
			}
			// Writable while filling it; its own mode at the end.
			if err := os.Chmod(target, mode.Perm()|0o700); err != nil {
				return "", err
			}
			dirs = append(dirs, dirMode{target, mode.Perm()})
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			if err := extractFile(target, mode.Perm(), tr); err != nil {
				return "", err
			}
			_ = os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
				if err := os.Remove(target); err != nil {
					return "", err
				}
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return "", err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].dir, dirs[i].mode); err != nil {
			return "", err
		}
	}
	return restored, nil
}

// extractFile writes r to the file target, replacing a read-only one.
func extractFile(target string, perm fs.FileMode, r io.Reader) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if errors.Is(err, fs.ErrPermission) {
		if err := os.Remove(target); err != nil {
			return err
		}
		f, err = os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	}
	if err != nil {
		return err
	}
	_, werr := io.Copy(f, r)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return err
	}
	return os.Chmod(target, perm)
}
