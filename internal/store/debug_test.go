package store

import (
	"testing"

	"github.com/batonci/baton/internal/ci"
)

func testDebug(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	u := &ci.User{Login: "ada"}
	v := &ci.User{Login: "bob"}
	a := &ci.Agent{ID: "agent-1", Name: "a1", Type: "t", Slots: 1}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateUser(u, ""); err != nil {
			return err
		}
		if err := tx.CreateUser(v, ""); err != nil {
			return err
		}
		return tx.UpsertAgent(a)
	})

	// Keys: per user, fingerprints unique, deleted only by their owner.
	k := &SSHKey{UserID: u.ID, Name: "laptop", PublicKey: "ssh-ed25519 AAAA", Fingerprint: "SHA256:x", CreatedAt: at(9, 0, 0)}
	write(t, db, func(tx *Tx) error { return tx.AddSSHKey(k) })
	allSet(t, k)
	keys, err := db.SSHKeys(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "SSHKeys", keys, []*SSHKey{k})
	wantErr(t, "AddSSHKey of a registered key", db.Tx(ctx, func(tx *Tx) error {
		return tx.AddSSHKey(&SSHKey{UserID: v.ID, Name: "stolen", PublicKey: "ssh-ed25519 AAAA", Fingerprint: "SHA256:x"})
	}), ErrConflict)
	wantErr(t, "DeleteSSHKey of another's key", db.Tx(ctx, func(tx *Tx) error { return tx.DeleteSSHKey(v.ID, k.ID) }), ErrNotFound)
	write(t, db, func(tx *Tx) error { return tx.DeleteSSHKey(u.ID, k.ID) })
	if keys, _ := db.SSHKeys(ctx, u.ID); len(keys) != 0 {
		t.Errorf("keys after delete = %v", keys)
	}

	// Host keys survive re-registration.
	write(t, db, func(tx *Tx) error { return tx.SetAgentHostKey(a.ID, "ssh-ed25519 HOST") })
	write(t, db, func(tx *Tx) error { return tx.UpsertAgent(a) })
	if hk, err := db.AgentHostKey(ctx, a.ID); err != nil || hk != "ssh-ed25519 HOST" {
		t.Errorf("AgentHostKey = %q, %v", hk, err)
	}

	// Sessions: pending, open once, closed once.
	s := &DebugSession{JobID: "job-1", ProjectID: "p", AgentID: a.ID, UserID: u.ID, Login: "ada", Kind: "attach", CreatedAt: at(9, 1, 0)}
	write(t, db, func(tx *Tx) error { return tx.CreateDebugSession(s) })
	pending, err := db.PendingDebugSessions(ctx, a.ID)
	if err != nil || len(pending) != 1 || pending[0].ID != s.ID {
		t.Fatalf("PendingDebugSessions = %v, %v", pending, err)
	}
	write(t, db, func(tx *Tx) error { return tx.OpenDebugSession(s.ID, at(9, 2, 0)) })
	wantErr(t, "OpenDebugSession twice", db.Tx(ctx, func(tx *Tx) error { return tx.OpenDebugSession(s.ID, at(9, 2, 0)) }), ErrNotFound)
	if pending, _ := db.PendingDebugSessions(ctx, a.ID); len(pending) != 0 {
		t.Errorf("an open session is still pending: %v", pending)
	}
	write(t, db, func(tx *Tx) error { return tx.CloseDebugSession(s.ID, at(9, 3, 0)) })
	got, err := db.GetDebugSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.State, s.OpenedAt, s.ClosedAt = SessionClosed, at(9, 2, 0), at(9, 3, 0)
	normTime(&s.OpenedAt)
	normTime(&s.ClosedAt)
	diff(t, "GetDebugSession", got, s)
	if list, _ := db.JobDebugSessions(ctx, "job-1"); len(list) != 1 {
		t.Errorf("JobDebugSessions = %v", list)
	}

	// Debug jobs.
	write(t, db, func(tx *Tx) error { return tx.RecordDebugJob("job-2", "job-1", u.ID, at(9, 4, 0)) })
	if of, err := db.DebugJobOf(ctx, "job-2"); err != nil || of != "job-1" {
		t.Errorf("DebugJobOf = %q, %v", of, err)
	}
	_, err = db.DebugJobOf(ctx, "job-1")
	wantErr(t, "DebugJobOf of a regular job", err, ErrNotFound)
}
