// Package toolcache is an agent's tool cache: language versions (Go,
// Node.js) and global tools (npm packages, Go commands) installed once per
// agent, keyed by name, resolved version, OS and architecture, and shared
// by every job the agent runs.
//
// The cache is a directory tree the agent's user owns and jobs only read
// (directories 0755, files without group or other write): jobs get its
// entries' bin directories on their PATH, and ask the agent, through their
// job service, to install what is missing. An entry appears whole or not at
// all: it is installed in a temporary directory under the cache, checked,
// and renamed into place; a failed or cut-off install leaves nothing. Two
// jobs asking for the same entry at once share one install.
//
// The cache keeps itself within a byte budget: after an install, the
// least recently used entries go first, never one a running job holds.
package toolcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Key names one entry.
type Key struct {
	// Name is the language or tool ("go", "node", "npm:serverless",
	// "go:golang.org/x/tools/cmd/stringer").
	Name string
	// Version is a resolved version ("1.22.5", "3.39.0"), never a range.
	Version  string
	OS, Arch string
}

func (k Key) String() string { return fmt.Sprintf("%s@%s (%s/%s)", k.Name, k.Version, k.OS, k.Arch) }

// escape makes s a file name that is also safe in PATH: characters other
// than letters, digits and ._+@- become %XX (so ":" and "/" never
// appear).
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+@", c) >= 0 || (c == '-' && i > 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func unescape(s string) (string, error) { return url.PathUnescape(s) }

// rel is the entry's directory relative to the cache's root.
func (k Key) rel() string {
	return filepath.Join(escape(k.Name), escape(k.Version)+"-"+k.OS+"-"+k.Arch)
}

func (k Key) valid() error {
	for _, s := range []string{k.Name, k.Version, k.OS, k.Arch} {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "\x00\n") {
			return fmt.Errorf("tool cache: bad key %v", k)
		}
	}
	return nil
}

// Manifest describes an installed entry; an installer returns it and the
// cache keeps it in the entry's manifest file.
type Manifest struct {
	// Bin are the entry's directories that go on a job's PATH, relative
	// to the entry's directory.
	Bin []string `json:"bin"`
	// Source is where the entry came from (a URL).
	Source string `json:"source,omitempty"`
	// Verified says what was checked about the download.
	Verified string `json:"verified,omitempty"`
	// Size is the entry's size in bytes (set by the cache).
	Size int64 `json:"size"`
	// Installed is when the entry was installed (set by the cache).
	Installed time.Time `json:"installed"`
}

// manifestFile is the manifest's name in an entry's directory.
const manifestFile = ".baton-tool.json"

// Entry is an installed entry.
type Entry struct {
	Key
	Manifest
	// Dir is the entry's directory.
	Dir string
	// Used is when a job last used it.
	Used time.Time
}

// BinDirs returns the entry's absolute bin directories.
func (e Entry) BinDirs() []string {
	var dirs []string
	for _, b := range e.Bin {
		dirs = append(dirs, filepath.Join(e.Dir, b))
	}
	return dirs
}

// Installer installs an entry into dir (an empty directory it may fill)
// and describes it. It must not leave dir: the cache renames dir into
// place when it returns nil.
type Installer func(ctx context.Context, dir string) (Manifest, error)

// Options configure a Cache.
type Options struct {
	// Dir is the cache's root; it is made (0755) if needed.
	Dir string
	// Budget bounds the entries' total size in bytes; 0 is no limit.
	Budget int64
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Cache is an agent's tool cache. Its methods are safe for concurrent use;
// one process at a time may use a directory.
type Cache struct {
	dir    string
	budget int64
	now    func() time.Time
	log    *slog.Logger

	mu       sync.Mutex
	inflight map[Key]*install
	holds    map[Key]int
}

// install is an install in progress that later askers wait for.
type install struct {
	done  chan struct{}
	entry Entry
	err   error
}

// tmpDir holds installs in progress and entries being removed.
const tmpDir = ".tmp"

// Open opens (making it if needed) the cache at o.Dir, and removes what
// an earlier process left half-done.
func Open(o Options) (*Cache, error) {
	if o.Dir == "" {
		return nil, errors.New("tool cache: no directory")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("tool cache: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tool cache: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tool cache: %w", err)
	}
	if err := forceRemove(filepath.Join(dir, tmpDir)); err != nil {
		return nil, fmt.Errorf("tool cache: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("tool cache: %w", err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{dir: dir, budget: o.Budget, now: now, log: log, inflight: map[Key]*install{}, holds: map[Key]int{}}, nil
}

// Dir is the cache's root directory.
func (c *Cache) Dir() string { return c.dir }

// Lookup returns the installed entry of k, marking it used.
func (c *Cache) Lookup(k Key) (Entry, bool) {
	if k.valid() != nil {
		return Entry{}, false
	}
	e, err := c.read(k)
	if err != nil {
		return Entry{}, false
	}
	c.touch(&e)
	return e, true
}

// read reads k's entry from its directory.
func (c *Cache) read(k Key) (Entry, error) {
	dir := filepath.Join(c.dir, k.rel())
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return Entry{}, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Entry{}, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Key: k, Manifest: m, Dir: dir, Used: fi.ModTime()}, nil
}

func (c *Cache) touch(e *Entry) {
	now := c.now()
	if os.Chtimes(e.Dir, now, now) == nil {
		e.Used = now
	}
}

// Versions returns the versions of name installed for os/arch.
func (c *Cache) Versions(name, goos, arch string) []string {
	des, err := os.ReadDir(filepath.Join(c.dir, escape(name)))
	if err != nil {
		return nil
	}
	suffix := "-" + goos + "-" + arch
	var vs []string
	for _, de := range des {
		v, ok := strings.CutSuffix(de.Name(), suffix)
		if !ok || !de.IsDir() {
			continue
		}
		v, err := unescape(v)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.dir, escape(name), de.Name(), manifestFile)); err == nil {
			vs = append(vs, v)
		}
	}
	return vs
}

// List returns every installed entry, the most recently used first.
func (c *Cache) List() []Entry {
	var out []Entry
	names, _ := os.ReadDir(c.dir)
	for _, n := range names {
		if !n.IsDir() || n.Name() == tmpDir {
			continue
		}
		name, err := unescape(n.Name())
		if err != nil {
			continue
		}
		vers, _ := os.ReadDir(filepath.Join(c.dir, n.Name()))
		for _, v := range vers {
			// version-os-arch: the version may hold dashes, os and arch not.
			parts := strings.Split(v.Name(), "-")
			if len(parts) < 3 {
				continue
			}
			ver, err := unescape(strings.Join(parts[:len(parts)-2], "-"))
			if err != nil {
				continue
			}
			k := Key{Name: name, Version: ver, OS: parts[len(parts)-2], Arch: parts[len(parts)-1]}
			if e, err := c.read(k); err == nil {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return b.Used.Compare(a.Used) })
	return out
}

// Ensure returns k's entry, installing it with inst when it is missing.
// installed says whether this call (or one it waited for) installed it.
// Concurrent calls for one key share one install; a failed install leaves
// nothing behind and is tried again by the next call. The entry is held
// (not evicted) until release is called; release is never nil.
func (c *Cache) Ensure(ctx context.Context, k Key, inst Installer) (e Entry, installed bool, release func(), err error) {
	if err := k.valid(); err != nil {
		return Entry{}, false, func() {}, err
	}
	release = c.hold(k)
	for {
		if e, ok := c.Lookup(k); ok {
			return e, installed, release, nil
		}
		c.mu.Lock()
		in, waiting := c.inflight[k]
		if !waiting {
			in = &install{done: make(chan struct{})}
			c.inflight[k] = in
		}
		c.mu.Unlock()
		if waiting {
			select {
			case <-in.done:
			case <-ctx.Done():
				release()
				return Entry{}, false, func() {}, ctx.Err()
			}
			if in.err != nil {
				if errors.Is(in.err, context.Canceled) && ctx.Err() == nil {
					continue // the other asker went away: try again
				}
				release()
				return Entry{}, false, func() {}, in.err
			}
			installed = true
			continue
		}
		in.entry, in.err = c.install(ctx, k, inst)
		c.mu.Lock()
		delete(c.inflight, k)
		c.mu.Unlock()
		close(in.done)
		if in.err != nil {
			release()
			return Entry{}, false, func() {}, in.err
		}
		c.Evict()
		return in.entry, true, release, nil
	}
}

// install runs inst in a temporary directory and renames it into place.
func (c *Cache) install(ctx context.Context, k Key, inst Installer) (Entry, error) {
	var b [8]byte
	rand.Read(b[:])
	tmp := filepath.Join(c.dir, tmpDir, "install-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return Entry{}, fmt.Errorf("install %s: %w", k, err)
	}
	defer forceRemove(tmp) // nothing is left when the rename did not happen
	m, err := inst(ctx, tmp)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return Entry{}, err
	}
	// Jobs read the entry; only the agent writes it.
	size, err := seal(tmp)
	if err != nil {
		return Entry{}, fmt.Errorf("install %s: %w", k, err)
	}
	m.Size, m.Installed = size, c.now().UTC()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Entry{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestFile), data, 0o644); err != nil {
		return Entry{}, fmt.Errorf("install %s: %w", k, err)
	}
	final := filepath.Join(c.dir, k.rel())
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return Entry{}, fmt.Errorf("install %s: %w", k, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Entry{}, fmt.Errorf("install %s: %w", k, err)
	}
	c.log.Info("tool installed", "tool", k.String(), "bytes", size)
	e, err := c.read(k)
	if err != nil {
		return Entry{}, err
	}
	c.touch(&e)
	return e, nil
}

// seal makes the tree under root readable by all and writable by its
// owner only, and returns its size.
func seal(root string) (int64, error) {
	var size int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()&^0o022 | 0o444
		if d.IsDir() {
			mode |= 0o111
		} else {
			size += fi.Size()
		}
		mode |= 0o200 // the agent may remove it
		return os.Chmod(p, mode)
	})
	return size, err
}

// hold keeps k from eviction until the returned func is called.
func (c *Cache) hold(k Key) func() {
	c.mu.Lock()
	c.holds[k]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.holds[k]--; c.holds[k] <= 0 {
				delete(c.holds, k)
			}
			c.mu.Unlock()
		})
	}
}

// Hold keeps k's entry from eviction (a job uses it) until release.
func (c *Cache) Hold(k Key) (release func()) { return c.hold(k) }

// Usage returns the entries' total size.
func (c *Cache) Usage() int64 {
	var total int64
	for _, e := range c.List() {
		total += e.Size
	}
	return total
}

// Evict removes the least recently used entries that no job holds until
// the entries fit the budget, and returns what it removed.
func (c *Cache) Evict() []Key {
	if c.budget <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	entries := c.List() // most recently used first
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	var removed []Key
	for i := len(entries) - 1; i >= 0 && total > c.budget; i-- {
		e := entries[i]
		if c.holds[e.Key] > 0 {
			continue
		}
		// Out of the way first, so no job finds it half removed.
		var b [8]byte
		rand.Read(b[:])
		trash := filepath.Join(c.dir, tmpDir, "evict-"+hex.EncodeToString(b[:]))
		if err := os.Rename(e.Dir, trash); err != nil {
			c.log.Warn("evict tool", "tool", e.Key.String(), "err", err)
			continue
		}
		forceRemove(trash)
		total -= e.Size
		removed = append(removed, e.Key)
		c.log.Info("tool evicted", "tool", e.Key.String(), "bytes", e.Size)
	}
	return removed
}

// forceRemove removes p, even directories made read-only.
func forceRemove(p string) error {
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
