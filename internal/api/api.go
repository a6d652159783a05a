// Package api serves Baton's REST JSON API under /api/v1 and owns who may
// do what: requests are authenticated with `Authorization: Token <token>`
// or a browser session cookie (see SignIn), and every route has exactly one
// access rule in the authorisation table (authz.go); anonymous requests may
// only read public projects. The request and response bodies are the
// contract's (internal/apiv1). Handlers return errors; every error is JSON
// {"message": ...} with the right status, translated from domain errors in
// one place (writeError).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/artifact"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/coveragereports"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/library"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/schedule"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testresults"
	"github.com/batonci/baton/internal/vault"
)

// Config wires the API to the rest of the server.
type Config struct {
	Store  *store.DB
	Engine *engine.Engine
	Logs   *logstore.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Wake is called after a project is created or changed, so the poller
	// picks it up at once.
	Wake func()
	// Limiter slows down password guessing (default: 5 failures per login
	// and per client address, then an exponential wait).
	Limiter *auth.Limiter
	// MaxPasswordChecks is how many passwords are hashed at once at most
	// (default 4).
	MaxPasswordChecks int
	// SessionTTL is how long a browser session lasts (default 7 days).
	SessionTTL time.Duration
	// Secrets stores organisation and project secrets; nil disables the
	// secrets endpoints.
	Secrets *vault.Vault
	// Hooks redelivers webhook deliveries; nil disables redelivery.
	Hooks Hooks
	// Streams and Upgrade carry debug sessions to agents (debug.go); nil
	// disables them.
	Streams Streams
	Upgrade Upgrader
	// Artifacts keeps the jobs' artifacts; nil lists none.
	Artifacts *artifact.Store
	// Tests keeps the jobs' test reports; nil answers 404.
	Tests *testresults.Service
	// Coverage keeps the jobs' code coverage; nil answers 404.
	Coverage *coveragereports.Service
	// Blobs is the object storage of artifacts and caches, from which a
	// deleted project's objects are deleted; nil deletes none.
	Blobs blob.Store
	// Notifications manages organisation notifications; nil disables
	// the notifications endpoints.
	Notifications *notification.Service
	// Libraries manages the organisation's script libraries; nil
	// disables the libraries endpoints.
	Libraries *library.Service
	// Schedules runs schedules now; nil refuses runs now.
	Schedules *schedule.Service
}

// API is the HTTP handler of /api/v1.
type API struct {
	cfg Config
	mux *patternMux
	// dummyHash is checked against when a login does not exist, so that
	// a failed sign-in takes as long either way.
	dummyHash func() string
	// hashing holds a token per password being checked.
	hashing chan struct{}
	// streams counts each client address's live log streams.
	streams *streamLimit
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.Limiter == nil {
		cfg.Limiter = auth.NewLimiter(auth.LimiterConfig{Now: cfg.Now})
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.MaxPasswordChecks <= 0 {
		cfg.MaxPasswordChecks = 4
	}
	a := &API{cfg: cfg, mux: &patternMux{ServeMux: http.NewServeMux()}, hashing: make(chan struct{}, cfg.MaxPasswordChecks),
		streams: &streamLimit{max: MaxLiveStreams, open: map[string]int{}}, dummyHash: sync.OnceValue(func() string {
			h, _ := auth.HashPassword(auth.NewPassword())
			return h
		})}
	a.routes()
	return a
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) table() []route {
	return append([]route{
		{"GET /api/v1/me", signedIn, a.me},
		{"GET /api/v1/projects", anyone, a.listProjects},
		{"POST /api/v1/projects", projectCreator, a.createProject},
		{"GET /api/v1/projects/{project}", projectRead, a.getProject},
		{"PATCH /api/v1/projects/{project}", projectAdmin, a.updateProject},
		{"DELETE /api/v1/projects/{project}", projectAdmin, a.deleteProject},
		{"GET /api/v1/projects/{project}/workflows", projectRead, a.listWorkflows},
		{"GET /api/v1/projects/{project}/refs", projectRead, a.projectRefs},
		{"GET /api/v1/projects/{project}/history", projectRead, a.projectHistory},
		{"GET /api/v1/projects/{project}/access", projectRead, a.projectAccess},
		{"POST /api/v1/projects/{project}/workflows", projectWrite, a.runWorkflow},
		{"GET /api/v1/projects/{project}/members", projectAdmin, a.listMembers},
		{"PUT /api/v1/projects/{project}/members/{login}", projectAdmin, a.setMember},
		{"DELETE /api/v1/projects/{project}/members/{login}", projectAdmin, a.removeMember},
		{"GET /api/v1/workflows/{id}", projectRead, a.getWorkflow},
		{"POST /api/v1/workflows/{id}/stop", projectWrite, a.stopWorkflow},
		{"POST /api/v1/workflows/{id}/rebuild", projectWrite, a.rebuildWorkflow},
		{"GET /api/v1/pipelines/{id}", projectRead, a.getPipeline},
		{"POST /api/v1/pipelines/{id}/stop", projectWrite, a.stopPipeline},
		{"POST /api/v1/pipelines/{id}/rerun-failed", projectWrite, a.rerunFailed},
		{"GET /api/v1/pipelines/{id}/promotions", projectRead, a.listPromotions},
		{"POST /api/v1/pipelines/{id}/promote", projectWrite, a.promote},
		{"GET /api/v1/projects/{project}/targets", projectWrite, a.listTargets},
		{"POST /api/v1/projects/{project}/targets", projectAdmin, a.createTarget},
		{"GET /api/v1/projects/{project}/targets/{name}", projectWrite, a.getTarget},
		{"PATCH /api/v1/projects/{project}/targets/{name}", projectAdmin, a.updateTarget},
		{"DELETE /api/v1/projects/{project}/targets/{name}", projectAdmin, a.deleteTarget},
		{"GET /api/v1/projects/{project}/targets/{name}/history", projectWrite, a.targetHistory},
		{"GET /api/v1/projects/{project}/schedules", projectRead, a.listSchedules},
		{"POST /api/v1/projects/{project}/schedules", projectWrite, a.createSchedule},
		{"GET /api/v1/projects/{project}/schedules/{name}", projectRead, a.getSchedule},
		{"PATCH /api/v1/projects/{project}/schedules/{name}", projectWrite, a.updateSchedule},
		{"DELETE /api/v1/projects/{project}/schedules/{name}", projectWrite, a.deleteSchedule},
		{"POST /api/v1/projects/{project}/schedules/{name}/pause", projectWrite, a.pauseSchedule},
		{"POST /api/v1/projects/{project}/schedules/{name}/resume", projectWrite, a.resumeSchedule},
		{"POST /api/v1/projects/{project}/schedules/{name}/run", projectWrite, a.runSchedule},
		{"GET /api/v1/jobs/{id}", projectRead, a.getJob},
		{"POST /api/v1/jobs/{id}/stop", projectWrite, a.stopJob},
		{"GET /api/v1/jobs/{id}/log", projectRead, a.jobLog},
		{"GET /api/v1/jobs/{id}/commands", projectRead, a.jobCommands},
		{"GET /api/v1/jobs/{id}/ssh", projectWrite, a.sshInfo},
		{"GET /api/v1/jobs/{id}/ssh/connect", projectWrite, a.sshConnect},
		{"POST /api/v1/jobs/{id}/debug", projectWrite, a.debugJob},
		{"GET /api/v1/jobs/{id}/sessions", projectWrite, a.jobSessions},
		{"GET /api/v1/keys", self, a.listKeys},
		{"POST /api/v1/keys", self, a.addKey},
		{"DELETE /api/v1/keys/{id}", self, a.removeKey},
		{"GET /api/v1/agents", signedIn, a.listAgents},
		{"GET /api/v1/queue", signedIn, a.queue},
		{"POST /api/v1/agent-tokens", orgAdmin, a.createAgentToken},
		{"GET /api/v1/agent-tokens", orgAdmin, a.listAgentTokens},
		{"DELETE /api/v1/agent-tokens/{id}", orgAdmin, a.revokeAgentToken},
		{"GET /api/v1/users", orgAdmin, a.listUsers},
		{"POST /api/v1/users", orgAdmin, a.addUser},
		{"PATCH /api/v1/users/{login}", orgAdmin, a.updateUser},
		{"DELETE /api/v1/users/{login}", orgAdmin, a.removeUser},
		{"GET /api/v1/tokens", self, a.listTokens},
		{"POST /api/v1/tokens", self, a.createToken},
		{"DELETE /api/v1/tokens/{id}", self, a.revokeToken},
		{"GET /api/v1/audit", orgAdmin, a.listAudit},
		{"GET /api/v1/secrets", orgAdmin, a.listSecrets},
		{"POST /api/v1/secrets", orgAdmin, a.createSecret},
		{"GET /api/v1/secrets/{name}", orgAdmin, a.getSecret},
		{"PUT /api/v1/secrets/{name}", orgAdmin, a.updateSecret},
		{"DELETE /api/v1/secrets/{name}", orgAdmin, a.deleteSecret},
		{"GET /api/v1/projects/{project}/secrets", projectWrite, a.listSecrets},
		{"POST /api/v1/projects/{project}/secrets", projectAdmin, a.createSecret},
		{"GET /api/v1/projects/{project}/secrets/{name}", projectWrite, a.getSecret},
		{"PUT /api/v1/projects/{project}/secrets/{name}", projectAdmin, a.updateSecret},
		{"DELETE /api/v1/projects/{project}/secrets/{name}", projectAdmin, a.deleteSecret},
		{"GET /api/v1/projects/{project}/deliveries", projectAdmin, a.listDeliveries},
		{"POST /api/v1/projects/{project}/deliveries/{id}/redeliver", projectAdmin, a.redeliver},
	}, append(append(append(append(append(a.artifactRoutes(), a.notificationRoutes()...), a.testRoutes()...), a.libraryRoutes()...), a.coverageRoutes()...), a.toolRoutes()...)...)
}

// project loads the project named in the path and checks read access; an
// unreadable project is "not found", never "forbidden", so its existence
// does not leak.
func (a *API) project(r *http.Request, c *caller, idOrName string) (*ci.Project, error) {
	p, err := a.cfg.Store.GetProject(r.Context(), idOrName)
	if err != nil || !c.canRead(p) {
		return nil, fmt.Errorf("%w: project %q", errNotFound, idOrName)
	}
	return p, nil
}

// writeJSON writes v with status code. It returns nil, so that a
// handler ends with `return writeJSON(w, http.StatusOK, v)`.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return nil
}

// handlerFunc is a handler of the API: it writes its answer and returns
// nil, or returns the error that adapt writes.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *caller) error

// writeError writes err as the API's error answer: the status and message
// of an *apiv1.Error, or the status errorStatus maps the domain error
// to. This is the only place errors become HTTP statuses; internal errors
// are logged with the API's logger, never shown.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, retry := errorStatus(err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if code == http.StatusInternalServerError {
		a.cfg.Logger.Error("api", "method", r.Method, "path", r.URL.Path, "err", repourl.Redact(err.Error()))
	}
	// Errors of git quote repository URLs: never with their credentials.
	writeJSON(w, code, apiv1.ErrorBody{Message: repourl.Redact(msg)})
}

// errorStatus maps an error to its status, message and Retry-After.
func errorStatus(err error) (code int, msg string, retryAfter int) {
	var apiErr *apiv1.Error
	var retry *auth.RetryError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Status, apiErr.Message, apiErr.RetryAfter
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, err.Error(), 0
	case errors.As(err, &retry):
		return http.StatusTooManyRequests, err.Error(), retry.Seconds()
	case errors.Is(err, errTooManyStreams):
		return http.StatusTooManyRequests, err.Error(), 5
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, err.Error(), 0
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, err.Error(), 0
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), "bad request: "), 0
	case errors.Is(err, errConflict):
		return http.StatusConflict, strings.TrimPrefix(err.Error(), "conflict: "), 0
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "conflict with the current state; try again", 0
	case errors.Is(err, engine.ErrSkipCI):
		return http.StatusUnprocessableEntity, err.Error(), 0
	case errors.Is(err, context.Canceled):
		return 499, "request canceled", 0
	}
	return http.StatusInternalServerError, "internal error", 0
}

// decode reads a JSON body of at most 1 MiB into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
	}
	return nil
}
