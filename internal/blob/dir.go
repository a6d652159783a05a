package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Dir stores objects as files under a local directory: DIR/objects/KEY,
// written to DIR/tmp first and renamed into place, so readers never see a
// partial object. Files are 0600 and directories 0700. Every path goes
// through an os.Root, so neither a key nor a symbolic link planted in the
// directory can reach outside it.
//
// Unlike S3, a directory cannot hold both an object "a" and an object
// "a/b": such a Put fails with an error naming the conflict.
type Dir struct {
	path string
	root *os.Root
}

var _ Store = (*Dir)(nil)

// OpenDir opens (creating it if needed) a local blob directory.
func OpenDir(dir string) (*Dir, error) {
	for _, sub := range []string{"objects", "tmp"} {
		if err := os.MkdirAll(path.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("open blob directory: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open blob directory: %w", err)
	}
	return &Dir{path: dir, root: root}, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

// String names the store, for messages.
func (d *Dir) String() string { return "file://" + d.path }

func objectPath(key string) string { return "objects/" + key }

// PutSized implements Store.
func (d *Dir) PutSized(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if size < 0 {
		return Info{}, fmt.Errorf("put %s: %w: negative size %d", key, ErrSizeMismatch, size)
	}
	return d.Put(ctx, key, &sizedReader{r: r, left: size})
}

// Put implements Store.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	tmp := "tmp/" + hex.EncodeToString(rnd[:])
	f, err := d.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			d.root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := context.Cause(ctx); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	dst := objectPath(key)
	// A concurrent Delete may prune the parent directory between MkdirAll
	// and Rename; try again then.
	for attempt := 0; ; attempt++ {
		if err := d.root.MkdirAll(path.Dir(dst), 0o700); err != nil {
			return Info{}, fmt.Errorf("put %s: %w", key, d.conflict(key, err))
		}
		err = d.root.Rename(tmp, dst)
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue
		}
		return Info{}, fmt.Errorf("put %s: %w", key, d.conflict(key, err))
	}
	committed = true
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// conflict explains the errors a key that is both an object and a
// directory causes.
func (d *Dir) conflict(key string, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.EISDIR) {
		return fmt.Errorf("a local blob directory cannot hold both an object and a key below it (%q): %w", key, err)
	}
	return err
}

// Get implements Store.
func (d *Dir) Get(ctx context.Context, key string, rg Range) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if rg.Offset < 0 || rg.Length < 0 {
		return nil, fmt.Errorf("get %s: negative range", key)
	}
	f, err := d.root.Open(objectPath(key))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if rg.Offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("get %s at %d (size %d): %w", key, rg.Offset, fi.Size(), ErrInvalidRange)
	}
	if _, err := f.Seek(rg.Offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if rg.Length == 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, rg.Length), f}, nil
}

// Stat implements Store.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	fi, err := d.root.Stat(objectPath(key))
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements Store; it also removes directories left empty.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	p := objectPath(key)
	fi, err := d.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := d.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	for dir := path.Dir(p); dir != "objects"; dir = path.Dir(dir) {
		if d.root.Remove(dir) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

// List implements Store.
func (d *Dir) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		if err := validatePrefix(prefix); err != nil {
			yield(Info{}, err)
			return
		}
		start := "objects"
		if i := strings.LastIndex(prefix, "/"); i >= 0 {
			start += "/" + prefix[:i]
		}
		var found []Info
		err := fs.WalkDir(d.root.FS(), start, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if p == start && errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
					return fs.SkipAll
				}
				return err
			}
			if err := context.Cause(ctx); err != nil {
				return err
			}
			if !e.Type().IsRegular() {
				return nil
			}
			key := strings.TrimPrefix(p, "objects/")
			if !strings.HasPrefix(key, prefix) {
				return nil
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted meanwhile
			} else if err != nil {
				return err
			}
			found = append(found, Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
			return nil
		})
		if err != nil {
			yield(Info{}, fmt.Errorf("list %s: %w", prefix, err))
			return
		}
		slices.SortFunc(found, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
		for _, i := range found {
			if !yield(i, nil) {
				return
			}
		}
	}
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return ErrNotFound
	}
	return err
}
