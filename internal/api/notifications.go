package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// Organisation notifications live under /api/v1/notifications, for
// organisation admins only. Endpoints and the webhook secret go in and are
// shown back as scheme and host only (an incoming-webhook URL is a
// credential).

func (a *API) notificationRoutes() []route {
	return []route{
		{"GET /api/v1/notifications", orgAdmin, a.listNotifications},
		{"POST /api/v1/notifications", orgAdmin, a.createNotification},
		{"GET /api/v1/notifications/{name}", orgAdmin, a.getNotification},
		{"PATCH /api/v1/notifications/{name}", orgAdmin, a.updateNotification},
		{"DELETE /api/v1/notifications/{name}", orgAdmin, a.deleteNotification},
		{"POST /api/v1/notifications/{name}/test", orgAdmin, a.testNotification},
		{"GET /api/v1/notifications/{name}/deliveries", orgAdmin, a.listNotificationDeliveries},
	}
}

// NotificationRequest creates (POST) or changes (PATCH) a notification. On
// PATCH every field is optional; a list replaces the one stored, an empty
// endpoint removes that target.
type NotificationRequest struct {
	// Name names a new notification (POST only).
	Name string `json:"name"`
	// Filters: exact names or /regex/; empty or absent matches anything
	// (but a private project only when named exactly).
	Projects  *[]string `json:"projects"`
	Branches  *[]string `json:"branches"`
	Pipelines *[]string `json:"pipelines"`
	// Results: passed, failed, stopped, canceled.
	Results         *[]string     `json:"results"`
	SlackEndpoint   *secret.Value `json:"slack_endpoint"`
	SlackChannels   *[]string     `json:"slack_channels"`
	WebhookEndpoint *secret.Value `json:"webhook_endpoint"`
	WebhookSecret   *secret.Value `json:"webhook_secret"`
}

func notificationDeliveryView(d *store.NotificationDelivery) apiv1.NotificationDeliveryView {
	v := apiv1.NotificationDeliveryView{ID: d.ID, PipelineID: d.PipelineID, Test: d.PipelineID == "", Target: d.Target, Channel: d.Channel,
		State: d.State, Attempts: d.Attempts, HTTPStatus: d.HTTPStatus, Error: d.Error, CreatedAt: d.CreatedAt,
		AttemptLog: []apiv1.NotificationAttemptView{}}
	if d.State == store.DeliveryPending {
		t := d.NextAt
		v.NextAt = &t
	}
	if !d.FinishedAt.IsZero() {
		t := d.FinishedAt
		v.FinishedAt = &t
	}
	for _, at := range d.AttemptLog {
		v.AttemptLog = append(v.AttemptLog, apiv1.NotificationAttemptView{N: at.N, At: at.At, HTTPStatus: at.HTTPStatus, Error: at.Error,
			DurationMS: at.Duration.Milliseconds()})
	}
	return v
}

func (req *NotificationRequest) change() notification.Change {
	return notification.Change{Projects: req.Projects, Branches: req.Branches, Pipelines: req.Pipelines, Results: req.Results,
		SlackEndpoint: req.SlackEndpoint, SlackChannels: req.SlackChannels, WebhookEndpoint: req.WebhookEndpoint, WebhookSecret: req.WebhookSecret}
}

// notificationError turns service and store errors into API errors.
func notificationError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, notification.ErrInvalid):
		return fmt.Errorf("%w: %s", errBadRequest, strings.TrimPrefix(err.Error(), notification.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: a notification named %q already exists", errConflict, name)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: there is no notification named %q", errNotFound, name)
	}
	return err
}

func (a *API) notifications() (*notification.Service, error) {
	if a.cfg.Notifications == nil {
		return nil, fmt.Errorf("%w: notifications are not enabled on this server", errNotFound)
	}
	return a.cfg.Notifications, nil
}

// auditNotification records a change in the audit log, in its
// transaction: the filters and which targets are set, never an endpoint.
func (a *API) auditNotification(r *http.Request, action audit.Action, what string) notification.Hook {
	return func(tx *store.Tx, v *notification.View) error {
		detail := fmt.Sprintf("%s; projects=%s; branches=%s; pipelines=%s; results=%s; slack=%t; webhook=%t", what,
			strings.Join(v.Projects, ","), strings.Join(v.Branches, ","), strings.Join(v.Pipelines, ","), strings.Join(v.Results, ","),
			v.Slack != nil, v.Webhook != nil)
		return audit.Record(r.Context(), tx, audit.Event{Action: action, Target: v.Name, Detail: detail, At: a.cfg.Now()})
	}
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	vs, err := s.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, each(vs, notificationView))
}

func (a *API) getNotification(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	v, err := s.Get(r.Context(), name)
	if err != nil {
		return notificationError(err, name)
	}
	return writeJSON(w, http.StatusOK, notificationView(v))
}

func (a *API) createNotification(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	var req NotificationRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.Create(r.Context(), req.Name, req.change(), c.user.Login, a.auditNotification(r, audit.NotificationChanged, "created"))
	if err != nil {
		return notificationError(err, req.Name)
	}
	return writeJSON(w, http.StatusCreated, notificationView(v))
}

func (a *API) updateNotification(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	var req NotificationRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		return fmt.Errorf("%w: notifications cannot be renamed; create a new one and delete this one", errBadRequest)
	}
	v, err := s.Update(r.Context(), name, req.change(), c.user.Login, a.auditNotification(r, audit.NotificationChanged, "updated"))
	if err != nil {
		return notificationError(err, name)
	}
	return writeJSON(w, http.StatusOK, notificationView(v))
}

func (a *API) deleteNotification(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.Delete(r.Context(), name, a.auditNotification(r, audit.NotificationDeleted, "deleted")); err != nil {
		return notificationError(err, name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testNotification enqueues a sample message to each target; the answer
// lists the deliveries, to follow with the deliveries endpoint.
func (a *API) testNotification(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	ds, err := s.Test(r.Context(), name)
	if err != nil {
		return notificationError(err, name)
	}
	out := make([]apiv1.NotificationDeliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, notificationDeliveryView(d))
	}
	return writeJSON(w, http.StatusAccepted, out)
}

// listNotificationDeliveries answers a notification's latest deliveries,
// newest first (?limit=N, default 50, at most 500).
func (a *API) listNotificationDeliveries(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.notifications()
	if err != nil {
		return err
	}
	limit := 50
	if q := r.URL.Query().Get("limit"); q != "" {
		if limit, err = strconv.Atoi(q); err != nil || limit < 1 || limit > 500 {
			return fmt.Errorf("%w: limit must be a number from 1 to 500", errBadRequest)
		}
	}
	name := r.PathValue("name")
	ds, err := s.Deliveries(r.Context(), name, limit)
	if err != nil {
		return notificationError(err, name)
	}
	out := make([]apiv1.NotificationDeliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, notificationDeliveryView(d))
	}
	return writeJSON(w, http.StatusOK, out)
}
