package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/apiclient"
	"github.com/batonci/baton/internal/apiv1"
)

// recorder is the response of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) Write(p []byte) (int, error) {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return rec.body.Write(p)
}
func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
}

// apiGet reads path (e.g. "/api/v1/projects") from the API in-process as
// the caller of r (its session cookie or Authorization header) and decodes
// the JSON answer into out (nil to discard). It returns the status; any
// status but 2xx is an *apiv1.Error with the API's message.
func (w *Web) apiGet(r *http.Request, path string, out any) (int, error) {
	return w.call(r, http.MethodGet, path, nil, "", out)
}

// apiDo sends a state-changing request to the API in-process as the caller
// of r, with body encoded as JSON (nil for none). A request signed in by
// the session cookie carries the session's CSRF token (X-CSRF-Token), so
// the handler must have checked the form's own token first (checkForm).
func (w *Web) apiDo(r *http.Request, method, path string, body, out any) (int, error) {
	csrf := ""
	if hasSession(r) {
		me, err := w.me(r)
		if err != nil {
			return 0, err
		}
		if me == nil {
			return http.StatusUnauthorized, &apiv1.Error{Status: http.StatusUnauthorized, Message: "sign in first"}
		}
		csrf = me.CSRFToken
	}
	return w.call(r, method, path, body, csrf, out)
}

func (w *Web) call(r *http.Request, method, path string, body any, csrf string, out any) (int, error) {
	if w.cfg.API == nil {
		return http.StatusServiceUnavailable, &apiv1.Error{Status: http.StatusServiceUnavailable, Message: "the API is not available"}
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.TLS = r.TLS
	for _, h := range []string{"Cookie", "Authorization", "User-Agent", "X-Forwarded-For"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set(api.CSRFHeader, csrf)
	}
	rec := &recorder{header: http.Header{}}
	w.cfg.API.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.code < 200 || rec.code > 299 {
		return rec.code, apiclient.ErrorOf(rec.code, rec.body.Bytes())
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec.code, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return rec.code, nil
}

// hasSession reports whether r carries a session cookie.
func hasSession(r *http.Request) bool {
	c, err := r.Cookie(api.SessionCookie)
	return err == nil && c.Value != ""
}

// meKey is the context key of the request's meCache.
type meKey struct{}

// meCache holds the caller of one request, looked up at most once.
type meCache struct {
	once sync.Once
	me   *apiv1.MeView
	err  error
}

// me returns the signed-in caller of r (GET /api/v1/me), or nil for an
// anonymous visitor or an expired session. Within a request served by Web
// it is looked up once.
func (w *Web) me(r *http.Request) (*apiv1.MeView, error) {
	c, ok := r.Context().Value(meKey{}).(*meCache)
	if !ok {
		return w.lookupMe(r)
	}
	c.once.Do(func() { c.me, c.err = w.lookupMe(r) })
	return c.me, c.err
}

func (w *Web) lookupMe(r *http.Request) (*apiv1.MeView, error) {
	if !hasSession(r) && r.Header.Get("Authorization") == "" {
		return nil, nil
	}
	var me apiv1.MeView
	status, err := w.apiGet(r, "/api/v1/me", &me)
	switch {
	case status == http.StatusUnauthorized:
		return nil, nil
	case err != nil:
		return nil, err
	case me.User == nil:
		return nil, nil
	}
	return &me, nil
}

// withMe gives every request a meCache, so that rendering and the API
// calls of one request look the caller up once.
func withMe(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), meKey{}, &meCache{})))
	})
}
