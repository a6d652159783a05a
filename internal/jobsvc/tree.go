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

// TreeRoot is the name of the tree's root in a tree stream; everything
// else is under it.
const TreeRoot = "a"

// WriteTree writes the file or directory src to w as a tree stream: a tar
// archive of directories and regular files only, named TreeRoot and
// TreeRoot/REL. Like an upload, it copies what symlinks to files point
// at; symlinks to directories inside a directory are left out (skip is
// told, if not nil), so a cycle cannot make it run forever.
func WriteTree(ctx context.Context, w io.Writer, src string, skip func(path, why string)) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if !fi.IsDir() {
		if err := writeTreeFile(tw, src, TreeRoot, fi); err != nil {
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
		name := path.Join(TreeRoot, filepath.ToSlash(rel))
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
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: TreeRoot, Mode: int64(perm.Perm()), Size: int64(len(data)), ModTime: time.Now()}
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

// TreeReader reads a tree stream entry by entry, refusing anything but
// directories and regular files named TreeRoot or under it (links,
// devices, "..", absolute names, entries before the root).
type TreeReader struct {
	tr   *tar.Reader
	seen bool
}

// NewTreeReader reads the tree stream r.
func NewTreeReader(r io.Reader) *TreeReader { return &TreeReader{tr: tar.NewReader(r)} }

// Next returns the next entry's header and its path under the root ("" for
// the root itself, with slashes), then io.EOF at the end of a tree that
// had its root. A regular file's content is read from the TreeReader.
func (t *TreeReader) Next(ctx context.Context) (rel string, hdr *tar.Header, err error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	hdr, err = t.tr.Next()
	if err == io.EOF {
		if !t.seen {
			return "", nil, errors.New("read the tree: it is empty")
		}
		return "", nil, io.EOF
	}
	if err != nil {
		return "", nil, fmt.Errorf("read the tree: %w", err)
	}
	name := strings.TrimSuffix(hdr.Name, "/")
	rel, ok := strings.CutPrefix(name, TreeRoot)
	if !ok || (rel != "" && rel[0] != '/') {
		return "", nil, fmt.Errorf("read the tree: entry %q is outside it", hdr.Name)
	}
	rel = strings.TrimPrefix(rel, "/")
	if rel != "" && (!filepath.IsLocal(filepath.FromSlash(rel)) || path.Clean(rel) != rel) {
		return "", nil, fmt.Errorf("read the tree: entry %q leaves it", hdr.Name)
	}
	switch {
	case rel == "" && t.seen:
		return "", nil, errors.New("read the tree: root named twice")
	case rel == "":
		t.seen = true
	case !t.seen:
		return "", nil, fmt.Errorf("read the tree: entry %q comes before its root", hdr.Name)
	}
	if hdr.Typeflag != tar.TypeDir && hdr.Typeflag != tar.TypeReg {
		return "", nil, fmt.Errorf("read the tree: entry %q is neither a file nor a directory", hdr.Name)
	}
	return rel, hdr, nil
}

// Read reads the content of the regular file Next returned last.
func (t *TreeReader) Read(p []byte) (int, error) { return t.tr.Read(p) }

// ReadTree extracts a tree stream to dst, which must not exist, with the
// rules of TreeReader.
func ReadTree(ctx context.Context, r io.Reader, dst string) error {
	tr := NewTreeReader(r)
	for {
		rel, hdr, err := tr.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		perm := fs.FileMode(hdr.Mode).Perm()
		if hdr.Typeflag == tar.TypeDir {
			if err := os.Mkdir(target, perm|0o700); err != nil {
				return err
			}
		} else if err := readTreeFile(tr, target, perm, hdr); err != nil {
			return err
		}
	}
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
