package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/httpedge"
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
// returns the cookie to set (HttpOnly, SameSite=Lax; Secure over TLS, and behind a proxy at an https public URL).
// Attempts are rate-limited per login and client address together (so
// that guessing from elsewhere cannot lock a user out) and per client
// address: after a few failures each further attempt must wait
// exponentially longer, and one made too soon fails with *auth.RetryError
// without checking the password. The limiter decides and counts an
// attempt in one step, so parallel attempts cannot slip past it, and at
// most MaxPasswordChecks passwords are hashed at once. A wrong login or
// password is auth.ErrBadCredentials. Successes and failures are audited.
func (a *API) SignIn(r *http.Request, login, password string) (*http.Cookie, error) {
	ip := clientIP(r)
	keys := []string{"login+ip:" + strings.ToLower(login) + "\x00" + ip, "ip:" + ip}
	attempt, wait := a.cfg.Limiter.Reserve(keys...)
	if attempt == nil {
		return nil, &auth.RetryError{After: wait}
	}
	ctx := audit.WithRequest(r.Context(), login, ip)
	u, hash, err := a.cfg.Store.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		attempt.Cancel()
		return nil, err
	}
	if u == nil || hash == "" {
		// Take as long as a real check, so the answer's timing does not
		// tell which logins exist.
		hash = a.dummyHash()
	}
	ok, err := a.checkPassword(ctx, hash, password)
	if err != nil {
		attempt.Cancel()
		return nil, err
	}
	ok = ok && u != nil
	if !ok {
		if err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
			return audit.Record(ctx, tx, audit.Event{Action: audit.SignInFailed, Target: login, At: a.cfg.Now()})
		}); err != nil {
			return nil, err
		}
		return nil, auth.ErrBadCredentials
	}
	attempt.Cancel()
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
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: httpedge.Secure(r),
	}, nil
}

// SignOut ends the request's session, if it has one, and returns the
// cookie that clears it in the browser.
func (a *API) SignOut(r *http.Request) (*http.Cookie, error) {
	clear := &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: httpedge.Secure(r)}
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

// checkPassword checks a password against its hash, at most
// MaxPasswordChecks at once: hashing is slow on purpose, and a flood of
// sign-ins must not take every core.
func (a *API) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.hashing }()
	return auth.CheckPassword(hash, password), nil
}
