package store

import (
	"context"
	"time"
)

// Member is a user's role in a project.
type Member struct {
	ProjectID string    `json:"project_id"`
	UserID    string    `json:"user_id"`
	Login     string    `json:"login"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Session is a signed-in browser. Only a hash of the id in its cookie is
// stored.
type Session struct {
	Hash      string
	UserID    string
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	// Seq numbers the events in the order they were recorded; set by
	// RecordAudit.
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor"`
	Target    string    `json:"target"`
	ProjectID string    `json:"project_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// DeleteUser removes a user with their API tokens, sessions and project
// roles. The agent tokens they created keep working, owned by no one.
func (tx *Tx) DeleteUser(id string) error {
	if _, err := tx.exec(`UPDATE tokens SET user_id = NULL WHERE user_id = $1 AND kind = $2`, id, TokenAgent); err != nil {
		return wrap("delete user "+id, err)
	}
	return tx.execOne("delete user "+id, `DELETE FROM users WHERE id = $1`, id)
}

// GetToken returns a token by ID, revoked or not.
func (tx *Tx) GetToken(id string) (*Token, error) {
	t, err := scanToken(tx.queryRow(`SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get token "+id, err)
	}
	return t, nil
}

// GetToken returns a token by ID, revoked or not.
func (db *DB) GetToken(ctx context.Context, id string) (*Token, error) {
	return db.reader(ctx).GetToken(id)
}

// SetMember gives a user a role in a project, replacing any role they had.
// A project or user that does not exist is ErrNotFound.
func (tx *Tx) SetMember(m *Member) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	normTime(&m.CreatedAt)
	_, err := tx.exec(`INSERT INTO project_members (project_id, user_id, role, created_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`,
		m.ProjectID, m.UserID, m.Role, tx.ts(m.CreatedAt))
	return wrap("set member", err)
}

// RemoveMember takes a user's role in a project away; it reports whether
// they had one.
func (tx *Tx) RemoveMember(projectID, userID string) (bool, error) {
	res, err := tx.exec(`DELETE FROM project_members WHERE project_id = $1 AND user_id = $2`, projectID, userID)
	if err != nil {
		return false, wrap("remove member", err)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap("remove member", err)
}

func scanMember(s scanner) (*Member, error) {
	m := &Member{}
	err := s.Scan(&m.ProjectID, &m.UserID, &m.Login, &m.Role, timeCol{&m.CreatedAt})
	return m, err
}

// ListMembers returns the members of a project, by login.
func (db *DB) ListMembers(ctx context.Context, projectID string) ([]*Member, error) {
	ms, err := collect(db.reader(ctx), scanMember, `SELECT m.project_id, m.user_id, u.login, m.role, m.created_at
		FROM project_members m JOIN users u ON u.id = m.user_id
		WHERE m.project_id = $1 ORDER BY u.login`, projectID)
	return ms, wrap("list members", err)
}

// UserRoles returns a user's roles by project ID.
func (db *DB) UserRoles(ctx context.Context, userID string) (map[string]string, error) {
	ms, err := collect(db.reader(ctx), scanMember, `SELECT m.project_id, m.user_id, '', m.role, m.created_at
		FROM project_members m WHERE m.user_id = $1`, userID)
	if err != nil {
		return nil, wrap("user roles", err)
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.ProjectID] = m.Role
	}
	return out, nil
}

// CreateSession stores a new session.
func (tx *Tx) CreateSession(s *Session) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	normTime(&s.CreatedAt)
	normTime(&s.ExpiresAt)
	_, err := tx.exec(`INSERT INTO sessions (hash, user_id, csrf_token, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, s.Hash, s.UserID, s.CSRFToken, tx.ts(s.CreatedAt), tx.ts(s.ExpiresAt))
	return wrap("create session", err)
}

// SessionByHash returns the session with that hash unless it expired
// before now (then ErrNotFound).
func (db *DB) SessionByHash(ctx context.Context, hash string, now time.Time) (*Session, error) {
	tx := db.reader(ctx)
	s := &Session{}
	err := tx.queryRow(`SELECT hash, user_id, csrf_token, created_at, expires_at FROM sessions
		WHERE hash = $1 AND expires_at > $2`, hash, tx.ts(now)).
		Scan(&s.Hash, &s.UserID, &s.CSRFToken, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt})
	if err != nil {
		return nil, wrap("session by hash", err)
	}
	return s, nil
}

// DeleteSession ends a session; ending one that does not exist is no
// error.
func (tx *Tx) DeleteSession(hash string) error {
	_, err := tx.exec(`DELETE FROM sessions WHERE hash = $1`, hash)
	return wrap("delete session", err)
}

// DeleteExpiredSessions removes the sessions that expired before now.
func (tx *Tx) DeleteExpiredSessions(now time.Time) error {
	_, err := tx.exec(`DELETE FROM sessions WHERE expires_at <= $1`, tx.ts(now))
	return wrap("delete expired sessions", err)
}

// RecordAudit appends an event to the audit log and sets its Seq; a zero
// At is now.
func (tx *Tx) RecordAudit(e *AuditEvent) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	normTime(&e.At)
	err := tx.queryRow(`INSERT INTO audit_events (at, action, actor, target, project_id, ip, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`,
		tx.ts(e.At), e.Action, e.Actor, e.Target, e.ProjectID, e.IP, e.Detail).Scan(&e.Seq)
	return wrap("record audit event", err)
}

func scanAudit(s scanner) (*AuditEvent, error) {
	e := &AuditEvent{}
	err := s.Scan(&e.Seq, timeCol{&e.At}, &e.Action, &e.Actor, &e.Target, &e.ProjectID, &e.IP, &e.Detail)
	return e, err
}

// ListAudit returns the last limit events of the audit log, newest first.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]*AuditEvent, error) {
	es, err := collect(db.reader(ctx), scanAudit, `SELECT seq, at, action, actor, target, project_id, ip, detail
		FROM audit_events ORDER BY seq DESC LIMIT $1`, limit)
	return es, wrap("list audit events", err)
}
