package web

import (
	"net/http"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/ci"
)

// agentsPage is the data of agents.html.
type agentsPage struct {
	Agents []*ci.Agent
	Queue  []api.QueuedJob
}

// agents shows the connected agents with their slots and current jobs,
// and the jobs waiting to run with the reason they wait.
func (w *Web) agents(rw http.ResponseWriter, r *http.Request) {
	var page agentsPage
	if _, err := w.apiGet(r, "/api/v1/agents", &page.Agents); err != nil {
		w.fail(rw, r, err)
		return
	}
	if _, err := w.apiGet(r, "/api/v1/queue", &page.Queue); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "agents.html", page)
}
