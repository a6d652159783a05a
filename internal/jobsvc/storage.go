package jobsvc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors storages return.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrTooLarge is an archive larger than the cache's whole budget.
	ErrTooLarge = errors.New("too large")
)

// CacheEntry is one key in a project's cache.
type CacheEntry struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Stored   time.Time `json:"stored"`
	Accessed time.Time `json:"accessed"`
}

// CacheStorage keeps each project's cache: archives by key. Keys are
// checked (ValidKey) before they reach it.
type CacheStorage interface {
	List(ctx context.Context, project string) ([]CacheEntry, error)
	// Stat returns ErrNotFound for a key that is not there.
	Stat(ctx context.Context, project, key string) (CacheEntry, error)
	// Open returns the archive of key (ErrNotFound) and records the access.
	Open(ctx context.Context, project, key string) (io.ReadCloser, error)
	// Store stores r under key unless the key exists (then it returns
	// false). Before the archive appears, it calls room with its size,
	// which may evict keys or refuse.
	Store(ctx context.Context, project, key string, r io.Reader, room func(size int64) error) (size int64, stored bool, err error)
	// Delete returns whether key was there.
	Delete(ctx context.Context, project, key string) (bool, error)
}

// CacheClearer is a CacheStorage that clears a project's cache at once.
type CacheClearer interface {
	Clear(ctx context.Context, project string) error
}

// CacheBudgeter is a CacheStorage that keeps a budget of its own (the
// server's, per project), whatever size the job asks for.
type CacheBudgeter interface {
	Usage(ctx context.Context, project string) (used, budget int64, err error)
}

// Artifact names one artifact path in a project's store.
type Artifact struct {
	Project string
	// Scope is "job", "workflow" or "project".
	Scope string
	// ID is the job's or workflow's ID, or the project's.
	ID string
	// Path is a clean, relative, slash-separated path (CleanArtifactPath).
	Path string
}

// ArtifactStorage keeps artifacts: files and directory trees, moved as
// tree streams (WriteTree, ReadTree).
type ArtifactStorage interface {
	Exists(ctx context.Context, a Artifact) (bool, error)
	// Put stores the tree read from r; ErrExists if a is there and not
	// force.
	Put(ctx context.Context, a Artifact, r io.Reader, force bool) error
	// Get writes a's tree to w; ErrNotFound if it is not there.
	Get(ctx context.Context, a Artifact, w io.Writer) error
	// Delete removes a; ErrNotFound if it is not there.
	Delete(ctx context.Context, a Artifact) error
}

// ValidKey checks a cache key: a file name of at most 250 bytes.
func ValidKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty cache key")
	case k == "." || k == "..":
		return fmt.Errorf("invalid cache key %q", k)
	case len(k) > 250:
		return fmt.Errorf("cache key %q is longer than 250 bytes", k)
	case strings.ContainsAny(k, "/\\\x00"):
		return fmt.Errorf("invalid cache key %q: it contains a slash, a backslash or a NUL byte", k)
	}
	return nil
}

// CleanArtifactPath returns an artifact path relative to its scope,
// whether or not it starts with "/"; ".." cannot leave the scope.
func CleanArtifactPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("invalid artifact path %q", p)
	}
	rel := path.Clean("/" + strings.ReplaceAll(p, `\`, "/"))[1:]
	if rel == "" {
		return "", fmt.Errorf("invalid artifact path %q", p)
	}
	return rel, nil
}

// Compiled on first use: a counted repetition compiles to thousands of
// allocations, which every baton process (a job supervisor, a toolbox
// command) would otherwise pay when it starts.
var plainName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`) })

// dirName turns an ID into a directory name: itself if it is a plain
// name, else a hash of it.
func dirName(s string) string {
	if plainName().MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "x-" + hex.EncodeToString(sum[:12])
}

// LocalCache keeps caches in Dir/<project>: archives in entries/, named by
// key, and archives being written in tmp/.
type LocalCache struct{ Dir string }

func (l LocalCache) dirs(project string) (entries, tmp string) {
	root := filepath.Join(l.Dir, dirName(project))
	return filepath.Join(root, "entries"), filepath.Join(root, "tmp")
}

// List lists the project's keys (none if it has no cache yet).
func (l LocalCache) List(ctx context.Context, project string) ([]CacheEntry, error) {
	entries, _ := l.dirs(project)
	des, err := os.ReadDir(entries)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]CacheEntry, 0, len(des))
	for _, d := range des {
		fi, err := d.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, cacheEntry(d.Name(), fi))
	}
	return out, nil
}

func cacheEntry(key string, fi fs.FileInfo) CacheEntry {
	e := CacheEntry{Key: key, Size: fi.Size(), Stored: fi.ModTime(), Accessed: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Accessed = time.Unix(sys.Atim.Unix())
	}
	return e
}

// Stat returns key's entry.
func (l LocalCache) Stat(ctx context.Context, project, key string) (CacheEntry, error) {
	entries, _ := l.dirs(project)
	fi, err := os.Stat(filepath.Join(entries, key))
	if errors.Is(err, fs.ErrNotExist) {
		return CacheEntry{}, ErrNotFound
	}
	if err != nil {
		return CacheEntry{}, err
	}
	return cacheEntry(key, fi), nil
}

// Open opens key's archive and records the access time, for eviction by
// ACCESS_TIME.
func (l LocalCache) Open(ctx context.Context, project, key string) (io.ReadCloser, error) {
	entries, _ := l.dirs(project)
	p := filepath.Join(entries, key)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil {
		_ = os.Chtimes(p, time.Now(), fi.ModTime())
	}
	return f, nil
}

// Store writes the archive aside and links it into place, so readers
// never see half an archive and concurrent stores of one key store it
// once.
func (l LocalCache) Store(ctx context.Context, project, key string, r io.Reader, room func(int64) error) (int64, bool, error) {
	entries, tmpDir := l.dirs(project)
	for _, d := range []string{entries, tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return 0, false, fmt.Errorf("cache directory: %w", err)
		}
	}
	removeStale(tmpDir)
	f, err := os.CreateTemp(tmpDir, "store-*")
	if err != nil {
		return 0, false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	size, werr := io.Copy(f, r)
	if err := errors.Join(werr, f.Close()); err != nil {
		return 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if err := room(size); err != nil {
		return 0, false, err
	}
	if err := os.Link(tmp, filepath.Join(entries, key)); errors.Is(err, fs.ErrExist) {
		return size, false, nil
	} else if err != nil {
		return 0, false, err
	}
	return size, true, nil
}

// removeStale removes what a killed store or push left behind in dir.
func removeStale(dir string) {
	des, _ := os.ReadDir(dir)
	for _, d := range des {
		if fi, err := d.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			removeAll(filepath.Join(dir, d.Name()))
		}
	}
}

// Delete removes key.
func (l LocalCache) Delete(ctx context.Context, project, key string) (bool, error) {
	entries, _ := l.dirs(project)
	err := os.Remove(filepath.Join(entries, key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// LocalArtifacts keeps artifacts in Dir/<project>/{jobs,workflows,projects}/<id>/<path>.
type LocalArtifacts struct{ Dir string }

func (l LocalArtifacts) path(a Artifact) string {
	plural := map[string]string{"job": "jobs", "workflow": "workflows", "project": "projects"}[a.Scope]
	return filepath.Join(l.Dir, dirName(a.Project), plural, dirName(a.ID), filepath.FromSlash(a.Path))
}

// Exists reports whether a is there.
func (l LocalArtifacts) Exists(ctx context.Context, a Artifact) (bool, error) {
	_, err := os.Lstat(l.path(a))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	return err == nil, err
}

// Put extracts the tree into a staging directory and renames it into
// place, so a pull never sees half a push.
func (l LocalArtifacts) Put(ctx context.Context, a Artifact, r io.Reader, force bool) error {
	dst := l.path(a)
	if ok, err := l.Exists(ctx, a); err != nil {
		return err
	} else if ok && !force {
		return ErrExists
	}
	tmpDir := filepath.Join(l.Dir, dirName(a.Project), ".tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return err
	}
	removeStale(tmpDir)
	staging, err := os.MkdirTemp(tmpDir, "push-")
	if err != nil {
		return err
	}
	defer removeAll(staging)
	staged := filepath.Join(staging, "x")
	if err := ReadTree(ctx, r, staged); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if force {
		if err := removeAll(dst); err != nil {
			return err
		}
	}
	return os.Rename(staged, dst)
}

// Get writes a's tree to w.
func (l LocalArtifacts) Get(ctx context.Context, a Artifact, w io.Writer) error {
	p := l.path(a)
	if _, err := os.Stat(p); err != nil {
		return ErrNotFound
	}
	return WriteTree(ctx, w, p, nil)
}

// Delete removes a.
func (l LocalArtifacts) Delete(ctx context.Context, a Artifact) error {
	if ok, err := l.Exists(ctx, a); err != nil {
		return err
	} else if !ok {
		return ErrNotFound
	}
	return removeAll(l.path(a))
}

// removeAll removes p and everything under it, including read-only
// directories.
func removeAll(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
