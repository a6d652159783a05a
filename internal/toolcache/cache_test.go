package toolcache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func writer(size int, calls *atomic.Int64) Installer {
	return func(ctx context.Context, dir string) (Manifest, error) {
		if calls != nil {
			calls.Add(1)
		}
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			return Manifest{}, err
		}
		return Manifest{Bin: []string{"bin"}}, os.WriteFile(filepath.Join(dir, "bin", "tool"), []byte(strings.Repeat("x", size)), 0o777)
	}
}

func key(name, v string) Key { return Key{Name: name, Version: v, OS: "linux", Arch: "amd64"} }

// TestEnsureOnceSealedAtomic: concurrent askers share one install; the
// entry is read-only but to its owner; a failed install leaves nothing
// and the next call installs.
func TestEnsureOnceSealedAtomic(t *testing.T) {
	t.Parallel()
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := key("go", "1.22.5")
	// A failed install.
	_, _, _, err = c.Ensure(context.Background(), k, func(ctx context.Context, dir string) (Manifest, error) {
		os.WriteFile(filepath.Join(dir, "half"), []byte("half"), 0o644)
		return Manifest{}, errors.New("connection reset")
	})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("failed install: err = %v", err)
	}
	if _, ok := c.Lookup(k); ok || len(c.List()) != 0 {
		t.Fatalf("a failed install left an entry: %+v", c.List())
	}
	if des, _ := os.ReadDir(filepath.Join(c.Dir(), tmpDir)); len(des) != 0 {
		t.Fatalf("a failed install left %d temporary files", len(des))
	}
	var calls atomic.Int64
	var wg sync.WaitGroup
	var installed atomic.Int64
	for range 8 {
		wg.Go(func() {
			e, inst, release, err := c.Ensure(context.Background(), k, func(ctx context.Context, dir string) (Manifest, error) {
				time.Sleep(50 * time.Millisecond) // let the others ask meanwhile
				return writer(10, &calls)(ctx, dir)
			})
			defer release()
			if err != nil {
				t.Error(err)
				return
			}
			if inst {
				installed.Add(1)
			}
			if _, err := os.Stat(filepath.Join(e.BinDirs()[0], "tool")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("installed %d times, want once", calls.Load())
	}
	e, ok := c.Lookup(k)
	if !ok {
		t.Fatal("no entry")
	}
	fi, _ := os.Stat(filepath.Join(e.Dir, "bin", "tool"))
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("tool's mode = %v, want 0755 (no group or other write)", fi.Mode().Perm())
	}
	if e.Size != 10 {
		t.Errorf("size = %d, want 10", e.Size)
	}
}

// TestEvictLeastRecentlyUsed: over budget, the least recently used
// entries go, never one a job holds.
func TestEvictLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	c, err := Open(Options{Dir: t.TempDir(), Budget: 350, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ensure := func(k Key) func() {
		t.Helper()
		clock.add(time.Minute)
		_, _, release, err := c.Ensure(context.Background(), k, writer(100, nil))
		if err != nil {
			t.Fatal(err)
		}
		return release
	}
	ensure(key("go", "1.21.0"))()
	held := ensure(key("node", "18.20.4")) // a running job holds it
	ensure(key("go", "1.22.5"))()
	clock.add(time.Minute)
	c.Lookup(key("go", "1.21.0")) // used again: now the most recent
	ensure(key("npm:serverless", "3.39.0"))()
	var have []string
	for _, e := range c.List() {
		have = append(have, e.Name+"@"+e.Version)
	}
	want := "npm:serverless@3.39.0 go@1.21.0"
	if got := strings.Join(have, " "); got != want+" node@18.20.4" {
		t.Errorf("after eviction: %s, want %s and the held node@18.20.4", got, want)
	}
	held()
	ensure(key("go", "1.23.0"))()
	if _, ok := c.Lookup(key("node", "18.20.4")); ok {
		t.Errorf("node 18 was kept once released and least recently used")
	}
	if u := c.Usage(); u > 350 {
		t.Errorf("usage %d over the budget", u)
	}
}
