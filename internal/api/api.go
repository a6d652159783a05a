// Package api serves Baton's REST JSON API under /api/v1. Requests are
// authenticated with `Authorization: Token <token>`; anonymous requests may
// only read public projects. Every error is JSON {"message": ...} with the
// right status, translated from domain errors in one place (writeError).
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/store"
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
}

// API is the HTTP handler of /api/v1.
type API struct {
	cfg Config
	mux *http.ServeMux
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
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	a.routes()
	return a
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// access says who may call a route.
type access int

const (
	// public routes are readable anonymously when the project is public;
	// private projects still need a signed-in user.
	public access = iota
	// signedIn routes need a valid API token.
	signedIn
)

// route is one entry of the API's route table: the single place that says
// who may call what.
type route struct {
	pattern string
	access  access
	handler func(w http.ResponseWriter, r *http.Request, c *caller)
}

// Routes lists every route of the API with its access rule; tests iterate
// it to check that nothing is open by accident.
func (a *API) Routes() []string {
	var out []string
	for _, rt := range a.table() {
		out = append(out, rt.pattern)
	}
	return out
}

func (a *API) table() []route {
	return []route{
		{"GET /api/v1/me", signedIn, a.me},
		{"GET /api/v1/projects", public, a.listProjects},
		{"POST /api/v1/projects", signedIn, a.createProject},
		{"GET /api/v1/projects/{project}", public, a.getProject},
		{"PATCH /api/v1/projects/{project}", signedIn, a.updateProject},
		{"GET /api/v1/projects/{project}/workflows", public, a.listWorkflows},
		{"POST /api/v1/projects/{project}/workflows", signedIn, a.runWorkflow},
		{"GET /api/v1/workflows/{id}", public, a.getWorkflow},
		{"POST /api/v1/workflows/{id}/stop", signedIn, a.stopWorkflow},
		{"POST /api/v1/workflows/{id}/rebuild", signedIn, a.rebuildWorkflow},
		{"GET /api/v1/pipelines/{id}", public, a.getPipeline},
		{"POST /api/v1/pipelines/{id}/stop", signedIn, a.stopPipeline},
		{"POST /api/v1/pipelines/{id}/rerun-failed", signedIn, a.rerunFailed},
		{"GET /api/v1/jobs/{id}", public, a.getJob},
		{"POST /api/v1/jobs/{id}/stop", signedIn, a.stopJob},
		{"GET /api/v1/jobs/{id}/log", public, a.jobLog},
		{"GET /api/v1/jobs/{id}/commands", public, a.jobCommands},
		{"GET /api/v1/agents", signedIn, a.listAgents},
		{"GET /api/v1/queue", signedIn, a.queue},
		{"POST /api/v1/agent-tokens", signedIn, a.createAgentToken},
	}
}

func (a *API) routes() {
	for _, rt := range a.table() {
		rt := rt
		a.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			c, err := a.authenticate(r)
			if err != nil {
				writeError(w, err)
				return
			}
			if rt.access == signedIn && c.user == nil {
				writeError(w, errUnauthorized)
				return
			}
			rt.handler(w, r, c)
		})
	}
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%w: no such endpoint %s %s", errNotFound, r.Method, r.URL.Path))
	})
}

// caller is the authenticated user of a request; user is nil for anonymous
// requests.
type caller struct {
	user *ci.User
}

var (
	errUnauthorized = errors.New("authentication required: send Authorization: Token <token>")
	errNotFound     = errors.New("not found")
	errForbidden    = errors.New("forbidden")
	errConflict     = errors.New("conflict")
	errBadRequest   = errors.New("bad request")
)

// authenticate resolves the request's token. A request with no token is
// anonymous; a request with a bad token is refused.
func (a *API) authenticate(r *http.Request) (*caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &caller{}, nil
	}
	tok, ok := strings.CutPrefix(h, "Token ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "Bearer ")
	}
	if !ok || tok == "" {
		return nil, errUnauthorized
	}
	sum := sha256.Sum256([]byte(tok))
	t, err := a.cfg.Store.TokenByHash(r.Context(), hex.EncodeToString(sum[:]))
	if err != nil || t.Kind != "api" {
		return nil, fmt.Errorf("%w (invalid or revoked token)", errUnauthorized)
	}
	_ = a.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error { return tx.TouchToken(t.ID, a.cfg.Now()) })
	u, err := a.cfg.Store.GetUserByID(r.Context(), t.UserID)
	if err != nil {
		return nil, fmt.Errorf("%w (the token's user no longer exists)", errUnauthorized)
	}
	return &caller{user: u}, nil
}

// canRead reports whether c may read p: public projects are readable by
// anyone, private ones by signed-in users.
func (c *caller) canRead(p *ci.Project) bool { return p.Public || c.user != nil }

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

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError maps an error to its status. This is the only place errors
// become HTTP statuses; internal errors are logged, never shown.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	msg := "internal error"
	switch {
	case errors.Is(err, errUnauthorized):
		code, msg = http.StatusUnauthorized, err.Error()
	case errors.Is(err, errForbidden):
		code, msg = http.StatusForbidden, err.Error()
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound):
		code, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, errBadRequest):
		code, msg = http.StatusBadRequest, strings.TrimPrefix(err.Error(), "bad request: ")
	case errors.Is(err, errConflict):
		code, msg = http.StatusConflict, strings.TrimPrefix(err.Error(), "conflict: ")
	case errors.Is(err, store.ErrConflict):
		code, msg = http.StatusConflict, "conflict with the current state; try again"
	case errors.Is(err, engine.ErrSkipCI):
		code, msg = http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, context.Canceled):
		code, msg = 499, "request canceled"
	}
	if code == http.StatusInternalServerError {
		slog.Default().Error("api", "err", err)
	}
	writeJSON(w, code, map[string]string{"message": msg})
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
