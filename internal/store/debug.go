package store

import (
	"context"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// SSHKey is a user's SSH public key, for debug sessions.
type SSHKey struct {
	ID     string `json:"id"`
	UserID string `json:"-"`
	Name   string `json:"name"`
	// PublicKey is an authorized_keys line without options.
	PublicKey   string    `json:"public_key"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
}

const sshKeyCols = `id, user_id, name, public_key, fingerprint, created_at`

func scanSSHKey(s scanner) (*SSHKey, error) {
	k := &SSHKey{}
	err := s.Scan(&k.ID, &k.UserID, &k.Name, &k.PublicKey, &k.Fingerprint, timeCol{&k.CreatedAt})
	return k, err
}

// AddSSHKey stores a key; a fingerprint already stored (by anyone) is
// ErrConflict.
func (tx *Tx) AddSSHKey(k *SSHKey) error {
	if k.ID == "" {
		k.ID = ids.New()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now()
	}
	normTime(&k.CreatedAt)
	_, err := tx.exec(`INSERT INTO ssh_keys (`+sshKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.UserID, k.Name, k.PublicKey, k.Fingerprint, tx.ts(k.CreatedAt))
	return wrap("add ssh key", err)
}

// SSHKeys returns a user's keys, oldest first.
func (tx *Tx) SSHKeys(userID string) ([]*SSHKey, error) {
	rows, err := tx.query(`SELECT `+sshKeyCols+` FROM ssh_keys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("list ssh keys", err)
	}
	defer rows.Close()
	var out []*SSHKey
	for rows.Next() {
		k, err := scanSSHKey(rows)
		if err != nil {
			return nil, wrap("list ssh keys", err)
		}
		out = append(out, k)
	}
	return out, wrap("list ssh keys", rows.Err())
}

// SSHKeys returns a user's keys, oldest first.
func (db *DB) SSHKeys(ctx context.Context, userID string) ([]*SSHKey, error) {
	return db.reader(ctx).SSHKeys(userID)
}

// DeleteSSHKey removes one of a user's keys; another user's key is
// ErrNotFound.
func (tx *Tx) DeleteSSHKey(userID, id string) error {
	return tx.execOne("delete ssh key "+id, `DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2`, id, userID)
}

// SetAgentHostKey records the SSH host key an agent reported.
func (tx *Tx) SetAgentHostKey(agentID, key string) error {
	return tx.execOne("set agent host key "+agentID, `UPDATE agents SET ssh_host_key = $1 WHERE id = $2`, key, agentID)
}

// AgentHostKey returns the SSH host key of an agent ("" if it reported
// none).
func (db *DB) AgentHostKey(ctx context.Context, agentID string) (string, error) {
	var key string
	err := db.reader(ctx).queryRow(`SELECT ssh_host_key FROM agents WHERE id = $1`, agentID).Scan(&key)
	return key, wrap("agent host key "+agentID, err)
}

// DebugSession is a connection of a user into a job (baton attach, baton
// debug), recorded for the audit.
type DebugSession struct {
	ID        string `json:"id"`
	JobID     string `json:"job_id"`
	ProjectID string `json:"project_id"`
	AgentID   string `json:"agent_id"`
	UserID    string `json:"-"`
	Login     string `json:"login"`
	Kind      string `json:"kind"`
	// ServerURL is where the server holding the user's end of the
	// session is reached: the agent dials it.
	ServerURL string    `json:"-"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	OpenedAt  time.Time `json:"opened_at,omitzero"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

// The states of a debug session.
const (
	SessionPending = "pending"
	SessionOpen    = "open"
	SessionClosed  = "closed"
)

const debugSessionCols = `id, job_id, project_id, agent_id, user_id, login, kind, server_url, state, created_at, opened_at, closed_at`

func scanDebugSession(s scanner) (*DebugSession, error) {
	d := &DebugSession{}
	err := s.Scan(&d.ID, &d.JobID, &d.ProjectID, &d.AgentID, &d.UserID, &d.Login, &d.Kind, &d.ServerURL, &d.State,
		timeCol{&d.CreatedAt}, timeCol{&d.OpenedAt}, timeCol{&d.ClosedAt})
	return d, err
}

// CreateDebugSession stores a new session (pending unless State is set).
func (tx *Tx) CreateDebugSession(d *DebugSession) error {
	if d.ID == "" {
		d.ID = ids.New()
	}
	if d.State == "" {
		d.State = SessionPending
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	normTime(&d.CreatedAt)
	_, err := tx.exec(`INSERT INTO debug_sessions (`+debugSessionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		d.ID, d.JobID, d.ProjectID, d.AgentID, d.UserID, d.Login, d.Kind, d.ServerURL, d.State,
		tx.ts(d.CreatedAt), tx.ts(d.OpenedAt), tx.ts(d.ClosedAt))
	return wrap("create debug session", err)
}

// OpenDebugSession marks a pending session open; a session that is not
// pending is ErrNotFound.
func (tx *Tx) OpenDebugSession(id string, at time.Time) error {
	return tx.execOne("open debug session "+id, `UPDATE debug_sessions SET state = $1, opened_at = $2
		WHERE id = $3 AND state = $4`, SessionOpen, tx.ts(at), id, SessionPending)
}

// CloseDebugSession marks a session closed (once).
func (tx *Tx) CloseDebugSession(id string, at time.Time) error {
	return tx.execOne("close debug session "+id, `UPDATE debug_sessions SET state = $1, closed_at = $2
		WHERE id = $3 AND state <> $1`, SessionClosed, tx.ts(at), id)
}

// GetDebugSession returns a session.
func (db *DB) GetDebugSession(ctx context.Context, id string) (*DebugSession, error) {
	d, err := scanDebugSession(db.reader(ctx).queryRow(`SELECT `+debugSessionCols+` FROM debug_sessions WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get debug session "+id, err)
	}
	return d, nil
}

// PendingDebugSessions returns the sessions an agent is asked to open.
func (db *DB) PendingDebugSessions(ctx context.Context, agentID string) ([]*DebugSession, error) {
	return db.listDebugSessions(ctx, `WHERE agent_id = $1 AND state = $2 ORDER BY created_at, id`, agentID, SessionPending)
}

// JobDebugSessions returns the sessions of a job, oldest first.
func (db *DB) JobDebugSessions(ctx context.Context, jobID string) ([]*DebugSession, error) {
	return db.listDebugSessions(ctx, `WHERE job_id = $1 ORDER BY created_at, id`, jobID)
}

func (db *DB) listDebugSessions(ctx context.Context, where string, args ...any) ([]*DebugSession, error) {
	rows, err := db.reader(ctx).query(`SELECT `+debugSessionCols+` FROM debug_sessions `+where, args...)
	if err != nil {
		return nil, wrap("list debug sessions", err)
	}
	defer rows.Close()
	var out []*DebugSession
	for rows.Next() {
		d, err := scanDebugSession(rows)
		if err != nil {
			return nil, wrap("list debug sessions", err)
		}
		out = append(out, d)
	}
	return out, wrap("list debug sessions", rows.Err())
}

// RecordDebugJob records that jobID is a debug job of ofJobID, made for
// userID.
func (tx *Tx) RecordDebugJob(jobID, ofJobID, userID string, at time.Time) error {
	_, err := tx.exec(`INSERT INTO debug_jobs (job_id, of_job_id, user_id, created_at) VALUES ($1, $2, $3, $4)`,
		jobID, ofJobID, userID, tx.ts(at))
	return wrap("record debug job", err)
}

// DebugJobOf returns the job a debug job reproduces; ErrNotFound if jobID
// is not a debug job.
func (db *DB) DebugJobOf(ctx context.Context, jobID string) (string, error) {
	var of string
	err := db.reader(ctx).queryRow(`SELECT of_job_id FROM debug_jobs WHERE job_id = $1`, jobID).Scan(&of)
	return of, wrap("debug job "+jobID, err)
}

// IsDebugPipeline reports whether pipeline id is a debug job's pipeline.
func (tx *Tx) IsDebugPipeline(id string) (bool, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM jobs j JOIN debug_jobs d ON d.job_id = j.id WHERE j.pipeline_id = $1`, id).Scan(&n)
	return n > 0, wrap("is debug pipeline", err)
}
