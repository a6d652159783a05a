package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func cacheKeyNames(ks []CacheKey) []string {
	var names []string
	for _, k := range ks {
		names = append(names, k.Key)
	}
	return names
}

func testCacheKeys(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	p, other := &ci.Project{Name: "p"}, &ci.Project{Name: "other"}
	write(t, db, func(tx *Tx) error { return errors.Join(tx.CreateProject(p), tx.CreateProject(other)) })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(project, key string, size int64, at time.Time, budget int64) (bool, []string) {
		t.Helper()
		added, evicted, err := db.AddCacheKey(ctx, CacheKey{ProjectID: project, Key: key, BlobKey: "cache/" + project + "/" + key + "/x", Size: size, StoredAt: at, AccessedAt: at}, budget)
		if err != nil {
			t.Fatal(err)
		}
		return added, cacheKeyNames(evicted)
	}
	for i, k := range []string{"a", "b", "c"} {
		if added, ev := add(p.ID, k, 30, t0.Add(time.Duration(i)*time.Minute), 100); !added || len(ev) != 0 {
			t.Fatalf("add %s = %v, evicted %v", k, added, ev)
		}
	}
	add(other.ID, "a", 1000, t0, 2000)
	// Storing an existing key changes nothing.
	if added, ev := add(p.ID, "b", 99, t0.Add(time.Hour), 100); added || len(ev) != 0 {
		t.Fatalf("store of an existing key: added %v, evicted %v", added, ev)
	}
	if k, err := db.GetCacheKey(ctx, p.ID, "b"); err != nil || k.Size != 30 {
		t.Fatalf("b after a second store = %+v, %v; want size 30", k, err)
	}
	// a is restored: b is now the least recently used, and goes first.
	if err := db.TouchCacheKey(ctx, p.ID, "a", t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if added, ev := add(p.ID, "d", 30, t0.Add(11*time.Minute), 100); !added || !slices.Equal(ev, []string{"b"}) {
		t.Fatalf("add d over the budget: added %v, evicted %v; want b evicted", added, ev)
	}
	ks, err := db.CacheKeys(ctx, p.ID)
	if got, want := cacheKeyNames(ks), []string{"d", "c", "a"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("keys = %v, %v; want %v (newest stored first)", got, err, want)
	}
	// Another project's cache is untouched by this one's budget.
	if ks, _ := db.CacheKeys(ctx, other.ID); len(ks) != 1 {
		t.Fatalf("other project's keys = %v", cacheKeyNames(ks))
	}
	// Exact match first, then the newest key with the prefix.
	add(p.ID, "gems-main-1", 1, t0.Add(20*time.Minute), 100)
	add(p.ID, "gems-main-2", 1, t0.Add(21*time.Minute), 100)
	for _, c := range []struct {
		keys   []string
		prefix bool
		want   string
	}{
		{[]string{"gems-main-1"}, true, "gems-main-1"},
		{[]string{"nope", "gems-main"}, true, "gems-main-2"},
		{[]string{"gems-main"}, false, ""},
		{[]string{"gems-%"}, true, ""},
		{[]string{"x", "a"}, true, "a"},
	} {
		k, err := db.FindCacheKey(ctx, p.ID, c.keys, c.prefix)
		if c.want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("find %v = %+v, %v; want ErrNotFound", c.keys, k, err)
			}
			continue
		}
		if err != nil || k.Key != c.want {
			t.Errorf("find %v = %q, %v; want %q", c.keys, k.Key, err, c.want)
		}
	}
	if _, err := db.FindCacheKey(ctx, other.ID, []string{"gems"}, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("another project finds this one's key: %v", err)
	}
	if k, err := db.DeleteCacheKey(ctx, p.ID, "a"); err != nil || k.BlobKey == "" {
		t.Fatalf("delete a = %+v, %v", k, err)
	}
	if _, err := db.DeleteCacheKey(ctx, p.ID, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete a again: %v, want ErrNotFound", err)
	}
	if ks, err := db.ClearCacheKeys(ctx, p.ID); err != nil || len(ks) != 4 {
		t.Fatalf("clear = %v, %v; want 4 keys", cacheKeyNames(ks), err)
	}
	// Budgets: 0 is the default.
	if n, err := db.CacheBudget(ctx, p.ID); err != nil || n != 0 {
		t.Fatalf("budget = %d, %v", n, err)
	}
	write(t, db, func(tx *Tx) error { return tx.SetCacheBudget(p.ID, 1<<30) })
	write(t, db, func(tx *Tx) error { return tx.SetCacheBudget(p.ID, 2<<30) })
	if n, err := db.CacheBudget(ctx, p.ID); err != nil || n != 2<<30 {
		t.Fatalf("budget = %d, %v; want 2 GiB", n, err)
	}
	write(t, db, func(tx *Tx) error { return tx.SetCacheBudget(p.ID, 0) })
	if n, _ := db.CacheBudget(ctx, p.ID); n != 0 {
		t.Fatalf("budget after reset = %d", n)
	}
}
