package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// toolRoutes are the organisation's global tools: every signed-in user
// reads them (jobs get them anyway), organisation admins set them.
func (a *API) toolRoutes() []route {
	return []route{
		{"GET /api/v1/tools", signedIn, a.listTools},
		{"PUT /api/v1/tools", orgAdmin, a.setTools},
	}
}

func toolsView(ts []ci.GlobalTool) apiv1.ToolsView {
	v := apiv1.ToolsView{Tools: []apiv1.GlobalTool{}}
	for _, t := range ts {
		v.Tools = append(v.Tools, apiv1.GlobalTool{Kind: t.Kind, Name: t.Name, Version: t.Version})
	}
	return v
}

func (a *API) listTools(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := a.cfg.Store.ListGlobalTools(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toolsView(ts))
}

// maxGlobalTools bounds the list: each is installed before every job.
const maxGlobalTools = 50

func (a *API) setTools(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.ToolsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Tools) > maxGlobalTools {
		return fmt.Errorf("%w: at most %d global tools", errBadRequest, maxGlobalTools)
	}
	ts := []ci.GlobalTool{}
	seen := map[string]bool{}
	for _, spec := range req.Tools {
		t, err := ci.ParseGlobalTool(spec, req.Kind)
		if err != nil {
			return fmt.Errorf("%w: %v", errBadRequest, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("%w: %s is listed twice", errBadRequest, t.Name)
		}
		seen[t.Name] = true
		ts = append(ts, t)
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Kind + ":" + t.Name + "@" + t.Version
	}
	err := a.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.SetGlobalTools(ts); err != nil {
			return err
		}
		// Every job of every project runs what is set here: who changed
		// it, and to what, is on record.
		return audit.Record(r.Context(), tx, audit.Event{Action: audit.ToolsChanged, Target: "global tools",
			Detail: strings.Join(names, " "), At: a.cfg.Now()})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toolsView(ts))
}
