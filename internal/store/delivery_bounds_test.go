package store

import (
	"fmt"
	"testing"
	"time"
)

// testDeliveriesBounded checks PruneDeliveries keeps the newest deliveries
// (fewer rejected ones), and DeliveryAccepted finds a delivery ID accepted
// before, under its own ID or as a repeat.
func testDeliveriesBounded(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b")
	start := at(8, 0, 0)
	write(t, db, func(tx *Tx) error {
		for i := range 60 {
			status := "ok"
			if i%2 == 0 {
				status = "rejected"
			}
			d := &Delivery{ID: fmt.Sprintf("a-%03d", i), ProjectID: a.project.ID, Event: "push", Status: status, CreatedAt: start.Add(time.Duration(i) * time.Second)}
			if err := tx.RecordDelivery(d); err != nil {
				return err
			}
		}
		if err := tx.RecordDelivery(&Delivery{ID: "b-1", ProjectID: b.project.ID, Event: "push", Status: "rejected", CreatedAt: start}); err != nil {
			return err
		}
		return tx.PruneDeliveries(a.project.ID, 25, 5)
	})
	ds, err := db.ListDeliveries(ctx, a.project.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	rejected := 0
	for _, d := range ds {
		if d.Status == "rejected" {
			rejected++
		}
	}
	// 30 accepted and 5 rejected survive the rejected cut; the newest 25
	// of those are kept.
	if len(ds) != 25 || rejected > 5 || ds[0].ID != "a-059" {
		t.Errorf("after pruning: %d deliveries (%d rejected), newest %s; want 25 (at most 5 rejected), newest a-059", len(ds), rejected, ds[0].ID)
	}
	if other, _ := db.ListDeliveries(ctx, b.project.ID, 0); len(other) != 1 {
		t.Errorf("pruning project a touched project b: %d deliveries left", len(other))
	}

	write(t, db, func(tx *Tx) error {
		return tx.RecordDelivery(&Delivery{ID: "x-2", ProjectID: a.project.ID, Event: "push", Status: "triggered", RedeliveryOf: "gh-1", CreatedAt: at(9, 0, 0)})
	})
	for _, tc := range []struct {
		project, id string
		want        bool
	}{
		{a.project.ID, "a-059", true},  // accepted under its ID
		{a.project.ID, "a-058", false}, // rejected: may come again
		{a.project.ID, "gh-1", true},   // accepted as a repeat
		{b.project.ID, "a-059", false}, // another project's
		{a.project.ID, "nope", false},
	} {
		if got, err := db.DeliveryAccepted(ctx, tc.project, tc.id); err != nil || got != tc.want {
			t.Errorf("DeliveryAccepted(%s) = %t, %v; want %t", tc.id, got, err, tc.want)
		}
	}
}

// testForgeTokenBoundToForge checks UpdateProject clears a stored forge
// token when the forge kind or URL changes and the token does not.
func testForgeTokenBoundToForge(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "app")
	p := s.project
	update := func(change func()) string {
		t.Helper()
		q, err := db.GetProject(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		p = q
		change()
		write(t, db, func(tx *Tx) error { return tx.UpdateProject(p) })
		q, err = db.GetProject(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return q.ForgeToken
	}
	if got := update(func() { p.Forge, p.ForgeURL, p.ForgeToken = "gitea", "https://git.example.com", "sealed-1" }); got != "sealed-1" {
		t.Fatalf("token set with the forge = %q", got)
	}
	if got := update(func() { p.ForgeRepo = "ada/app" }); got != "sealed-1" {
		t.Errorf("token after a forge repo change = %q, want kept", got)
	}
	if got := update(func() { p.ForgeURL = "https://evil.example.com" }); got != "" {
		t.Errorf("token after a forge URL change = %q, want cleared", got)
	}
	if got := update(func() { p.ForgeToken = "sealed-2" }); got != "sealed-2" {
		t.Fatalf("new token = %q", got)
	}
	if got := update(func() { p.Forge = "gitlab" }); got != "" {
		t.Errorf("token after a forge kind change = %q, want cleared", got)
	}
	if got := update(func() { p.ForgeURL, p.ForgeToken = "https://other.example.com", "sealed-3" }); got != "sealed-3" {
		t.Errorf("token given with a new URL = %q, want stored", got)
	}
}
