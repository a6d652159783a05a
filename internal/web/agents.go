package web

import (
	"net/http"

	"github.com/batonci/baton/internal/apiv1"
)

// agentsPage is the data of agents.html.
type agentsPage struct {
	// Agents is set for organisation admins only; Types for everyone.
	Agents []*apiv1.Agent
	Types  []apiv1.AgentTypeView
	Admin  bool
	Queue  []apiv1.QueuedJob
}

// agents shows, to organisation admins, the connected agents with their
// slots and current jobs; to others, the number of agents of each type
// and their free slots. Then the jobs waiting to run with the reason
// they wait.
func (w *Web) agents(rw http.ResponseWriter, r *http.Request) {
	var page agentsPage
	var view apiv1.AgentsView
	if _, err := w.apiGet(r, "/api/v1/agents", &view); err != nil {
		w.fail(rw, r, err)
		return
	}
	page.Agents, page.Types, page.Admin = view.Agents, view.Types, view.Agents != nil
	if _, err := w.apiGet(r, "/api/v1/queue", &page.Queue); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "agents.html", page)
}
