// Package imagecache manages the container images of a Docker agent: it
// records when each image was last used by a job of the agent (in a state
// file, so that it survives restarts), keeps the images the agent's jobs
// used within a disk budget by removing the least recently used ones that
// no running job needs, and lists the images the daemon holds, which the
// agent reports to the server so that jobs go preferably where their
// images already are.
//
// The budget covers the images this agent's jobs used, each counted at
// its full size as Docker reports it (layers shared between images are
// counted once per image, so the estimate errs on the safe side). Images
// the agent never used (the operator's, another agent's) are never
// removed. An image is never removed while a session of this agent uses
// it (Executor holds it from before its pull until the session ends), nor
// while any container uses it (docker rmi refuses, and the image is kept).
package imagecache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/executor"
)

// MaxReported caps how many images Images returns.
const MaxReported = 500

// Options configures a Cache.
type Options struct {
	// Docker is the docker client binary; empty means "docker" on PATH.
	Docker string
	// Budget is the disk space, in bytes, the images this agent's jobs
	// used may take; 0 means no limit.
	Budget int64
	// StateFile keeps the last use of each image across restarts; empty
	// means in memory only.
	StateFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what the cache removes (at Warn, the default
	// level: an operator should see images go); nil discards it.
	Logger *slog.Logger
	// NewTicker makes the ticker of RefreshEvery; nil means
	// time.NewTicker's.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
}

// Pruning is what a Cache removed to keep within its budget since it was
// made.
type Pruning struct {
	Removed int       // images removed
	Bytes   int64     // their sizes, in bytes
	LastAt  time.Time // when the last one went; zero if none
	Last    []string  // the images the last eviction removed
}

// Cache is an agent's image cache. It is safe for concurrent use.
type Cache struct {
	opts Options
	log  *slog.Logger

	enforceMu sync.Mutex // one eviction at a time

	mu       sync.Mutex
	lastUse  map[string]time.Time // by image reference, as jobs name them
	held     map[string]int       // images sessions use now
	reported []string             // tagged images the daemon holds
	pruning  Pruning

	wg sync.WaitGroup // background evictions
}

// New returns a Cache, with the last uses read from the state file.
func New(opts Options) (*Cache, error) {
	if opts.Docker == "" {
		opts.Docker = "docker"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Budget < 0 {
		return nil, fmt.Errorf("image cache: negative budget %d", opts.Budget)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{opts: opts, log: log, lastUse: map[string]time.Time{}, held: map[string]int{}}
	if opts.StateFile != "" {
		b, err := os.ReadFile(opts.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &c.lastUse); err != nil {
				log.Warn("ignoring a corrupt image cache state file", "file", opts.StateFile, "err", err)
				c.lastUse = map[string]time.Time{}
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("image cache: %w", err)
		}
	}
	return c, nil
}

// Used records that a job used image now.
func (c *Cache) Used(image string) {
	c.mu.Lock()
	c.lastUse[image] = c.opts.Now()
	c.mu.Unlock()
	c.save()
}

// Hold keeps images from eviction until release is called.
func (c *Cache) Hold(images []string) (release func()) {
	c.mu.Lock()
	for _, im := range images {
		c.held[im]++
	}
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			for _, im := range images {
				if c.held[im]--; c.held[im] <= 0 {
					delete(c.held, im)
				}
			}
			c.mu.Unlock()
		})
	}
}

// Images returns the tagged images the daemon held at the last Refresh
// ("name:tag"), sorted, at most MaxReported.
func (c *Cache) Images() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reported)
}

// Refresh reads the list of images the daemon holds.
func (c *Cache) Refresh(ctx context.Context) error {
	out, err := c.docker(ctx, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var refs []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "<none>") {
			continue
		}
		refs = append(refs, l)
	}
	sort.Strings(refs)
	refs = slices.Compact(refs)
	if len(refs) > MaxReported {
		refs = refs[:MaxReported]
	}
	c.mu.Lock()
	c.reported = refs
	c.mu.Unlock()
	return nil
}

// Enforce removes least recently used images of this agent's until those
// left fit the budget, skipping the held ones and those a container uses.
// It returns the images it removed, then refreshes the list.
func (c *Cache) Enforce(ctx context.Context) ([]string, error) {
	c.enforceMu.Lock()
	defer c.enforceMu.Unlock()
	defer c.Refresh(ctx)
	if c.opts.Budget == 0 {
		return nil, nil
	}
	c.mu.Lock()
	type entry struct {
		ref  string
		used time.Time
		size int64
	}
	var es []entry
	for ref, t := range c.lastUse {
		es = append(es, entry{ref: ref, used: t})
	}
	c.mu.Unlock()
	if len(es) == 0 {
		return nil, nil
	}
	// One inspect per image: a missing image is an error for that one
	// only, and is forgotten.
	var total int64
	present := es[:0]
	for _, e := range es {
		out, err := c.docker(ctx, "image", "inspect", "--format", "{{.Size}}", e.ref)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.forget(e.ref)
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("size of image %s: %q", e.ref, out)
		}
		e.size = n
		total += n
		present = append(present, e)
	}
	sort.Slice(present, func(i, j int) bool { return present[i].used.Before(present[j].used) })
	var removed []string
	for _, e := range present {
		if total <= c.opts.Budget {
			break
		}
		c.mu.Lock()
		held := c.held[e.ref] > 0
		c.mu.Unlock()
		if held {
			continue
		}
		if _, err := c.docker(ctx, "rmi", e.ref); err != nil {
			c.log.Info("image kept: in use", "image", e.ref, "err", err)
			continue
		}
		c.log.Warn("image removed: over the disk budget", "image", e.ref, "size", e.size, "last_used", e.used, "budget", c.opts.Budget)
		c.forget(e.ref)
		total -= e.size
		removed = append(removed, e.ref)
		c.mu.Lock()
		c.pruning.Removed++
		c.pruning.Bytes += e.size
		c.pruning.LastAt = c.opts.Now()
		c.pruning.Last = slices.Clone(removed)
		c.mu.Unlock()
	}
	return removed, nil
}

// Pruning returns what the cache removed over its budget so far.
func (c *Cache) Pruning() Pruning {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pruning
	p.Last = slices.Clone(p.Last)
	return p
}

// RefreshEvery refreshes the list of images every d until ctx ends, so
// that images removed by hand (or pulled by others) show in what the
// agent reports between its jobs. A failed refresh keeps the old list and
// is logged.
func (c *Cache) RefreshEvery(ctx context.Context, d time.Duration) {
	newTicker := c.opts.NewTicker
	if newTicker == nil {
		newTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	ticks, stop := newTicker(d)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("refresh the list of images", "err", err)
			}
		}
	}
}

// EnforceLater runs Enforce in the background; Wait waits for it.
func (c *Cache) EnforceLater(ctx context.Context) {
	if c.opts.Budget == 0 {
		c.wg.Go(func() { c.Refresh(ctx) })
		return
	}
	c.wg.Go(func() {
		if _, err := c.Enforce(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("enforce the image disk budget", "err", err)
		}
	})
}

// Wait waits for background evictions.
func (c *Cache) Wait() { c.wg.Wait() }

// forget drops an image's record.
func (c *Cache) forget(ref string) {
	c.mu.Lock()
	delete(c.lastUse, ref)
	c.mu.Unlock()
	c.save()
}

// save writes the state file, whole, then renamed.
func (c *Cache) save() {
	if c.opts.StateFile == "" {
		return
	}
	c.mu.Lock()
	b, err := json.Marshal(c.lastUse)
	c.mu.Unlock()
	if err != nil {
		return
	}
	tmp := c.opts.StateFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err == nil {
		if err := os.WriteFile(tmp, b, 0o644); err == nil {
			if err := os.Rename(tmp, c.opts.StateFile); err != nil {
				c.log.Warn("save the image cache state", "err", err)
			}
		}
	}
}

func (c *Cache) docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.opts.Docker, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New(msg)
	}
	return stdout.String(), nil
}

// Executor wraps an executor so that a container session's images are
// held from before their pull until the session ends, their use is
// recorded, and the budget is enforced (in the background) after each
// session.
func (c *Cache) Executor(inner executor.Executor) executor.Executor {
	return &cachingExecutor{c: c, inner: inner}
}

type cachingExecutor struct {
	c     *Cache
	inner executor.Executor
}

// Start implements executor.Executor.
func (x *cachingExecutor) Start(ctx context.Context, cfg executor.SessionConfig) (executor.Session, error) {
	if len(cfg.Containers) == 0 {
		return x.inner.Start(ctx, cfg)
	}
	images := make([]string, len(cfg.Containers))
	for i, ct := range cfg.Containers {
		images[i] = ct.Image
	}
	release := x.c.Hold(images)
	s, err := x.inner.Start(ctx, cfg)
	if err != nil {
		release()
		x.c.EnforceLater(context.WithoutCancel(ctx))
		return nil, err
	}
	for _, im := range images {
		x.c.Used(im)
	}
	return &cachingSession{Session: s, done: func() {
		release()
		x.c.EnforceLater(context.WithoutCancel(ctx))
	}}, nil
}

type cachingSession struct {
	executor.Session
	once sync.Once
	done func()
}

// Close implements executor.Session.
func (s *cachingSession) Close() error {
	err := s.Session.Close()
	s.once.Do(s.done)
	return err
}

// StartShell implements executor.Shell (debug sessions) when the wrapped
// session does.
func (s *cachingSession) StartShell(ctx context.Context, cfg executor.ShellConfig) (executor.Process, error) {
	sh, ok := s.Session.(executor.Shell)
	if !ok {
		return nil, errors.New("start shell: this executor cannot open shells in jobs")
	}
	return sh.StartShell(ctx, cfg)
}
