package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge/hosts"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/trigger"
)

// Hooks redelivers recorded webhook deliveries; *trigger.Trigger
// implements it.
type Hooks interface {
	Redeliver(ctx context.Context, p *ci.Project, id string) (*store.Delivery, error)
}

// applyForge applies a request's forge fields and webhook secret: the
// kind is checked, and the token and secret sealed by the vault (which
// needs the project's ID, so a new project gets it here). A stored forge
// token belongs to the forge it was given for: changing the forge kind or
// URL without giving a new token clears it.
func (a *API) applyForge(p *ci.Project, req *apiv1.ProjectRequest) error {
	oldKind, oldURL := p.Forge, p.ForgeURL
	if req.Forge != nil {
		p.Forge = strings.TrimSpace(*req.Forge)
		if p.Forge == "git" {
			p.Forge = ""
		}
	}
	if req.ForgeURL != nil {
		p.ForgeURL = strings.TrimRight(strings.TrimSpace(*req.ForgeURL), "/")
	}
	if req.ForgeRepo != nil {
		p.ForgeRepo = strings.Trim(strings.TrimSpace(*req.ForgeRepo), "/")
	}
	if _, err := hosts.New(p.Forge, p.ForgeURL, "", nil); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if p.Forge != oldKind || p.ForgeURL != oldURL {
		p.ForgeToken = ""
	}
	seal := func(what string, plain *string, into *string, sealWith func(p *ci.Project, plain string) (string, error)) error {
		if plain == nil {
			return nil
		}
		if *plain == "" {
			*into = ""
			return nil
		}
		if a.cfg.Secrets == nil {
			return fmt.Errorf("%w: this server has no secret key to encrypt the %s with", errBadRequest, what)
		}
		if p.ID == "" {
			p.ID = ids.New()
		}
		sealed, err := sealWith(p, *plain)
		if err != nil {
			return err
		}
		*into = sealed
		return nil
	}
	if err := seal("forge token", req.ForgeToken, &p.ForgeToken, func(p *ci.Project, plain string) (string, error) {
		return a.cfg.Secrets.SealForgeToken(p, plain)
	}); err != nil {
		return err
	}
	return seal("webhook secret", req.WebhookSecret, &p.WebhookSecret, func(p *ci.Project, plain string) (string, error) {
		return a.cfg.Secrets.SealWebhookSecret(p.ID, plain)
	})
}

func deliveryView(d *store.Delivery) apiv1.DeliveryView {
	return apiv1.DeliveryView{ID: d.ID, Event: d.Event, Status: d.Status, HTTPStatus: d.HTTPStatus, Message: d.Message,
		PayloadBytes: len(d.Payload), RedeliveryOf: d.RedeliveryOf, CreatedAt: d.CreatedAt}
}

// listDeliveries answers the project's recent webhook deliveries, newest
// first (?limit=N, default 50).
func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			return fmt.Errorf("%w: limit must be a positive number", errBadRequest)
		}
	}
	ds, err := a.cfg.Store.ListDeliveries(r.Context(), p.ID, limit)
	if err != nil {
		return err
	}
	out := make([]apiv1.DeliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, deliveryView(d))
	}
	return writeJSON(w, http.StatusOK, out)
}

// redeliver processes a recorded delivery again.
func (a *API) redeliver(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	if a.cfg.Hooks == nil {
		return fmt.Errorf("%w: webhooks are not served here", errNotFound)
	}
	d, err := a.cfg.Hooks.Redeliver(r.Context(), p, r.PathValue("id"))
	if errors.Is(err, trigger.ErrNoDelivery) {
		err = fmt.Errorf("%w: %v", errNotFound, err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deliveryView(d))
}
