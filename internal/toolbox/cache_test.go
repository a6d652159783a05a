package toolbox

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/google/go-cmp/cmp"
)

// cacheEnv is a job with a cache: its working directory, home and env.
type cacheEnv struct {
	dir, home, cache string
	env              []string
}

func newCacheEnv(t *testing.T, extra ...string) cacheEnv {
	t.Helper()
	e := cacheEnv{dir: t.TempDir(), home: t.TempDir(), cache: filepath.Join(t.TempDir(), "cache")}
	e.env = append(append([]string{"HOME=" + e.home, "SEMAPHORE_GIT_BRANCH=feature/x"}, serve(t, testScope, e.cache, "")...), extra...)
	return e
}

func (e cacheEnv) cache_(t *testing.T, args ...string) result {
	t.Helper()
	return tool(t, e.dir, e.env, "cache", args...)
}

// files lists the files under dir as path → content ("-> target" for
// symlinks, "mode" appended for executables).
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			got[rel] = "-> " + target
			return nil
		}
		data, _ := os.ReadFile(p)
		info, _ := d.Info()
		got[rel] = string(data)
		if info.Mode()&0o100 != 0 {
			got[rel] += " (exec)"
		}
		return nil
	})
	return got
}

func TestCacheStoreRestore(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	gittest.Write(t, e.dir, map[string]string{
		"node_modules/a/index.js": "a",
		"node_modules/b/bin.js":   "#!/usr/bin/env node",
		"node_modules/.bin/keep":  "k",
	})
	must(t, os.Chmod(filepath.Join(e.dir, "node_modules/b/bin.js"), 0o755))
	must(t, os.Symlink("../b/bin.js", filepath.Join(e.dir, "node_modules/.bin/b")))
	want := files(t, filepath.Join(e.dir, "node_modules"))

	e.cache_(t, "store", "deps/v1", "node_modules").check(t, 0, "cache: Stored 'node_modules' with cache key 'deps-v1'")
	e.cache_(t, "has_key", "deps-v1").check(t, 0, "Key 'deps-v1' exists")
	e.cache_(t, "has_key", "deps/v1").check(t, 0) // normalized too
	e.cache_(t, "has_key", "other").check(t, 1, "doesn't exist")

	// Keys are never overwritten.
	gittest.Write(t, e.dir, map[string]string{"node_modules/a/index.js": "changed"})
	e.cache_(t, "store", "deps-v1", "node_modules").check(t, 0, "Key 'deps-v1' already exists")

	// Restore in another job.
	job2 := newCacheEnv(t)
	job2.cache, job2.env = e.cache, e.env
	job2.cache_(t, "restore", "deps-v1").check(t, 0, "HIT: 'deps-v1', using key 'deps-v1'", "Restored: node_modules")
	if diff := cmp.Diff(want, files(t, filepath.Join(job2.dir, "node_modules"))); diff != "" {
		t.Errorf("restored tree differs (-stored +restored):\n%s", diff)
	}

	// Restoring over an existing tree overwrites it.
	e.cache_(t, "restore", "deps-v1").check(t, 0, "HIT")
	if got := files(t, filepath.Join(e.dir, "node_modules"))["a/index.js"]; got != "a" {
		t.Errorf("restore over an existing tree: a/index.js = %q, want a", got)
	}
}

func TestCacheRestoreFallback(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	store := func(key, content string) {
		t.Helper()
		gittest.Write(t, e.dir, map[string]string{"out/v.txt": content})
		e.cache_(t, "store", key, "out").check(t, 0, "Stored")
		must(t, os.RemoveAll(filepath.Join(e.dir, "out")))
	}
	store("gems-master-aaa", "oldest")
	time.Sleep(20 * time.Millisecond) // distinct store times
	store("gems-master-bbb", "newer")
	time.Sleep(20 * time.Millisecond)
	store("other-master-ccc", "other")

	tests := []struct {
		keys      string
		want      string
		stderrHas []string
	}{
		{"gems-master-aaa", "oldest", []string{"HIT: 'gems-master-aaa', using key 'gems-master-aaa'"}},
		{"gems-master", "newer", []string{"HIT: 'gems-master', using key 'gems-master-bbb'"}},
		{"nope,gems-.*-aaa", "oldest", []string{"MISS: 'nope'", "HIT: 'gems-.*-aaa'"}},
		{"nope,other", "other", []string{"MISS: 'nope'", "using key 'other-master-ccc'"}},
		{"gems/master", "newer", []string{"HIT: 'gems-master'"}},
		{"nope1,nope2", "", []string{"MISS: 'nope1'", "MISS: 'nope2'"}},
		{"[invalid", "", []string{"MISS: '[invalid'"}},
	}
	for _, tt := range tests {
		e.cache_(t, "restore", tt.keys).check(t, 0, tt.stderrHas...)
		data, _ := os.ReadFile(filepath.Join(e.dir, "out", "v.txt"))
		if string(data) != tt.want {
			t.Errorf("restore %s: got %q, want %q", tt.keys, data, tt.want)
		}
		os.RemoveAll(filepath.Join(e.dir, "out"))
	}
}

func TestCacheAbsolutePath(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	abs := filepath.Join(t.TempDir(), "gocache")
	gittest.Write(t, abs, map[string]string{"mod/x@v1/x.go": "package x"})
	// Read-only like Go's module cache.
	must(t, os.Chmod(filepath.Join(abs, "mod/x@v1/x.go"), 0o444))
	must(t, os.Chmod(filepath.Join(abs, "mod/x@v1"), 0o555))
	t.Cleanup(func() { os.Chmod(filepath.Join(abs, "mod/x@v1"), 0o755) })
	e.cache_(t, "store", "go-mod", abs).check(t, 0, "Stored")
	must(t, removeAll(abs))

	e.cache_(t, "restore", "go-mod").check(t, 0, "Restored: "+abs)
	data, err := os.ReadFile(filepath.Join(abs, "mod/x@v1/x.go"))
	if err != nil || string(data) != "package x" {
		t.Fatalf("restored file: %q, %v", data, err)
	}
	if fi, _ := os.Stat(filepath.Join(abs, "mod/x@v1")); fi.Mode().Perm() != 0o555 {
		t.Errorf("restored dir mode %v, want 0555", fi.Mode().Perm())
	}
	// Restoring again over the read-only tree works.
	e.cache_(t, "restore", "go-mod").check(t, 0, "Restored")
}

func TestCacheListDeleteClearUsage(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	e.cache_(t, "is_not_empty").check(t, 1)
	r := e.cache_(t, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "Cache is empty.") {
		t.Errorf("list of an empty cache: %+v", r)
	}
	gittest.Write(t, e.dir, map[string]string{"small/f": "x", "big/f": strings.Repeat("big", 100_000)})
	e.cache_(t, "store", "k-small", "small").check(t, 0)
	time.Sleep(20 * time.Millisecond)
	e.cache_(t, "store", "k-big", "big").check(t, 0)
	e.cache_(t, "is_not_empty").check(t, 0)

	r = e.cache_(t, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "NAME") || strings.Index(r.stdout, "k-big") > strings.Index(r.stdout, "k-small") {
		t.Errorf("list (newest first):\n%s", r.stdout)
	}
	r = e.cache_(t, "list", "--sort-by", "SIZE")
	if strings.Index(r.stdout, "k-big") > strings.Index(r.stdout, "k-small") {
		t.Errorf("list --sort-by SIZE (largest first):\n%s", r.stdout)
	}
	e.cache_(t, "list", "--sort-by", "NAME").check(t, 0, "want STORE_TIME, ACCESS_TIME or SIZE")

	r = e.cache_(t, "usage")
	if r.code != 0 || !strings.Contains(r.stdout, "FREE SPACE: ") || !strings.Contains(r.stdout, "USED SPACE: ") {
		t.Errorf("usage: %+v", r)
	}

	e.cache_(t, "delete", "k-small").check(t, 0, "Key 'k-small' is deleted.")
	e.cache_(t, "delete", "k-small").check(t, 0, "doesn't exist")
	e.cache_(t, "has_key", "k-small").check(t, 1)
	e.cache_(t, "clear").check(t, 0, "Deleted all caches.")
	e.cache_(t, "is_not_empty").check(t, 1)
}

func TestCacheEviction(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, "CACHE_SIZE=100") // KiB
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) string { // incompressible
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return string(b)
	}
	for _, k := range []string{"one", "two", "three"} {
		gittest.Write(t, e.dir, map[string]string{k + "/f": rnd(40_000)})
		e.cache_(t, "store", k, k).check(t, 0, "Stored")
		time.Sleep(20 * time.Millisecond)
	}
	e.cache_(t, "has_key", "one").check(t, 1) // the oldest went
	e.cache_(t, "has_key", "three").check(t, 0)

	gittest.Write(t, e.dir, map[string]string{"huge/f": rnd(300_000)})
	e.cache_(t, "store", "huge", "huge").check(t, 0, "larger than the whole cache")
	t.Run("fail on error", func(t *testing.T) {
		e := e
		e.env = append(e.env, "CACHE_FAIL_ON_ERROR=true")
		e.cache_(t, "store", "huge", "huge").check(t, 1, "larger than the whole cache")
	})
}

func TestCacheAutoDetect(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	gittest.Write(t, e.dir, map[string]string{
		"package-lock.json":   `{"lockfileVersion": 3}`,
		"node_modules/x/a.js": "x",
	})
	sum := tool(t, e.dir, nil, "checksum", "package-lock.json")
	if sum.code != 0 || len(strings.TrimSpace(sum.stdout)) != 32 {
		t.Fatalf("checksum: %+v", sum)
	}
	key := "node-modules-feature-x-" + strings.TrimSpace(sum.stdout)

	e.cache_(t, "store").check(t, 0, "Detected package-lock.json.", "cache key '"+key+"'")
	e.cache_(t, "has_key", key).check(t, 0)
	must(t, os.RemoveAll(filepath.Join(e.dir, "node_modules")))

	e.cache_(t, "restore").check(t, 0, "Detected package-lock.json.", "HIT: '"+key+"'")
	if _, err := os.Stat(filepath.Join(e.dir, "node_modules/x/a.js")); err != nil {
		t.Errorf("auto restore: %v", err)
	}

	// Another branch with a changed lock file falls back to master's cache.
	master := newCacheEnv(t)
	master.cache = e.cache
	master.env = append([]string{"HOME=" + master.home, "SEMAPHORE_GIT_BRANCH=master"}, serve(t, testScope, e.cache, "")...)
	gittest.Write(t, master.dir, map[string]string{"package-lock.json": "master's", "node_modules/m.js": "m"})
	master.cache_(t, "store").check(t, 0, "Stored")

	other := newCacheEnv(t)
	other.env = append([]string{"HOME=" + other.home, "SEMAPHORE_GIT_BRANCH=topic"}, serve(t, testScope, e.cache, "")...)
	gittest.Write(t, other.dir, map[string]string{"package-lock.json": "topic's"})
	other.cache_(t, "restore").check(t, 0, "MISS: 'node-modules-topic-", "MISS: 'node-modules-topic'", "HIT: 'node-modules-master'")
	if _, err := os.Stat(filepath.Join(other.dir, "node_modules/m.js")); err != nil {
		t.Errorf("fallback restore: %v", err)
	}

	empty := newCacheEnv(t)
	empty.cache_(t, "store").check(t, 0, "Nothing to store")
	empty.cache_(t, "restore").check(t, 0, "Nothing to restore")
}

func TestCacheDisabledAndErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	off := []string{"BATON_JOBSVC="}
	tool(t, dir, off, "cache", "store", "k", ".").check(t, 0, "cache: caching is not available here")
	tool(t, dir, off, "cache", "restore", "k").check(t, 0, "caching is not available")
	tool(t, dir, off, "cache", "has_key", "k").check(t, 1, "caching is not available")
	tool(t, dir, off, "cache", "is_not_empty").check(t, 1)

	e := newCacheEnv(t)
	e.cache_(t, "store", "k", "missing").check(t, 0, "Path missing does not exist.")
	e.cache_(t, "store", "only-a-key").check(t, 0, "store takes a key and a path")
	e.cache_(t, "store", "..", ".").check(t, 0, "invalid cache key")
	e.cache_(t, "frobnicate").check(t, 1, "unknown subcommand")
	e.cache_(t, "has_key").check(t, 1, "exactly one key")
	r := e.cache_(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "cache store") {
		t.Errorf("cache --help: %+v", r)
	}
	e.env = append(e.env, "CACHE_FAIL_ON_ERROR=true")
	e.cache_(t, "store", "only-a-key").check(t, 1)

	// A file in place of the cache directory.
	bad := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(bad, nil, 0o644))
	tool(t, dir, serve(t, testScope, bad, ""), "cache", "store", "k", ".").check(t, 0, "not a directory")
	// A job without the token, or with a wrong one, is refused.
	env := serve(t, testScope, t.TempDir(), "")
	tool(t, dir, append(env, "BATON_JOBSVC_TOKEN=guess"), "cache", "store", "k", ".").check(t, 0, "needs this job's token")
}

func TestChecksum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644))
	for _, args := range [][]string{{"checksum", "f"}} {
		r := tool(t, dir, nil, args[0], args[1:]...)
		if r.code != 0 || r.stdout != "b1946ac92492d2347c6235b4d2611184\n" {
			t.Errorf("%q: %+v", args, r)
		}
	}
	r := tool(t, dir, nil, "cache", "checksum", "f")
	if r.code != 0 || r.stdout != "b1946ac92492d2347c6235b4d2611184\n" {
		t.Errorf("cache checksum: %+v", r)
	}
	tool(t, dir, nil, "checksum", "missing").check(t, 1, "checksum: open")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
