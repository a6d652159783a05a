package api

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

// agentTypes counts the live agents per type, by type.
func agentTypes(agents []*ci.Agent) []apiv1.AgentTypeView {
	byType := map[string]*apiv1.AgentTypeView{}
	for _, ag := range agents {
		if ag.State != ci.AgentConnected && ag.State != ci.AgentDraining {
			continue
		}
		v := byType[ag.Type]
		if v == nil {
			v = &apiv1.AgentTypeView{Type: ag.Type}
			byType[ag.Type] = v
		}
		v.Agents++
		if ag.State == ci.AgentConnected && len(ag.Running) < ag.Slots {
			v.Free += ag.Slots - len(ag.Running)
		}
	}
	out := []apiv1.AgentTypeView{}
	for _, v := range byType {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

func (a *API) listAgents(w http.ResponseWriter, r *http.Request, c *caller) error {
	agents, err := a.cfg.Store.ListAgents(r.Context())
	if err != nil {
		return err
	}
	view := apiv1.AgentsView{Types: agentTypes(agents)}
	if c.user.Admin {
		view.Agents = each(agents, agentView)
	}
	return writeJSON(w, http.StatusOK, view)
}

func (a *API) listAgentTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := a.cfg.Store.AgentTokens(r.Context())
	if err != nil {
		return err
	}
	out := []apiv1.AgentTokenView{}
	for _, t := range ts {
		out = append(out, apiv1.AgentTokenView{ID: t.ID, Name: t.Name, Type: t.AgentType, CreatedAt: t.CreatedAt, LastUsed: t.LastUsed, Revoked: t.Revoked})
	}
	return writeJSON(w, http.StatusOK, out)
}

// revokeAgentToken revokes an agent token: it registers no more agents,
// and the agents it registered are disconnected at their next poll
// (their held polls are woken), their running jobs failing as with a
// lost agent.
func (a *API) revokeAgentToken(w http.ResponseWriter, r *http.Request, c *caller) error {
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
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.RevokedView{Message: "revoked agent token " + id, Agents: len(agents)})
}
