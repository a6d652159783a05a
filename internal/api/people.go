package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
)

// The people and permissions endpoints: users (org admins), the caller's
// API tokens, project members (project admins) and the audit log (org
// admins).

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

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *caller) error {
	us, err := a.cfg.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, each(us, userView))
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.UserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	req.Login = strings.TrimSpace(req.Login)
	if err := validLogin(req.Login); err != nil {
		return err
	}
	u := &ci.User{ID: ids.New(), Login: req.Login, Admin: req.Admin, CanCreateProjects: req.CanCreateProjects, CreatedAt: a.cfg.Now()}
	out := apiv1.UserCreated{User: userView(u)}
	if req.Password == "" {
		out.Password = auth.NewPassword()
		req.Password = out.Password
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	ctx := r.Context()
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(u, hash); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.UserAdded, Target: req.Login, Detail: fmt.Sprintf("admin=%t can_create_projects=%t", req.Admin, req.CanCreateProjects), At: a.cfg.Now()})
	})
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: the login %q is taken", errConflict, req.Login)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.UserUpdate
	if err := decode(r, &req); err != nil {
		return err
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
		return err
	}
	return writeJSON(w, http.StatusOK, userView(u))
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	login := r.PathValue("login")
	if login == c.user.Login {
		return fmt.Errorf("%w: you cannot remove yourself", errConflict)
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
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: "removed user " + login})
}

func tokenView(t *store.Token) apiv1.TokenView {
	v := apiv1.TokenView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, Revoked: t.Revoked}
	if !t.LastUsed.IsZero() {
		v.LastUsed = &t.LastUsed
	}
	return v
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := a.cfg.Store.ListTokens(r.Context(), c.user.ID)
	if err != nil {
		return err
	}
	out := []apiv1.TokenView{}
	for _, t := range ts {
		if t.Kind == store.TokenAPI {
			out = append(out, tokenView(t))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "API token"
	}
	t := &store.Token{UserID: c.user.ID, Name: req.Name, Kind: store.TokenAPI}
	tok, err := a.issueToken(r.Context(), t, "bat_", audit.Event{Action: audit.TokenCreated, Detail: req.Name})
	if err != nil {
		return err
	}
	v := tokenView(t)
	v.Token = tok
	return writeJSON(w, http.StatusCreated, v)
}

// revokeToken revokes one of the caller's API tokens (org admins: anyone's).
// It takes effect at once: the next request with the token gets 401.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, c *caller) error {
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
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: "revoked token " + id})
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	ms, err := a.cfg.Store.ListMembers(r.Context(), p.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, each(ms, memberView))
}

func (a *API) setMember(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req apiv1.MemberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := auth.ParseRole(req.Role); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
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
		return err
	}
	return writeJSON(w, http.StatusOK, memberView(m))
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
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
		return err
	}
	msg := fmt.Sprintf("removed %s from %s", login, p.Name)
	if !had {
		msg = fmt.Sprintf("%s had no role in %s", login, p.Name)
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: msg})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("%w: limit must be 1..1000", errBadRequest)
		}
		limit = n
	}
	evs, err := a.cfg.Store.ListAudit(r.Context(), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, each(evs, auditView))
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
