package store

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testArtifactRetention(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	p, other := &ci.Project{Name: "p"}, &ci.Project{Name: "other"}
	write(t, db, func(tx *Tx) error { return tx.CreateProject(p) })
	write(t, db, func(tx *Tx) error { return tx.CreateProject(other) })
	if rs, err := db.ArtifactRetention(ctx, p.ID); err != nil || len(rs) != 0 {
		t.Fatalf("no rules yet: %v %v", rs, err)
	}
	want := []RetentionRule{{Scope: "workflow", Glob: "logs/**", MaxAge: 2 * time.Hour}, {Scope: "project", Glob: "**", MaxAge: 30 * 24 * time.Hour}}
	if err := db.SetArtifactRetention(ctx, p.ID, want); err != nil {
		t.Fatal(err)
	}
	got, err := db.ArtifactRetention(ctx, p.ID)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("rules = %v %v, want %v", got, err, want)
	}
	if ids, err := db.ProjectsWithRetention(ctx); err != nil || !slices.Equal(ids, []string{p.ID}) {
		t.Fatalf("projects with retention = %v %v", ids, err)
	}
	if err := db.SetArtifactRetention(ctx, p.ID, want[1:]); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ArtifactRetention(ctx, p.ID); !slices.Equal(got, want[1:]) {
		t.Fatalf("rules after replacing = %v", got)
	}
	if err := db.SetArtifactRetention(ctx, p.ID, nil); err != nil {
		t.Fatal(err)
	}
	if ids, _ := db.ProjectsWithRetention(ctx); len(ids) != 0 {
		t.Fatalf("projects with retention after clearing = %v", ids)
	}

	// A sweep is claimed by one caller per period, however many try.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	claims := func(at time.Time) int {
		var mu sync.Mutex
		var wg sync.WaitGroup
		n := 0
		for range 8 {
			wg.Go(func() {
				ok, err := db.ClaimSweep(ctx, "artifacts", at, time.Hour)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					n++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return n
	}
	if n := claims(t0); n != 1 {
		t.Fatalf("first period: %d claims, want 1", n)
	}
	if n := claims(t0.Add(30 * time.Minute)); n != 0 {
		t.Fatalf("within the period: %d claims, want 0", n)
	}
	if n := claims(t0.Add(61 * time.Minute)); n != 1 {
		t.Fatalf("next period: %d claims, want 1", n)
	}
}
