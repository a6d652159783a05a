package store

import (
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testUsersAndTokens(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	u := &ci.User{ID: "user-1", Login: "ada", Admin: true, CanCreateProjects: true, CreatedAt: at(9, 0, 0)}
	v := &ci.User{Login: "bob"}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateUser(v, "hash-b"); err != nil {
			return err
		}
		return tx.CreateUser(u, "hash-a")
	})
	allSet(t, u)
	got, hash, err := db.GetUserByLogin(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetUserByLogin", got, u)
	if hash != "hash-a" {
		t.Errorf("password hash = %q, want hash-a", hash)
	}
	users, err := db.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListUsers", users, []*ci.User{u, v})
	write(t, db, func(tx *Tx) error { return tx.SetCanCreateProjects(v.ID, true) })
	if got, _ := db.GetUserByID(ctx, v.ID); !got.CanCreateProjects {
		t.Errorf("after SetCanCreateProjects(true): %+v", got)
	}
	write(t, db, func(tx *Tx) error { return tx.SetCanCreateProjects(v.ID, false) })
	if got, _ := db.GetUserByID(ctx, v.ID); got.CanCreateProjects {
		t.Errorf("after SetCanCreateProjects(false): %+v", got)
	}
	wantErr(t, "SetCanCreateProjects of no user", db.Tx(ctx, func(tx *Tx) error { return tx.SetCanCreateProjects("nobody", true) }), ErrNotFound)
	wantErr(t, "CreateUser with a login taken", db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateUser(&ci.User{Login: "ada"}, "x")
	}), ErrConflict)
	_, _, err = db.GetUserByLogin(ctx, "nobody")
	wantErr(t, "GetUserByLogin of no user", err, ErrNotFound)

	tok := &Token{
		UserID:    u.ID,
		Name:      "laptop",
		Hash:      "sha256:aaaa",
		Kind:      TokenAPI,
		AgentType: "unused but stored",
		CreatedAt: at(10, 0, 0),
		LastUsed:  at(11, 0, 0),
		Revoked:   false,
	}
	agentTok := &Token{Name: "agents", Hash: "sha256:bbbb", Kind: TokenAgent, AgentType: "e1-standard-2"}
	second := &Token{UserID: u.ID, Name: "ci", Hash: "sha256:cccc", Kind: TokenAPI, CreatedAt: at(12, 0, 0)}
	write(t, db, func(tx *Tx) error {
		for _, tk := range []*Token{tok, agentTok, second} {
			if err := tx.CreateToken(tk); err != nil {
				return err
			}
		}
		return nil
	})
	allSet(t, tok, "Revoked")
	for _, want := range []*Token{tok, agentTok} {
		got, err := db.TokenByHash(ctx, want.Hash)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "TokenByHash", got, want)
	}
	now := at(13, 0, 0)
	if err := db.NoteTokenUse(ctx, second, now); err != nil {
		t.Fatal(err)
	}
	second.LastUsed = now
	normTime(&second.LastUsed)
	// Uses within the grain are not written, whether the caller read the
	// last one (the stored time) or not (a token read before it).
	stale := *second
	stale.LastUsed = time.Time{}
	for _, use := range []struct {
		tok *Token
		at  time.Time
	}{{second, now.Add(TokenUseGrain / 2)}, {&stale, now.Add(TokenUseGrain - time.Second)}} {
		if err := db.NoteTokenUse(ctx, use.tok, use.at); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := db.ListTokens(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListTokens", tokens, []*Token{tok, second})
	// A use past the grain is.
	later := now.Add(TokenUseGrain + time.Second)
	if err := db.NoteTokenUse(ctx, &stale, later); err != nil {
		t.Fatal(err)
	}
	second.LastUsed = later
	normTime(&second.LastUsed)
	if got, err := db.TokenByHash(ctx, second.Hash); err != nil || !got.LastUsed.Equal(second.LastUsed) {
		t.Errorf("LastUsed after a use past the grain = %v, %v; want %v", got.LastUsed, err, second.LastUsed)
	}
	tokens, err = db.ListTokens(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListTokens of no user", tokens, []*Token{agentTok})

	// Revocation.
	write(t, db, func(tx *Tx) error { return tx.RevokeToken(tok.ID) })
	_, err = db.TokenByHash(ctx, tok.Hash)
	wantErr(t, "TokenByHash of a revoked token", err, ErrNotFound)
	tok.Revoked = true
	tokens, err = db.ListTokens(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListTokens after RevokeToken", tokens, []*Token{tok, second})
	if got, err := db.TokenByHash(ctx, second.Hash); err != nil || got.ID != second.ID {
		t.Errorf("TokenByHash of another token of the user = %v, %v", got, err)
	}

	for what, tc := range map[string]struct {
		fn   func(tx *Tx) error
		want error
	}{
		"CreateToken with a hash taken": {func(tx *Tx) error {
			return tx.CreateToken(&Token{Hash: tok.Hash, Kind: TokenAPI})
		}, ErrConflict},
		"CreateToken of no user": {func(tx *Tx) error {
			return tx.CreateToken(&Token{UserID: "nope", Hash: "new", Kind: TokenAPI})
		}, ErrNotFound},
		"RevokeToken of no token": {func(tx *Tx) error { return tx.RevokeToken("nope") }, ErrNotFound},
	} {
		wantErr(t, what, db.Tx(ctx, tc.fn), tc.want)
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.CreateToken(&Token{Hash: "x", Kind: "admin"}) }); err == nil {
		t.Error("CreateToken of kind admin succeeded, want an error")
	}
}
