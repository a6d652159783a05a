package store

import (
	"testing"
)

func testSettings(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	_, err := db.GetSetting(ctx, "url")
	wantErr(t, "GetSetting never set", err, ErrNotFound)
	write(t, db, func(tx *Tx) error {
		if err := tx.SetSetting("url", "https://ci.example.com"); err != nil {
			return err
		}
		if err := tx.SetSetting("empty", ""); err != nil {
			return err
		}
		return tx.SetSetting("url", "https://baton.example.com")
	})
	for key, want := range map[string]string{"url": "https://baton.example.com", "empty": ""} {
		if got, err := db.GetSetting(ctx, key); err != nil || got != want {
			t.Errorf("GetSetting(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func testRefs(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b")
	refs, err := db.GetRefs(ctx, a.project.ID)
	if err != nil || refs == nil || len(refs) != 0 {
		t.Errorf("GetRefs of a new project = %#v, %v; want an empty map", refs, err)
	}
	write(t, db, func(tx *Tx) error {
		for _, r := range []struct{ project, ref, sha string }{
			{a.project.ID, "refs/heads/main", "1"},
			{a.project.ID, "refs/tags/v1", "2"},
			{a.project.ID, "refs/heads/gone", "3"},
			{b.project.ID, "refs/heads/main", "4"},
			{a.project.ID, "refs/heads/main", "5"},
		} {
			if err := tx.SetRef(r.project, r.ref, r.sha); err != nil {
				return err
			}
		}
		if err := tx.DeleteRef(a.project.ID, "refs/heads/gone"); err != nil {
			return err
		}
		return tx.DeleteRef(a.project.ID, "refs/heads/never-set")
	})
	refs, err = db.GetRefs(ctx, a.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetRefs", refs, map[string]string{"refs/heads/main": "5", "refs/tags/v1": "2"})
	wantErr(t, "SetRef of no project", db.Tx(ctx, func(tx *Tx) error { return tx.SetRef("nope", "r", "s") }), ErrNotFound)
}

func testDeliveries(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b")
	d := &Delivery{
		ProjectID:    a.project.ID,
		Event:        "push",
		Status:       "triggered",
		HTTPStatus:   202,
		Message:      "workflow #3",
		Payload:      []byte("{\"ref\": \"refs/heads/main\"}\x00\xff"),
		CreatedAt:    at(10, 0, 0),
		Headers:      map[string]string{"X-GitHub-Event": "push"},
		RedeliveryOf: "d-1",
	}
	older := &Delivery{ProjectID: a.project.ID, Event: "ping", CreatedAt: at(9, 0, 0)}
	other := &Delivery{ProjectID: b.project.ID, Event: "push", CreatedAt: at(11, 0, 0)}
	orphan := &Delivery{Event: "push", Status: "rejected", HTTPStatus: 404, Message: "no such project", CreatedAt: at(12, 0, 0)}
	write(t, db, func(tx *Tx) error {
		for _, x := range []*Delivery{d, older, other, orphan} {
			if err := tx.RecordDelivery(x); err != nil {
				return err
			}
		}
		return nil
	})
	allSet(t, d)
	for _, tc := range []struct {
		name    string
		project string
		limit   int
		want    []*Delivery
	}{
		{"project", a.project.ID, 0, []*Delivery{d, older}},
		{"limit", a.project.ID, 1, []*Delivery{d}},
		{"all", "", 0, []*Delivery{orphan, other, d, older}},
		{"all, limit", "", 2, []*Delivery{orphan, other}},
	} {
		got, err := db.ListDeliveries(ctx, tc.project, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "ListDeliveries "+tc.name, got, tc.want)
	}
}
