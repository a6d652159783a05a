package api

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

// AgentsView is GET /api/v1/agents: per agent type, how many agents are
// connected and whether one is free, for every signed-in user; the agents
// themselves (names, host names, running jobs) for organisation admins
// only.
type AgentsView struct {
	Types []AgentTypeView `json:"types"`
	// Agents is set for organisation admins only.
	Agents []*ci.Agent `json:"agents,omitempty"`
}

// AgentTypeView counts the connected agents of one type.
type AgentTypeView struct {
	Type string `json:"type"`
	// Agents is the number of connected (or draining) agents.
	Agents int `json:"agents"`
	// Free is the number of free slots on connected agents.
	Free int `json:"free"`
}

// agentTypes counts the live agents per type, by type.
func agentTypes(agents []*ci.Agent) []AgentTypeView {
	byType := map[string]*AgentTypeView{}
	for _, ag := range agents {
		if ag.State != ci.AgentConnected && ag.State != ci.AgentDraining {
			continue
		}
		v := byType[ag.Type]
		if v == nil {
			v = &AgentTypeView{Type: ag.Type}
			byType[ag.Type] = v
		}
		v.Agents++
		if ag.State == ci.AgentConnected && len(ag.Running) < ag.Slots {
			v.Free += ag.Slots - len(ag.Running)
		}
	}
	out := []AgentTypeView{}
	for _, v := range byType {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

func (a *API) listAgents(w http.ResponseWriter, r *http.Request, c *caller) {
	agents, err := a.cfg.Store.ListAgents(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	view := AgentsView{Types: agentTypes(agents)}
	if c.user.Admin {
		view.Agents = agents
		if view.Agents == nil {
			view.Agents = []*ci.Agent{}
		}
	}
	writeJSON(w, http.StatusOK, view)
}

// AgentTokenView is an agent token as GET /api/v1/agent-tokens shows it
// (never its secret).
type AgentTokenView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Revoked   bool      `json:"revoked"`
}

func (a *API) listAgentTokens(w http.ResponseWriter, r *http.Request, c *caller) {
	ts, err := a.cfg.Store.AgentTokens(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := []AgentTokenView{}
	for _, t := range ts {
		out = append(out, AgentTokenView{ID: t.ID, Name: t.Name, Type: t.AgentType, CreatedAt: t.CreatedAt, LastUsed: t.LastUsed, Revoked: t.Revoked})
	}
	writeJSON(w, http.StatusOK, out)
}

// revokeAgentToken revokes an agent token: it registers no more agents,
// and the agents it registered are disconnected at their next poll
// (their held polls are woken), their running jobs failing as with a
// lost agent.
func (a *API) revokeAgentToken(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("id")
	ctx := r.Context()
	var agents []string
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.GetToken(id)
		if err != nil || t.Kind != store.TokenAgent {
			return fmt.Errorf("%w: agent token %q", errNotFound, id)
		}
		if err := tx.RevokeToken(id); err != nil {
			return err
		}
		if agents, err = tx.TokenAgents(id); err != nil {
			return err
		}
		for _, ag := range agents {
			if err := tx.Notify(engine.ChannelCancel, ag); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.TokenRevoked, Target: id,
			Detail: fmt.Sprintf("agent token %s (%d agents)", t.Name, len(agents)), At: a.cfg.Now()})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "revoked agent token " + id, "agents": len(agents)})
}
