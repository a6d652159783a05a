package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/jobsvc"
)

// DefaultCacheLocalBudget is Config.CacheLocalBudget's default.
const DefaultCacheLocalBudget = 5 << 30

// serverCache is a job's project's cache on the server (jobsvc's
// CacheStorage): every agent of the project shares it. Archives the agent
// restored are kept in copies (bounded by a budget), so that restoring
// the same key again on this agent downloads nothing: the server answers
// with the key's ID only when the agent holds that ID.
type serverCache struct {
	client *agentapi.Client
	job    string
	copies *cacheCopies
}

var _ jobsvc.CacheStorage = (*serverCache)(nil)

// cacheError maps the server's answers to the storage's errors.
func cacheError(err error) error {
	var he *agentapi.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case http.StatusNotFound:
			return jobsvc.ErrNotFound
		case http.StatusRequestEntityTooLarge:
			return fmt.Errorf("%w: %s", jobsvc.ErrTooLarge, he.Message)
		}
	}
	return err
}

func entryOf(e agentapi.CacheEntry) jobsvc.CacheEntry {
	return jobsvc.CacheEntry{Key: e.Key, Size: e.Size, Stored: e.StoredAt, Accessed: e.AccessedAt}
}

func (c *serverCache) List(ctx context.Context, project string) ([]jobsvc.CacheEntry, error) {
	es, err := c.client.CacheList(ctx, c.job)
	if err != nil {
		return nil, cacheError(err)
	}
	out := make([]jobsvc.CacheEntry, len(es))
	for i, e := range es {
		out[i] = entryOf(e)
	}
	return out, nil
}

func (c *serverCache) Stat(ctx context.Context, project, key string) (jobsvc.CacheEntry, error) {
	e, err := c.client.CacheStat(ctx, c.job, key)
	if err != nil {
		return jobsvc.CacheEntry{}, cacheError(err)
	}
	return entryOf(e), nil
}

// Open restores key: from the agent's copy when the server says it is
// the key's content, else downloaded (and copied as it streams).
func (c *serverCache) Open(ctx context.Context, project, key string) (io.ReadCloser, error) {
	have := c.copies.lookup(project, key)
	e, body, err := c.client.CacheRestore(ctx, c.job, []string{key}, true, have)
	if err != nil {
		return nil, cacheError(err)
	}
	if body == nil {
		if f, err := c.copies.open(project, key, e.ID); err == nil {
			return f, nil
		}
		// The copy went meanwhile: download it.
		if e, body, err = c.client.CacheRestore(ctx, c.job, []string{key}, true, ""); err != nil {
			return nil, cacheError(err)
		}
	}
	return c.copies.keep(project, key, e.ID, body), nil
}

// Store streams the archive to the server, whose project budget evicts
// keys (room is the local budget's, not used here).
func (c *serverCache) Store(ctx context.Context, project, key string, r io.Reader, room func(int64) error) (int64, bool, error) {
	st, err := c.client.CacheStore(ctx, c.job, key, r)
	if err != nil {
		return 0, false, cacheError(err)
	}
	return st.Size, st.Stored, nil
}

func (c *serverCache) Delete(ctx context.Context, project, key string) (bool, error) {
	err := cacheError(c.client.CacheDelete(ctx, c.job, key))
	if errors.Is(err, jobsvc.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Clear deletes every key of the project's cache at once.
func (c *serverCache) Clear(ctx context.Context, project string) error {
	return cacheError(c.client.CacheClear(ctx, c.job))
}

// Usage returns what the project's cache uses of its budget.
func (c *serverCache) Usage(ctx context.Context, project string) (used, budget int64, err error) {
	u, err := c.client.CacheUsage(ctx, c.job)
	if err != nil {
		return 0, 0, cacheError(err)
	}
	return u.Used, u.Budget, nil
}

// cacheCopies keeps copies of restored archives in Dir/<project>/ as
// <hash of key>.<ID>, at most budget bytes; the least recently used go
// first. A copy appears whole (written aside, then renamed) or not at
// all.
type cacheCopies struct {
	dir    string
	budget int64
	mu     sync.Mutex // one eviction at a time
}

func (cc *cacheCopies) projectDir(project string) string {
	return filepath.Join(cc.dir, hashName(project))
}

func keyName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// lookup returns the ID of the copy of key the agent holds, or "".
func (cc *cacheCopies) lookup(project, key string) string {
	if cc == nil || cc.budget <= 0 {
		return ""
	}
	matches, _ := filepath.Glob(filepath.Join(cc.projectDir(project), keyName(key)+".*"))
	if len(matches) != 1 {
		return ""
	}
	_, id, _ := strings.Cut(filepath.Base(matches[0]), ".")
	return id
}

// open opens the copy of key's ID and marks it used.
func (cc *cacheCopies) open(project, key, id string) (*os.File, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, fs.ErrNotExist
	}
	p := filepath.Join(cc.projectDir(project), keyName(key)+"."+id)
	f, err := os.Open(p)
	if err == nil {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
	return f, err
}

// keep returns body, copying it aside as it is read; once it has been
// read to its end, the copy becomes key's (replacing an older ID's).
func (cc *cacheCopies) keep(project, key, id string, body io.ReadCloser) io.ReadCloser {
	if cc == nil || cc.budget <= 0 || id == "" || strings.ContainsAny(id, `/\.`) {
		return body
	}
	dir := cc.projectDir(project)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return body
	}
	f, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		return body
	}
	return &copyingBody{body: body, f: f, done: func(tmp string) {
		final := filepath.Join(dir, keyName(key)+"."+id)
		old, _ := filepath.Glob(filepath.Join(dir, keyName(key)+".*"))
		if os.Rename(tmp, final) != nil {
			os.Remove(tmp)
			return
		}
		for _, o := range old {
			if o != final {
				os.Remove(o)
			}
		}
		cc.evict()
	}}
}

// evict removes the least recently used copies past the budget, and
// copies half-written by a killed restore.
func (cc *cacheCopies) evict() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	type copyFile struct {
		path string
		size int64
		used time.Time
	}
	var all []copyFile
	filepath.WalkDir(cc.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".restore-") {
			if time.Since(fi.ModTime()) > 24*time.Hour {
				os.Remove(p)
			}
			return nil
		}
		all = append(all, copyFile{p, fi.Size(), fi.ModTime()})
		return nil
	})
	sort.Slice(all, func(i, j int) bool { return all[i].used.After(all[j].used) })
	var used int64
	for _, c := range all {
		if used+c.size <= cc.budget {
			used += c.size
			continue
		}
		os.Remove(c.path)
	}
}

// copyingBody writes what is read from body to f; done gets f's name
// when body was read to its end.
type copyingBody struct {
	body   io.ReadCloser
	f      *os.File
	failed bool
	eof    bool
	done   func(tmp string)
}

func (c *copyingBody) Read(p []byte) (int, error) {
	n, err := c.body.Read(p)
	if n > 0 && !c.failed {
		if _, werr := c.f.Write(p[:n]); werr != nil {
			c.failed = true
		}
	}
	if errors.Is(err, io.EOF) {
		c.eof = true
	}
	return n, err
}

func (c *copyingBody) Close() error {
	err := c.body.Close()
	tmp := c.f.Name()
	if cerr := c.f.Close(); cerr != nil || c.failed || !c.eof {
		os.Remove(tmp)
		return err
	}
	c.done(tmp)
	return err
}
