package store

import (
	"context"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

// Token is an API or agent token. Only a hash of the secret is stored.
type Token struct {
	ID string
	// UserID is the user the token acts for; "" for none (agent tokens
	// need none).
	UserID string
	Name   string
	// Hash identifies the token's secret; how it is computed is the
	// caller's business.
	Hash string
	// Kind is "api" or "agent".
	Kind string
	// AgentType is the type of agent that an agent token registers.
	AgentType string
	CreatedAt time.Time
	// LastUsed is zero until the token is first used.
	LastUsed time.Time
	Revoked  bool
}

// The kinds of Token.
const (
	TokenAPI   = "api"
	TokenAgent = "agent"
)

const userCols = `id, login, admin, can_create_projects, created_at`

func scanUser(s scanner) (*ci.User, error) {
	u := &ci.User{}
	err := s.Scan(&u.ID, &u.Login, &u.Admin, &u.CanCreateProjects, timeCol{&u.CreatedAt})
	return u, err
}

// CreateUser stores a new user with the hash of their password, giving
// them an ID if they have none and a CreatedAt if it is zero. A login
// already taken is ErrConflict.
func (tx *Tx) CreateUser(u *ci.User, passwordHash string) error {
	if u.ID == "" {
		u.ID = ids.New()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	normTime(&u.CreatedAt)
	_, err := tx.exec(`INSERT INTO users (id, login, admin, can_create_projects, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, u.ID, u.Login, u.Admin, u.CanCreateProjects, passwordHash, tx.ts(u.CreatedAt))
	return wrap("create user", err)
}

// SetCanCreateProjects sets whether the user of that ID may create
// projects; ErrNotFound if there is none.
func (tx *Tx) SetCanCreateProjects(id string, can bool) error {
	return tx.execOne("update user "+id, `UPDATE users SET can_create_projects = $2 WHERE id = $1`, id, can)
}

// GetUserByLogin returns a user and the hash of their password.
func (tx *Tx) GetUserByLogin(login string) (*ci.User, string, error) {
	u := &ci.User{}
	var hash string
	err := tx.queryRow(`SELECT `+userCols+`, password_hash FROM users
		WHERE login = $1`, login).Scan(&u.ID, &u.Login, &u.Admin, &u.CanCreateProjects, timeCol{&u.CreatedAt}, &hash)
	if err != nil {
		return nil, "", wrap("get user "+login, err)
	}
	return u, hash, nil
}

// GetUserByLogin returns a user and the hash of their password.
func (db *DB) GetUserByLogin(ctx context.Context, login string) (*ci.User, string, error) {
	return db.reader(ctx).GetUserByLogin(login)
}

// ListUsers returns every user, by login.
func (tx *Tx) ListUsers() ([]*ci.User, error) {
	us, err := collect(tx, scanUser, `SELECT `+userCols+` FROM users ORDER BY login`)
	return us, wrap("list users", err)
}

// ListUsers returns every user, by login.
func (db *DB) ListUsers(ctx context.Context) ([]*ci.User, error) {
	return db.reader(ctx).ListUsers()
}

const tokenCols = `id, user_id, name, hash, kind, agent_type, created_at, last_used, revoked`

func scanToken(s scanner) (*Token, error) {
	t := &Token{}
	err := s.Scan(&t.ID, strCol{&t.UserID}, &t.Name, &t.Hash, &t.Kind, &t.AgentType,
		timeCol{&t.CreatedAt}, timeCol{&t.LastUsed}, &t.Revoked)
	return t, err
}

// CreateToken stores a new token, giving it an ID if it has none and a
// CreatedAt if it is zero. A hash already stored is ErrConflict; a UserID
// that names no user is ErrNotFound.
func (tx *Tx) CreateToken(t *Token) error {
	if t.Kind != TokenAPI && t.Kind != TokenAgent {
		return fmt.Errorf("create token: kind %q is neither %q nor %q", t.Kind, TokenAPI, TokenAgent)
	}
	if t.ID == "" {
		t.ID = ids.New()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	normTime(&t.CreatedAt)
	normTime(&t.LastUsed)
	_, err := tx.exec(`INSERT INTO tokens (`+tokenCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, nullStr(t.UserID), t.Name, t.Hash, t.Kind, t.AgentType, tx.ts(t.CreatedAt),
		tx.ts(t.LastUsed), t.Revoked)
	return wrap("create token", err)
}

// TokenByHash returns the token with that hash, unless it was revoked
// (then ErrNotFound).
func (tx *Tx) TokenByHash(hash string) (*Token, error) {
	t, err := scanToken(tx.queryRow(`SELECT `+tokenCols+` FROM tokens
		WHERE hash = $1 AND NOT revoked`, hash))
	if err != nil {
		return nil, wrap("token by hash", err)
	}
	return t, nil
}

// TokenByHash returns the token with that hash, unless it was revoked
// (then ErrNotFound).
func (db *DB) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	return db.reader(ctx).TokenByHash(hash)
}

// TokenUseGrain is how precisely a token's LastUsed is kept: a use
// within TokenUseGrain of the one recorded is not written.
//
// Every API request and every agent registration uses a token, and many
// use the same one at once (a CI script's token, the agent token of a
// thousand agents registering after a restart). Writing each use made
// them queue on that token's row lock; a minute is what the token lists
// show anyway.
const TokenUseGrain = time.Minute

// NoteTokenUse records that t was used at now, unless its LastUsed (as
// read) is within TokenUseGrain of now. It writes on its own, outside any
// transaction of the caller, and only over a LastUsed older than the
// grain, so that concurrent uses write once and never wait on each other
// for long.
func (db *DB) NoteTokenUse(ctx context.Context, t *Token, now time.Time) error {
	if !t.LastUsed.IsZero() && now.Sub(t.LastUsed) < TokenUseGrain {
		return nil
	}
	tx := db.autocommit(ctx)
	_, err := tx.exec(`UPDATE tokens SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used < $3)`,
		t.ID, tx.ts(now), tx.ts(now.Add(-TokenUseGrain)))
	return wrap("note the use of token "+t.ID, err)
}

// ListTokens returns a user's tokens, revoked ones included, oldest first;
// with userID "", the tokens of no user.
func (tx *Tx) ListTokens(userID string) ([]*Token, error) {
	q := `SELECT ` + tokenCols + ` FROM tokens WHERE user_id = $1 ORDER BY created_at, id`
	args := []any{userID}
	if userID == "" {
		q = `SELECT ` + tokenCols + ` FROM tokens WHERE user_id IS NULL ORDER BY created_at, id`
		args = nil
	}
	ts, err := collect(tx, scanToken, q, args...)
	return ts, wrap("list tokens", err)
}

// ListTokens returns a user's tokens, revoked ones included, oldest first;
// with userID "", the tokens of no user.
func (db *DB) ListTokens(ctx context.Context, userID string) ([]*Token, error) {
	return db.reader(ctx).ListTokens(userID)
}

// RevokeToken revokes a token for good.
func (tx *Tx) RevokeToken(id string) error {
	return tx.execOne("revoke token "+id, `UPDATE tokens SET revoked = TRUE WHERE id = $1`, id)
}

// GetUserByID returns a user.
func (tx *Tx) GetUserByID(id string) (*ci.User, error) {
	u, err := scanUser(tx.queryRow(`SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get user "+id, err)
	}
	return u, nil
}

// GetUserByID returns a user.
func (db *DB) GetUserByID(ctx context.Context, id string) (*ci.User, error) {
	return db.reader(ctx).GetUserByID(id)
}
