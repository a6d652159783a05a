package jobsvc

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// treeRoot is the name of the tree's root in a tree stream; everything
// else is under it.
const treeRoot = "a"

// WriteTree writes the file or directory src to w as a tree stream: a tar
// archive of directories and regular files only, named treeRoot and
// treeRoot/REL. Like an upload, it copies what symlinks to files point
// at; symlinks to directories inside a directory are left out (skip is
// told, if not nil), so a cycle cannot make it run forever.
func WriteTree(ctx context.Context, w io.Writer, src string, skip func(path, why string)) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if !fi.IsDir() {
		if err := writeTreeFile(tw, src, treeRoot, fi); err != nil {
			return err
		}
		return tw.Close()
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(treeRoot, filepath.ToSlash(rel))
		if d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()})
		}
		info, err := os.Stat(p) // follows symlinks
		switch {
		case err != nil:
			if skip != nil {
				skip(p, unwrapPathError(err).Error())
			}
			return nil
		case info.IsDir():
			if skip != nil {
				skip(p, "a symlink to a directory")
			}
			return nil
		case !info.Mode().IsRegular():
			return nil
		}
		return writeTreeFile(tw, p, name, info)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// WriteTreeFile writes data to w as the tree stream of one file.
func WriteTreeFile(w io.Writer, data []byte, perm fs.FileMode) error {
	tw := tar.NewWriter(w)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: treeRoot, Mode: int64(perm.Perm()), Size: int64(len(data)), ModTime: time.Now()}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	return tw.Close()
}

func writeTreeFile(tw *tar.Writer, p, name string, fi fs.FileInfo) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		return err
	}
	// A file that grows meanwhile is cut at the size announced.
	_, err = io.Copy(tw, io.LimitReader(f, fi.Size()))
	return err
}

// ReadTree extracts a tree stream to dst, which must not exist. It
// accepts only directories and regular files named treeRoot or under it:
// anything else (links, devices, "..", absolute names) is an error.
func ReadTree(ctx context.Context, r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	seen := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read the tree: %w", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		rel, ok := strings.CutPrefix(name, treeRoot)
		if !ok || (rel != "" && rel[0] != '/') {
			return fmt.Errorf("read the tree: entry %q is outside it", hdr.Name)
		}
		rel = strings.TrimPrefix(rel, "/")
		if rel != "" && (!filepath.IsLocal(filepath.FromSlash(rel)) || path.Clean(rel) != rel) {
			return fmt.Errorf("read the tree: entry %q leaves it", hdr.Name)
		}
		target := dst
		if rel != "" {
			target = filepath.Join(dst, filepath.FromSlash(rel))
		}
		if rel == "" {
			seen = true
		} else if !seen {
			return fmt.Errorf("read the tree: entry %q comes before its root", hdr.Name)
		}
		perm := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, perm|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := readTreeFile(tr, target, perm, hdr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("read the tree: entry %q is neither a file nor a directory", hdr.Name)
		}
	}
	if !seen {
		return errors.New("read the tree: it is empty")
	}
	return nil
}

func readTreeFile(r io.Reader, target string, perm fs.FileMode, hdr *tar.Header) error {
	// O_EXCL: an entry named twice, or a path through something that is
	// not a directory, fails instead of writing elsewhere.
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o200)
	if err != nil {
		return err
	}
	_, werr := io.CopyBuffer(struct{ io.Writer }{f}, r, make([]byte, 1<<20))
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	return os.Chtimes(target, hdr.ModTime, hdr.ModTime)
}

func unwrapPathError(err error) error {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}
