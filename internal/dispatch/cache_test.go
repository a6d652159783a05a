package dispatch_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/dispatch"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
)

// cacheEnv is a server with a blob store, an agent that runs a job, and
// another agent.
type cacheEnv struct {
	*env
	blobs        blob.Store
	blobDir      string
	owner, other *agentapi.Client
	ownerID, job string
}

func newCacheEnv(t *testing.T, dialect string, fork bool) *cacheEnv {
	t.Helper()
	blobDir := filepath.Join(t.TempDir(), "blobs")
	blobs, err := blob.OpenDir(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, dialect, options{pollTimeout: 2 * time.Second, blobs: blobs})
	if fork {
		sha := e.repo.Git("rev-parse", "HEAD")
		if _, err := e.eng().Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerPR, RefType: "pull-request",
			Branch: "main", PR: "7", PRBranch: "feature", SHA: sha, PRFromFork: true}); err != nil {
			t.Fatal(err)
		}
	} else {
		e.push()
	}
	c := &cacheEnv{env: e, blobs: blobs, blobDir: blobDir, owner: e.client(0), other: e.client(0)}
	c.ownerID = register(t, c.owner, "owner", 1)
	register(t, c.other, "other", 1)
	resp, err := c.owner.Poll(t.Context(), agentapi.PollRequest{AgentID: c.ownerID, FreeSlots: 1})
	if err != nil || len(resp.Assign) != 1 {
		t.Fatalf("poll = %+v, %v", resp, err)
	}
	c.job = resp.Assign[0].JobID
	return c
}

func (c *cacheEnv) store(t *testing.T, key, content string) agentapi.CacheStored {
	t.Helper()
	st, err := c.owner.CacheStore(t.Context(), c.job, key, strings.NewReader(content))
	if err != nil {
		t.Fatalf("store %s: %v", key, err)
	}
	return st
}

func (c *cacheEnv) restore(t *testing.T, exact bool, keys ...string) (agentapi.CacheEntry, string) {
	t.Helper()
	e, rc, err := c.owner.CacheRestore(t.Context(), c.job, keys, exact, "")
	if err != nil {
		t.Fatalf("restore %v: %v", keys, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return e, string(b)
}

func TestCacheEndpoints(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		c := newCacheEnv(t, dialect, false)
		ctx := t.Context()
		if st := c.store(t, "gems-main-abc", "first"); !st.Stored || st.Size != 5 {
			t.Fatalf("store = %+v", st)
		}
		// Storing an existing key is a no-op.
		if st := c.store(t, "gems-main-abc", "second!"); st.Stored {
			t.Fatalf("second store = %+v, want not stored", st)
		}
		if _, got := c.restore(t, true, "gems-main-abc"); got != "first" {
			t.Fatalf("restore = %q, want the first archive", got)
		}
		// The first key of the list that matches, exactly or by prefix.
		c.store(t, "node-main-1", "n1")
		time.Sleep(2 * time.Millisecond)
		c.store(t, "node-main-2", "n2")
		if e, got := c.restore(t, false, "node-feature", "node-main", "gems-main-abc"); e.Key != "node-main-2" || got != "n2" {
			t.Fatalf("prefix restore = %q %q, want the newest node-main key", e.Key, got)
		}
		if _, _, err := c.owner.CacheRestore(ctx, c.job, []string{"node-main"}, true, ""); !isStatus(err, http.StatusNotFound) {
			t.Fatalf("exact restore of a prefix: %v, want 404", err)
		}
		// What the agent holds is not sent again.
		e, _ := c.restore(t, true, "node-main-1")
		if e2, rc, err := c.owner.CacheRestore(ctx, c.job, []string{"node-main-1"}, true, e.ID); err != nil || rc != nil || e2.ID != e.ID {
			t.Fatalf("restore of what the agent has = %+v, %v, %v; want no body", e2, rc, err)
		}
		if e, err := c.owner.CacheStat(ctx, c.job, "node-main-1"); err != nil || e.Size != 2 {
			t.Fatalf("has_key = %+v, %v", e, err)
		}
		if _, err := c.owner.CacheStat(ctx, c.job, "nope"); !isStatus(err, http.StatusNotFound) {
			t.Fatalf("has_key of a missing key: %v, want 404", err)
		}
		list, err := c.owner.CacheList(ctx, c.job)
		if err != nil || len(list) != 3 || list[0].Key != "node-main-2" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		u, err := c.owner.CacheUsage(ctx, c.job)
		if err != nil || u.Keys != 3 || u.Used != 9 || u.Budget != agentapi.DefaultCacheBudget {
			t.Fatalf("usage = %+v, %v", u, err)
		}
		// The budget evicts the least recently used: gems and node-main-1
		// were restored last, node-main-2 goes.
		if err := c.db().Tx(ctx, func(tx *store.Tx) error { return tx.SetCacheBudget(c.proj.ID, 12) }); err != nil {
			t.Fatal(err)
		}
		c.restore(t, true, "gems-main-abc")
		c.store(t, "big", "12345")
		list, _ = c.owner.CacheList(ctx, c.job)
		if got := entryKeys(list); got != "big,node-main-1,gems-main-abc" {
			t.Fatalf("after eviction: %s", got)
		}
		if _, err := c.owner.CacheStore(ctx, c.job, "huge", strings.NewReader("0123456789abc")); !isStatus(err, http.StatusRequestEntityTooLarge) {
			t.Fatalf("store past the whole budget: %v, want 413", err)
		}
		// Evicted and refused archives leave no object behind.
		if n := countObjects(t, c.blobs); n != 3 {
			t.Fatalf("%d objects in the blob store, want 3", n)
		}
		if err := c.owner.CacheDelete(ctx, c.job, "big"); err != nil {
			t.Fatal(err)
		}
		if err := c.owner.CacheDelete(ctx, c.job, "big"); !isStatus(err, http.StatusNotFound) {
			t.Fatalf("delete again: %v, want 404", err)
		}
		if err := c.owner.CacheClear(ctx, c.job); err != nil {
			t.Fatal(err)
		}
		if list, _ := c.owner.CacheList(ctx, c.job); len(list) != 0 {
			t.Fatalf("after clear: %+v", list)
		}
		if n := countObjects(t, c.blobs); n != 0 {
			t.Fatalf("%d objects after clear", n)
		}
	})
}

func TestCacheRefusals(t *testing.T) {
	c := newCacheEnv(t, store.SQLite, false)
	ctx := t.Context()
	c.store(t, "k", "secret-archive")
	// Another agent reaches no job's cache that is not its own.
	if _, _, err := c.other.CacheRestore(ctx, c.job, []string{"k"}, true, ""); !isStatus(err, http.StatusForbidden) {
		t.Errorf("another agent's restore: %v, want 403", err)
	}
	if _, err := c.other.CacheStore(ctx, c.job, "k2", strings.NewReader("x")); !isStatus(err, http.StatusForbidden) {
		t.Errorf("another agent's store: %v, want 403", err)
	}
	// The agent token only registers.
	if _, err := c.client(0).CacheList(ctx, c.job); !isStatus(err, http.StatusUnauthorized) {
		t.Errorf("list with the agent token: %v, want 401", err)
	}
	if _, err := c.owner.CacheList(ctx, "no-such-job"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("list of an unknown job: %v, want 404", err)
	}
	for _, key := range []string{"", "..", "a/b", "a\x01b", strings.Repeat("x", 251)} {
		if _, err := c.owner.CacheStore(ctx, c.job, key, strings.NewReader("x")); !isStatus(err, http.StatusBadRequest) {
			t.Errorf("store of key %q: %v, want 400", key, err)
		}
	}
	// A finished job has no cache any more.
	if err := c.owner.Finish(ctx, c.job, agentapi.FinishRequest{Result: ci.ResultPassed}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.owner.CacheRestore(ctx, c.job, []string{"k"}, true, ""); !isStatus(err, http.StatusConflict) {
		t.Errorf("restore for a finished job: %v, want 409", err)
	}
}

func TestCacheForkReadsOnly(t *testing.T) {
	c := newCacheEnv(t, store.SQLite, true)
	ctx := t.Context()
	if _, err := c.owner.CacheStore(ctx, c.job, "k", strings.NewReader("x")); !isStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "fork") {
		t.Errorf("fork store: %v, want 403 naming forks", err)
	}
	if err := c.owner.CacheDelete(ctx, c.job, "k"); !isStatus(err, http.StatusForbidden) {
		t.Errorf("fork delete: %v, want 403", err)
	}
	if err := c.owner.CacheClear(ctx, c.job); !isStatus(err, http.StatusForbidden) {
		t.Errorf("fork clear: %v, want 403", err)
	}
	if _, err := c.owner.CacheList(ctx, c.job); err != nil {
		t.Errorf("fork list: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var he *agentapi.HTTPError
	return errors.As(err, &he) && he.Status == status
}

func entryKeys(es []agentapi.CacheEntry) string {
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return strings.Join(ks, ",")
}

func countObjects(t *testing.T, s blob.Store) int {
	t.Helper()
	n := 0
	for _, err := range s.List(t.Context(), "cache/") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestCacheConcurrentStoresOfOneKey: of stores racing for one key,
// exactly one is stored, and the others leave no object behind.
func TestCacheConcurrentStoresOfOneKey(t *testing.T) {
	c := newCacheEnv(t, store.SQLite, false)
	const racers = 4
	results := make(chan agentapi.CacheStored, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			// A slow body keeps every store in flight at once.
			body := io.MultiReader(strings.NewReader(strings.Repeat("x", 1000)), slowReader{50 * time.Millisecond}, strings.NewReader(strconv.Itoa(i)))
			st, err := c.owner.CacheStore(t.Context(), c.job, "k", body)
			if err != nil {
				t.Error(err)
			}
			results <- st
		})
	}
	wg.Wait()
	close(results)
	stored := 0
	for st := range results {
		if st.Stored {
			stored++
		}
	}
	if stored != 1 {
		t.Fatalf("%d stores stored the key, want 1", stored)
	}
	if n := countObjects(t, c.blobs); n != 1 {
		t.Fatalf("%d objects in the blob store, want 1", n)
	}
	if _, got := c.restore(t, true, "k"); len(got) != 1001 {
		t.Fatalf("restored %d bytes, want 1001", len(got))
	}
}

// slowReader waits, then ends.
type slowReader struct{ d time.Duration }

func (s slowReader) Read([]byte) (int, error) {
	time.Sleep(s.d)
	return 0, io.EOF
}

// TestCacheSweepDeletesOrphans: objects under cache/ that no key names
// (a server stopped between the object and the key; a deleted project)
// go once they are old enough; the objects of keys and young objects
// stay.
func TestCacheSweepDeletesOrphans(t *testing.T) {
	c := newCacheEnv(t, store.SQLite, false)
	ctx := t.Context()
	c.store(t, "kept", "archive")
	for _, k := range []string{"cache/" + c.proj.ID + "/lost/x1", "cache/deleted-project/k/x2", "cache/odd"} {
		if _, err := c.blobs.Put(ctx, k, strings.NewReader("orphan")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.servers[0].disp.SweepCache(ctx); err != nil || n != 0 {
		t.Fatalf("sweep of young objects deleted %d, %v; want none", n, err)
	}
	old := time.Now().Add(-2 * dispatch.CacheOrphanAge)
	for info, err := range c.blobs.List(ctx, "cache/") {
		if err != nil {
			t.Fatal(err)
		}
		// The local store keeps files: age them.
		if err := os.Chtimes(filepath.Join(c.blobDir, "objects", info.Key), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.servers[0].disp.SweepCache(ctx); err != nil || n != 3 {
		t.Fatalf("sweep deleted %d, %v; want the 3 orphans", n, err)
	}
	if _, got := c.restore(t, true, "kept"); got != "archive" {
		t.Fatalf("a key's archive after the sweep: %q", got)
	}
	if n := countObjects(t, c.blobs); n != 1 {
		t.Fatalf("%d objects after the sweep, want 1", n)
	}
}
