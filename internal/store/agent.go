package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

const agentCols = `id, name, type, slots, version, hostname, state, executors, last_seen,
	created_at, images, image_pruning`

func scanAgent(s scanner) (*ci.Agent, error) {
	a, part := agentPart()
	return a, scanParts(s, part)
}

// agentPart is an agent's share of a row: the columns of agentCols.
func agentPart() (*ci.Agent, rowPart) {
	a := &ci.Agent{}
	var pruning string
	return a, rowPart{
		dest: []any{&a.ID, &a.Name, &a.Type, &a.Slots, &a.Version, &a.Hostname, &a.State,
			listCol{&a.Executors}, timeCol{&a.LastSeen}, timeCol{&a.CreatedAt}, listCol{&a.Images}, &pruning},
		done: func() error {
			if pruning != "" {
				a.ImagePruning = &ci.ImagePruning{}
				if json.Unmarshal([]byte(pruning), a.ImagePruning) != nil {
					a.ImagePruning = nil
				}
			}
			return nil
		},
	}
}

// SetAgentImagePruning records what an agent removed over its image disk
// budget.
func (tx *Tx) SetAgentImagePruning(id string, p *ci.ImagePruning) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return tx.execOne("set agent image pruning "+id, `UPDATE agents SET image_pruning = $2 WHERE id = $1`, id, string(b))
}

// UpsertAgent stores an agent by ID: it creates it (with a new ID if it has
// none, a CreatedAt of now if zero and a State of connected if empty), or
// overwrites every field of
// the stored agent but CreatedAt, which it sets in a to the stored value.
// Running is not stored: it is derived from the jobs.
func (tx *Tx) UpsertAgent(a *ci.Agent) error {
	if a.ID == "" {
		a.ID = ids.New()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	if a.State == "" {
		a.State = ci.AgentConnected
	}
	normTime(&a.LastSeen)
	normTime(&a.CreatedAt)
	pruning := ""
	if a.ImagePruning != nil {
		b, err := json.Marshal(a.ImagePruning)
		if err != nil {
			return err
		}
		pruning = string(b)
	}
	err := tx.queryRow(`INSERT INTO agents (`+agentCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type,
			slots = excluded.slots, version = excluded.version, hostname = excluded.hostname,
			state = excluded.state, executors = excluded.executors,
			last_seen = excluded.last_seen, images = excluded.images, image_pruning = excluded.image_pruning
		RETURNING created_at`,
		a.ID, a.Name, a.Type, a.Slots, a.Version, a.Hostname, a.State, listArg(a.Executors),
		tx.ts(a.LastSeen), tx.ts(a.CreatedAt), listArg(a.Images), pruning).Scan(timeCol{&a.CreatedAt})
	return wrap("upsert agent "+a.ID, err)
}

// GetAgent returns an agent, with Running filled.
func (tx *Tx) GetAgent(id string) (*ci.Agent, error) {
	a, err := scanAgent(tx.queryRow(`SELECT `+agentCols+` FROM agents WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get agent "+id, err)
	}
	if err := tx.fillRunning([]*ci.Agent{a}); err != nil {
		return nil, err
	}
	return a, nil
}

// GetAgent returns an agent, with Running filled.
func (db *DB) GetAgent(ctx context.Context, id string) (a *ci.Agent, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		a, err = tx.GetAgent(id)
		return err
	})
	return a, err
}

// AgentPoll returns an agent without Running (nil) and the jobs it runs
// (running and stopping, oldest start first) in one query: what each
// look of the agent's polls reads. The jobs carry only what a poll
// compares and delivers: ID, AgentID, State, StartedAt, StopRequested and
// StopReason.
func (db *DB) AgentPoll(ctx context.Context, id string) (*ci.Agent, []*ci.Job, error) {
	type row struct {
		agent *ci.Agent
		job   *ci.Job // nil on the row of an agent without jobs
	}
	rows, err := collect(db.reader(ctx), func(s scanner) (row, error) {
		var (
			jobID, state, reason sql.NullString
			stop                 sql.NullBool
			started              time.Time
		)
		a, agent := agentPart()
		r := row{agent: a}
		err := scanParts(s, agent, rowPart{dest: []any{&jobID, &state, timeCol{&started}, &stop, &reason}})
		if jobID.Valid {
			r.job = &ci.Job{ID: jobID.String, AgentID: a.ID, State: ci.State(state.String), StartedAt: started,
				StopRequested: stop.Bool, StopReason: ci.Reason(reason.String)}
		}
		return r, err
	}, agentPollQuery, id)
	if err == nil && len(rows) == 0 {
		err = sql.ErrNoRows
	}
	if err != nil {
		return nil, nil, wrap("agent poll "+id, err)
	}
	var jobs []*ci.Job
	for _, r := range rows {
		if r.job != nil {
			jobs = append(jobs, r.job)
		}
	}
	return rows[0].agent, jobs, nil
}

// agentPollQuery is AgentPoll's statement: a row per job of the agent, or
// one without a job.
var agentPollQuery = `SELECT ` + qualify("a", agentCols) + `,
	j.id, j.state, j.started_at, j.stop_requested, j.stop_reason
	FROM agents a LEFT JOIN jobs j ON j.agent_id = a.id AND j.state IN ('running', 'stopping')
	WHERE a.id = $1
	ORDER BY j.started_at, j.id`

// ListAgents returns every agent, by name, with Running filled.
func (tx *Tx) ListAgents() ([]*ci.Agent, error) {
	return tx.listAgents("list agents", `SELECT `+agentCols+` FROM agents ORDER BY name, id`)
}

// ListAgents returns every agent, by name, with Running filled.
func (db *DB) ListAgents(ctx context.Context) (as []*ci.Agent, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		as, err = tx.ListAgents()
		return err
	})
	return as, err
}

// StaleAgents returns the connected and draining agents last seen before
// that time (or never), with Running filled.
func (tx *Tx) StaleAgents(before time.Time) ([]*ci.Agent, error) {
	return tx.listAgents("stale agents", `SELECT `+agentCols+` FROM agents
		WHERE state IN ('connected', 'draining') AND (last_seen IS NULL OR last_seen < $1)
		ORDER BY name, id`, tx.ts(before))
}

// StaleAgents returns the connected and draining agents last seen before
// that time (or never), with Running filled.
func (db *DB) StaleAgents(ctx context.Context, before time.Time) (as []*ci.Agent, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		as, err = tx.StaleAgents(before)
		return err
	})
	return as, err
}

func (tx *Tx) listAgents(op, query string, args ...any) ([]*ci.Agent, error) {
	as, err := collect(tx, scanAgent, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	if err := tx.fillRunning(as); err != nil {
		return nil, err
	}
	return as, nil
}

// fillRunning sets the Running of each agent to the IDs of its running and
// stopping jobs, oldest start first.
func (tx *Tx) fillRunning(as []*ci.Agent) error {
	if len(as) == 0 {
		return nil
	}
	byID := make(map[string]*ci.Agent, len(as))
	for _, a := range as {
		a.Running = nil
		byID[a.ID] = a
	}
	query := `SELECT agent_id, id FROM jobs WHERE state IN ('running', 'stopping')`
	var args []any
	if len(as) == 1 {
		query += ` AND agent_id = $1`
		args = append(args, as[0].ID)
	}
	query += ` ORDER BY started_at, id`
	type pair struct{ agent, job string }
	pairs, err := collect(tx, func(s scanner) (p pair, err error) {
		err = s.Scan(&p.agent, &p.job)
		return p, err
	}, query, args...)
	if err != nil {
		return wrap("agent running jobs", err)
	}
	for _, p := range pairs {
		if a := byID[p.agent]; a != nil {
			a.Running = append(a.Running, p.job)
		}
	}
	return nil
}

// TouchAgent records that an agent was seen at now, and marks it connected
// unless it is draining.
func (tx *Tx) TouchAgent(id string, now time.Time) error {
	return tx.execOne("touch agent "+id, `UPDATE agents SET last_seen = $2,
		state = CASE WHEN state = 'draining' THEN state ELSE 'connected' END
		WHERE id = $1`, id, tx.ts(now))
}

// TouchAgents is TouchAgent for many agents at once (the agents whose
// polls a server holds open), in a few statements whatever their number.
func (tx *Tx) TouchAgents(ids []string, now time.Time) error {
	return tx.touchAgents("touch agents", ids, now, "")
}

// SeenAgents records that agents were seen at now, as TouchAgents does,
// but only those connected or draining: a lost or disconnected agent is
// left as it is (the agents whose polls ended since a server's last
// heartbeat, which may have disconnected since).
func (tx *Tx) SeenAgents(ids []string, now time.Time) error {
	return tx.touchAgents("seen agents", ids, now, ` AND state IN ('connected', 'draining')`)
}

func (tx *Tx) touchAgents(op string, ids []string, now time.Time, and string) error {
	ids = slices.Sorted(slices.Values(ids)) // one lock order across servers
	for len(ids) > 0 {
		n := min(len(ids), inBatch)
		args := []any{tx.ts(now)}
		in := inList(&args, ids[:n])
		if _, err := tx.exec(`UPDATE agents SET last_seen = $1,
			state = CASE WHEN state = 'draining' THEN state ELSE 'connected' END
			WHERE id IN (`+in+`)`+and, args...); err != nil {
			return wrap(op, err)
		}
		ids = ids[n:]
	}
	return nil
}

// inBatch bounds the values of one IN list.
const inBatch = 500

// inList appends vals to args and returns their placeholders
// ("$3, $4").
func inList(args *[]any, vals []string) string {
	var b strings.Builder
	for i, v := range vals {
		*args = append(*args, v)
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", len(*args))
	}
	return b.String()
}

// SetAgentState sets an agent's state.
func (tx *Tx) SetAgentState(id string, s ci.AgentState) error {
	return tx.execOne("set agent state "+id, `UPDATE agents SET state = $2 WHERE id = $1`, id, s)
}

// SetAgentImages records the container images an agent holds.
func (tx *Tx) SetAgentImages(id string, images []string) error {
	return tx.execOne("set agent images "+id, `UPDATE agents SET images = $2 WHERE id = $1`, id, listArg(images))
}

// SetAgentCredential binds a credential (its hash) to an agent and records
// the agent token it registered with.
func (tx *Tx) SetAgentCredential(id, credentialHash, tokenID string) error {
	return tx.execOne("set agent credential "+id, `UPDATE agents SET credential_hash = $2, token_id = $3
		WHERE id = $1`, id, credentialHash, tokenID)
}

// AgentCredential is the agent a credential belongs to, with the token
// it registered with.
type AgentCredential struct {
	AgentID string
	// TokenID is the agent token the agent registered with; TokenRevoked
	// reports whether it was revoked since (the credential is then void).
	TokenID      string
	TokenRevoked bool
}

// AgentByCredential returns the agent whose credential has that hash (""
// never matches); ErrNotFound if none. One query: it runs on every
// request of every agent.
func (db *DB) AgentByCredential(ctx context.Context, credentialHash string) (*AgentCredential, error) {
	if credentialHash == "" {
		return nil, fmt.Errorf("agent by credential: %w", ErrNotFound)
	}
	ac := &AgentCredential{}
	err := db.reader(ctx).queryRow(`SELECT a.id, a.token_id, COALESCE(t.revoked, TRUE) FROM agents a
		LEFT JOIN tokens t ON t.id = a.token_id
		WHERE a.credential_hash = $1`, credentialHash).Scan(&ac.AgentID, &ac.TokenID, &ac.TokenRevoked)
	if err != nil {
		return nil, wrap("agent by credential", err)
	}
	return ac, nil
}

// CredentialState is what a held poll's credential is checked against:
// the agent's stored credential hash and whether its token was revoked.
type CredentialState struct {
	Hash         string
	TokenRevoked bool
}

// AgentCredentials returns the credential state of the agents, by ID; an
// agent that does not exist is absent.
func (db *DB) AgentCredentials(ctx context.Context, ids []string) (map[string]CredentialState, error) {
	return db.reader(ctx).AgentCredentials(ids)
}

// AgentCredentials is DB.AgentCredentials in a transaction.
func (tx *Tx) AgentCredentials(ids []string) (map[string]CredentialState, error) {
	out := make(map[string]CredentialState, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), inBatch)
		var args []any
		in := inList(&args, ids[:n])
		rows, err := tx.query(`SELECT a.id, a.credential_hash, COALESCE(t.revoked, TRUE) FROM agents a
			LEFT JOIN tokens t ON t.id = a.token_id
			WHERE a.id IN (`+in+`)`, args...)
		if err != nil {
			return nil, wrap("agent credentials", err)
		}
		for rows.Next() {
			var id string
			var cs CredentialState
			if err := rows.Scan(&id, &cs.Hash, &cs.TokenRevoked); err != nil {
				rows.Close()
				return nil, wrap("agent credentials", err)
			}
			out[id] = cs
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrap("agent credentials", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// AgentCredentialMatches reports whether an agent's stored credential has
// that hash.
func (db *DB) AgentCredentialMatches(ctx context.Context, id, credentialHash string) (ok bool, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		var stored string
		if err := tx.queryRow(`SELECT credential_hash FROM agents WHERE id = $1`, id).Scan(&stored); err != nil {
			return wrap("agent credential "+id, err)
		}
		ok = stored != "" && stored == credentialHash
		return nil
	})
	return ok, err
}

// TokenAgents returns the IDs of the agents registered with a token.
func (tx *Tx) TokenAgents(tokenID string) ([]string, error) {
	ids, err := collect(tx, func(s scanner) (id string, err error) {
		err = s.Scan(&id)
		return id, err
	}, `SELECT id FROM agents WHERE token_id = $1 ORDER BY id`, tokenID)
	return ids, wrap("token agents", err)
}

// AgentTokens returns every agent token, revoked ones included, oldest
// first.
func (db *DB) AgentTokens(ctx context.Context) (ts []*Token, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		ts, err = collect(tx, scanToken, `SELECT `+tokenCols+` FROM tokens WHERE kind = $1
			ORDER BY created_at, id`, TokenAgent)
		return wrap("agent tokens", err)
	})
	return ts, err
}
