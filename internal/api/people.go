package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
)

// The people and permissions endpoints: users (org admins), the caller's
// API tokens, project members (project admins) and the audit log (org
// admins).

// MeView is the caller; CSRFToken is set when a session cookie signed the
// request in, for the X-CSRF-Token header of its state-changing requests.
type MeView struct {
	*ci.User
	CSRFToken string `json:"csrf_token,omitempty"`
}

// UserRequest adds a user.
type UserRequest struct {
	Login string `json:"login"`
	Admin bool   `json:"admin"`
	// CanCreateProjects lets a user who is not an admin create projects.
	CanCreateProjects bool `json:"can_create_projects"`
	// Password is the user's password; empty generates one, returned once.
	Password string `json:"password"`
}

// UserCreated is a new user, with the password generated for them.
type UserCreated struct {
	*ci.User
	Password string `json:"password,omitempty"`
}

func validLogin(login string) error {
	switch {
	case login == "":
		return fmt.Errorf("%w: login is required", errBadRequest)
	case len(login) > 64:
		return fmt.Errorf("%w: login is longer than 64 characters", errBadRequest)
	case strings.ContainsAny(login, "/ \t\n?#%:@"):
		return fmt.Errorf("%w: login %q may not contain spaces or any of / ? # %% : @", errBadRequest, login)
	}
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *caller) {
	us, err := a.cfg.Store.ListUsers(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if us == nil {
		us = []*ci.User{}
	}
	writeJSON(w, http.StatusOK, us)
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request, c *caller) {
	var req UserRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	req.Login = strings.TrimSpace(req.Login)
	if err := validLogin(req.Login); err != nil {
		writeError(w, err)
		return
	}
	out := UserCreated{User: &ci.User{ID: ids.New(), Login: req.Login, Admin: req.Admin, CanCreateProjects: req.CanCreateProjects, CreatedAt: a.cfg.Now()}}
	if req.Password == "" {
		out.Password = auth.NewPassword()
		req.Password = out.Password
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(out.User, hash); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.UserAdded, Target: req.Login, Detail: fmt.Sprintf("admin=%t can_create_projects=%t", req.Admin, req.CanCreateProjects), At: a.cfg.Now()})
	})
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: the login %q is taken", errConflict, req.Login)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

// UserUpdate changes a user; absent fields stay as they are.
type UserUpdate struct {
	CanCreateProjects *bool `json:"can_create_projects"`
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, c *caller) {
	var req UserUpdate
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	login := r.PathValue("login")
	ctx := r.Context()
	var u *ci.User
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if u, _, err = tx.GetUserByLogin(login); err != nil {
			return fmt.Errorf("%w: user %q", errNotFound, login)
		}
		if req.CanCreateProjects == nil || *req.CanCreateProjects == u.CanCreateProjects {
			return nil
		}
		u.CanCreateProjects = *req.CanCreateProjects
		if err := tx.SetCanCreateProjects(u.ID, u.CanCreateProjects); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.UserChanged, Target: login, Detail: fmt.Sprintf("can_create_projects=%t", u.CanCreateProjects), At: a.cfg.Now()})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request, c *caller) {
	login := r.PathValue("login")
	if login == c.user.Login {
		writeError(w, fmt.Errorf("%w: you cannot remove yourself", errConflict))
		return
	}
	ctx := r.Context()
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		u, _, err := tx.GetUserByLogin(login)
		if err != nil {
			return fmt.Errorf("%w: user %q", errNotFound, login)
		}
		if err := tx.DeleteUser(u.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.UserRemoved, Target: login, At: a.cfg.Now()})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "removed user " + login})
}

// TokenView is an API token without its secret.
type TokenView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsed is absent until the token is first used.
	LastUsed *time.Time `json:"last_used,omitempty"`
	Revoked  bool       `json:"revoked"`
	// Token is the secret, only in the answer that creates it.
	Token string `json:"token,omitempty"`
}

func tokenView(t *store.Token) TokenView {
	v := TokenView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, Revoked: t.Revoked}
	if !t.LastUsed.IsZero() {
		v.LastUsed = &t.LastUsed
	}
	return v
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, c *caller) {
	ts, err := a.cfg.Store.ListTokens(r.Context(), c.user.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []TokenView{}
	for _, t := range ts {
		if t.Kind == store.TokenAPI {
			out = append(out, tokenView(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// TokenRequest creates an API token.
type TokenRequest struct {
	Name string `json:"name"`
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, c *caller) {
	var req TokenRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Name == "" {
		req.Name = "API token"
	}
	t := &store.Token{UserID: c.user.ID, Name: req.Name, Kind: store.TokenAPI}
	tok, err := a.issueToken(r.Context(), t, "bat_", audit.Event{Action: audit.TokenCreated, Detail: req.Name})
	if err != nil {
		writeError(w, err)
		return
	}
	v := tokenView(t)
	v.Token = tok
	writeJSON(w, http.StatusCreated, v)
}

// revokeToken revokes one of the caller's API tokens (org admins: anyone's).
// It takes effect at once: the next request with the token gets 401.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("id")
	ctx := r.Context()
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.GetToken(id)
		if err != nil || t.Kind != store.TokenAPI || (t.UserID != c.user.ID && !c.user.Admin) {
			return fmt.Errorf("%w: token %q", errNotFound, id)
		}
		if err := tx.RevokeToken(id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.TokenRevoked, Target: id, Detail: t.Name, At: a.cfg.Now()})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "revoked token " + id})
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		writeError(w, err)
		return
	}
	ms, err := a.cfg.Store.ListMembers(r.Context(), p.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	if ms == nil {
		ms = []*store.Member{}
	}
	writeJSON(w, http.StatusOK, ms)
}

// MemberRequest gives a user a role in a project.
type MemberRequest struct {
	// Role is read, write or admin.
	Role string `json:"role"`
}

func (a *API) setMember(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req MemberRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if _, err := auth.ParseRole(req.Role); err != nil {
		writeError(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	login := r.PathValue("login")
	m := &store.Member{ProjectID: p.ID, Login: login, Role: req.Role, CreatedAt: a.cfg.Now()}
	ctx := r.Context()
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		u, _, err := tx.GetUserByLogin(login)
		if err != nil {
			return fmt.Errorf("%w: user %q", errNotFound, login)
		}
		m.UserID = u.ID
		if err := tx.SetMember(m); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.MemberChanged, Target: login, ProjectID: p.ID, Detail: "role=" + req.Role, At: a.cfg.Now()})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		writeError(w, err)
		return
	}
	login := r.PathValue("login")
	ctx := r.Context()
	var had bool
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		u, _, err := tx.GetUserByLogin(login)
		if err != nil {
			return fmt.Errorf("%w: user %q", errNotFound, login)
		}
		if had, err = tx.RemoveMember(p.ID, u.ID); err != nil || !had {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.MemberRemoved, Target: login, ProjectID: p.ID, At: a.cfg.Now()})
	})
	if err != nil {
		writeError(w, err)
		return
	}
	msg := fmt.Sprintf("removed %s from %s", login, p.Name)
	if !had {
		msg = fmt.Sprintf("%s had no role in %s", login, p.Name)
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": msg})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, c *caller) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, fmt.Errorf("%w: limit must be 1..1000", errBadRequest))
			return
		}
		limit = n
	}
	evs, err := a.cfg.Store.ListAudit(r.Context(), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	if evs == nil {
		evs = []*store.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, evs)
}

// issueToken makes a new token for t (API or agent), stores its hash and
// records ev in the audit log, in one transaction; the token itself is
// returned, to be shown once.
func (a *API) issueToken(ctx context.Context, t *store.Token, prefix string, ev audit.Event) (string, error) {
	tok, hash := auth.NewToken(prefix)
	t.ID, t.Hash, t.CreatedAt = ids.New(), hash, a.cfg.Now()
	ev.Target, ev.At = t.ID, t.CreatedAt
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateToken(t); err != nil {
			return err
		}
		return audit.Record(ctx, tx, ev)
	})
	return tok, err
}
