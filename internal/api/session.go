package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/store"
)

// SessionCookie is the name of the cookie that carries a browser session.
const SessionCookie = "baton_session"

// randomString returns n random bytes, URL-safe base64 encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignIn checks a login and password and starts a browser session: it
// returns the cookie to set (HttpOnly, SameSite=Lax; Secure over TLS).
// Attempts are rate-limited per login and per client address: after a few
// failures each further attempt must wait exponentially longer, and one
// made too soon fails with *auth.RetryError without checking the password.
// A wrong login or password is auth.ErrBadCredentials. Successes and
// failures are audited.
func (a *API) SignIn(r *http.Request, login, password string) (*http.Cookie, error) {
	ip := clientIP(r)
	keys := []string{"login:" + strings.ToLower(login), "ip:" + ip}
	if wait := a.cfg.Limiter.Allow(keys...); wait > 0 {
		return nil, &auth.RetryError{After: wait}
	}
	ctx := audit.WithRequest(r.Context(), login, ip)
	u, hash, err := a.cfg.Store.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var ok bool
	if u == nil || hash == "" {
		// Take as long as a real check, so the answer's timing does not
		// tell which logins exist.
		auth.CheckPassword(a.dummyHash(), password)
	} else {
		ok = auth.CheckPassword(hash, password)
	}
	if !ok {
		a.cfg.Limiter.Fail(keys...)
		if err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
			return audit.Record(ctx, tx, audit.Event{Action: audit.SignInFailed, Target: login, At: a.cfg.Now()})
		}); err != nil {
			return nil, err
		}
		return nil, auth.ErrBadCredentials
	}
	a.cfg.Limiter.Succeed(keys[0])
	id := randomString(32)
	now := a.cfg.Now()
	s := &store.Session{Hash: auth.HashToken(id), UserID: u.ID, CSRFToken: randomString(24), CreatedAt: now, ExpiresAt: now.Add(a.cfg.SessionTTL)}
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteExpiredSessions(now); err != nil {
			return err
		}
		if err := tx.CreateSession(s); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.SignIn, Target: u.Login, At: now})
	})
	if err != nil {
		return nil, err
	}
	return &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", Expires: s.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	}, nil
}

// SignOut ends the request's session, if it has one, and returns the
// cookie that clears it in the browser.
func (a *API) SignOut(r *http.Request) (*http.Cookie, error) {
	clear := &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return clear, nil
	}
	hash := auth.HashToken(ck.Value)
	ctx := r.Context()
	s, err := a.cfg.Store.SessionByHash(ctx, hash, a.cfg.Now())
	if err != nil {
		return clear, nil
	}
	login := ""
	if u, err := a.cfg.Store.GetUserByID(ctx, s.UserID); err == nil {
		login = u.Login
	}
	ctx = audit.WithRequest(ctx, login, clientIP(r))
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteSession(hash); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.SignOut, Target: login, At: a.cfg.Now()})
	})
	return clear, err
}
