package store

import (
	"testing"

	"github.com/batonci/baton/internal/ci"
)

func testPeople(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	ada := &ci.User{Login: "ada"}
	bob := &ci.User{Login: "bob"}
	p := &ci.Project{Name: "app", RepoURL: "file:///r", DefaultBranch: "main", PipelineFile: "f"}
	agentTok := &Token{UserID: "", Name: "agents", Hash: "h-agent", Kind: TokenAgent}
	apiTok := &Token{Name: "laptop", Hash: "h-api", Kind: TokenAPI}
	write(t, db, func(tx *Tx) error {
		for _, u := range []*ci.User{ada, bob} {
			if err := tx.CreateUser(u, ""); err != nil {
				return err
			}
		}
		agentTok.UserID, apiTok.UserID = ada.ID, ada.ID
		for _, tk := range []*Token{agentTok, apiTok} {
			if err := tx.CreateToken(tk); err != nil {
				return err
			}
		}
		return tx.CreateProject(p)
	})

	// Members.
	mAda := &Member{ProjectID: p.ID, UserID: ada.ID, Role: "write", CreatedAt: at(9, 0, 0)}
	mBob := &Member{ProjectID: p.ID, UserID: bob.ID, Role: "read", CreatedAt: at(9, 0, 1)}
	write(t, db, func(tx *Tx) error {
		if err := tx.SetMember(mBob); err != nil {
			return err
		}
		if err := tx.SetMember(&Member{ProjectID: p.ID, UserID: ada.ID, Role: "admin", CreatedAt: at(9, 0, 0)}); err != nil {
			return err
		}
		return tx.SetMember(mAda) // replaces the role
	})
	mAda.Login, mBob.Login = "ada", "bob"
	ms, err := db.ListMembers(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListMembers", ms, []*Member{mAda, mBob})
	roles, err := db.UserRoles(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "UserRoles", roles, map[string]string{p.ID: "write"})
	wantErr(t, "SetMember of no user", db.Tx(ctx, func(tx *Tx) error {
		return tx.SetMember(&Member{ProjectID: p.ID, UserID: "nope", Role: "read"})
	}), ErrNotFound)
	var removed, again bool
	write(t, db, func(tx *Tx) (err error) {
		if removed, err = tx.RemoveMember(p.ID, bob.ID); err != nil {
			return err
		}
		again, err = tx.RemoveMember(p.ID, bob.ID)
		return err
	})
	if !removed || again {
		t.Errorf("RemoveMember = %v then %v, want true then false", removed, again)
	}

	// Sessions.
	s := &Session{Hash: "sess-1", UserID: ada.ID, CSRFToken: "csrf", CreatedAt: at(10, 0, 0), ExpiresAt: at(11, 0, 0)}
	old := &Session{Hash: "sess-0", UserID: ada.ID, CSRFToken: "c0", CreatedAt: at(8, 0, 0), ExpiresAt: at(9, 0, 0)}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateSession(old); err != nil {
			return err
		}
		return tx.CreateSession(s)
	})
	got, err := db.SessionByHash(ctx, "sess-1", at(10, 30, 0))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "SessionByHash", got, s)
	_, err = db.SessionByHash(ctx, "sess-1", at(11, 0, 0))
	wantErr(t, "SessionByHash of an expired session", err, ErrNotFound)
	write(t, db, func(tx *Tx) error { return tx.DeleteExpiredSessions(at(10, 0, 0)) })
	_, err = db.SessionByHash(ctx, "sess-0", at(0, 0, 0))
	wantErr(t, "SessionByHash after DeleteExpiredSessions", err, ErrNotFound)
	write(t, db, func(tx *Tx) error { return tx.DeleteSession("sess-1") })
	_, err = db.SessionByHash(ctx, "sess-1", at(10, 30, 0))
	wantErr(t, "SessionByHash after DeleteSession", err, ErrNotFound)
	write(t, db, func(tx *Tx) error { return tx.DeleteSession("sess-1") })

	// GetToken and DeleteUser: the user's API tokens, sessions and roles
	// go; their agent tokens stay, owned by no one.
	if got, err := db.GetToken(ctx, apiTok.ID); err != nil || got.Hash != "h-api" {
		t.Errorf("GetToken = %+v, %v", got, err)
	}
	write(t, db, func(tx *Tx) error {
		return tx.CreateSession(&Session{Hash: "sess-2", UserID: ada.ID, ExpiresAt: at(23, 0, 0)})
	})
	write(t, db, func(tx *Tx) error { return tx.DeleteUser(ada.ID) })
	wantErr(t, "DeleteUser of no user", db.Tx(ctx, func(tx *Tx) error { return tx.DeleteUser(ada.ID) }), ErrNotFound)
	_, err = db.GetToken(ctx, apiTok.ID)
	wantErr(t, "GetToken of a deleted user's token", err, ErrNotFound)
	if got, err := db.TokenByHash(ctx, "h-agent"); err != nil || got.UserID != "" {
		t.Errorf("agent token after DeleteUser = %+v, %v; want it kept with no user", got, err)
	}
	_, err = db.SessionByHash(ctx, "sess-2", at(12, 0, 0))
	wantErr(t, "session of a deleted user", err, ErrNotFound)
	if ms, err := db.ListMembers(ctx, p.ID); err != nil || len(ms) != 0 {
		t.Errorf("members after DeleteUser = %v, %v", ms, err)
	}

	// Audit log: newest first, limited.
	var evs []*AuditEvent
	for i, action := range []string{"signin", "token.create", "member.set"} {
		evs = append(evs, &AuditEvent{At: at(12, 0, i), Action: action, Actor: "ada", Target: "t", ProjectID: p.ID, IP: "127.0.0.1", Detail: "d"})
	}
	evs = append(evs, &AuditEvent{At: at(12, 0, 2), Action: "signin.fail", Actor: ""})
	write(t, db, func(tx *Tx) error {
		for _, ev := range evs {
			if err := tx.RecordAudit(ev); err != nil {
				return err
			}
		}
		return nil
	})
	allSet(t, evs[0])
	list, err := db.ListAudit(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListAudit", list, []*AuditEvent{evs[3], evs[2], evs[1]})
}
