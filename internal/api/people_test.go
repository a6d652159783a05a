package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/web"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is the API and the sign-in pages on a test server, with a fake clock.
type env struct {
	db    *store.DB
	srv   *httptest.Server
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "baton.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a := api.New(api.Config{Store: db, Now: clk.Now})
	mux := http.NewServeMux()
	mux.Handle("/api/", a)
	mux.Handle("/", web.New(web.Config{API: a, Sessions: a}))
	srv := httptest.NewServer(http.NewCrossOriginProtection().Handler(mux))
	t.Cleanup(srv.Close)
	return &env{db: db, srv: srv, clock: clk}
}

// addUser stores a user with a password (hashing is slow: use sparingly)
// and an API token, which it returns.
func (e *env) addUser(t *testing.T, login, password string, admin bool) string {
	t.Helper()
	hash := ""
	if password != "" {
		var err error
		if hash, err = auth.HashPassword(password); err != nil {
			t.Fatal(err)
		}
	}
	tok, tokHash := auth.NewToken("bat_")
	err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
		u := &ci.User{Login: login, Admin: admin}
		if err := tx.CreateUser(u, hash); err != nil {
			return err
		}
		return tx.CreateToken(&store.Token{UserID: u.ID, Name: "test", Hash: tokHash, Kind: store.TokenAPI})
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type call struct {
	method, path, body string
	token, cookie      string
	header             map[string]string
}

func (e *env) do(t *testing.T, c call) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, _ := http.NewRequest(c.method, e.srv.URL+c.path, body)
	if strings.HasPrefix(c.body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if c.body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: c.cookie})
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (e *env) want(t *testing.T, c call, status int) string {
	t.Helper()
	resp, body := e.do(t, c)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, resp.StatusCode, status, body)
	}
	return body
}

func form(login, password string) string {
	return url.Values{"login": {login}, "password": {password}}.Encode()
}

func (e *env) auditActions(t *testing.T) []string {
	t.Helper()
	evs, err := e.db.ListAudit(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Action+" "+evs[i].Actor+" "+evs[i].Target)
	}
	return out
}

func TestSessionSignInCSRFAndSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "ada", "correct horse", false)

	e.want(t, call{method: "POST", path: "/login", body: form("ada", "wrong")}, http.StatusUnauthorized)
	resp, _ := e.do(t, call{method: "POST", path: "/login", body: form("ada", "correct horse") + "&next=/projects"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/projects" {
		t.Fatalf("sign in: %d to %q, want 303 to /projects", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Value == "" {
		t.Fatalf("session cookie = %+v, want HttpOnly SameSite=Lax", cookie)
	}
	// The stored session is a hash, not the cookie's value.
	if _, err := e.db.SessionByHash(t.Context(), cookie.Value, e.clock.Now()); err == nil {
		t.Error("the session id is stored in clear")
	}

	var me apiv1.MeView
	json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/me", cookie: cookie.Value}, http.StatusOK)), &me)
	if me.User == nil || me.Login != "ada" || me.CSRFToken == "" {
		t.Fatalf("me = %+v, want ada with a CSRF token", me)
	}

	// A state-changing request by cookie needs the session's CSRF token;
	// a cross-site one is refused whatever it carries.
	e.want(t, call{method: "POST", path: "/api/v1/tokens", body: "{}", cookie: cookie.Value}, http.StatusForbidden)
	e.want(t, call{method: "POST", path: "/api/v1/tokens", body: "{}", cookie: cookie.Value, header: map[string]string{api.CSRFHeader: "wrong"}}, http.StatusForbidden)
	e.want(t, call{method: "POST", path: "/api/v1/tokens", body: "{}", cookie: cookie.Value,
		header: map[string]string{api.CSRFHeader: me.CSRFToken, "Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden)
	e.want(t, call{method: "POST", path: "/api/v1/tokens", body: `{"name":"by cookie"}`, cookie: cookie.Value, header: map[string]string{api.CSRFHeader: me.CSRFToken}}, http.StatusCreated)

	// The session expires.
	e.clock.Advance(8 * 24 * time.Hour)
	e.want(t, call{method: "GET", path: "/api/v1/me", cookie: cookie.Value}, http.StatusUnauthorized)
	e.clock.Advance(-8 * 24 * time.Hour)

	// Signing out ends the session for good.
	resp, _ = e.do(t, call{method: "POST", path: "/logout", cookie: cookie.Value})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: status %d", resp.StatusCode)
	}
	e.want(t, call{method: "GET", path: "/api/v1/me", cookie: cookie.Value}, http.StatusUnauthorized)

	want := []string{"signin.failed ada ada", "signin ada ada", "token.created ada", "signout ada ada"}
	got := e.auditActions(t)
	for i := range got {
		if strings.HasPrefix(got[i], "token.created") {
			got[i] = strings.TrimSpace(strings.TrimSuffix(got[i], strings.Fields(got[i])[2]))
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit log = %q, want %q", got, want)
	}
}

func TestSignInIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, "ada", "correct horse", false)
	// Five failures are free; then each attempt waits 1 s, 2 s, 4 s...
	for range 5 {
		e.want(t, call{method: "POST", path: "/login", body: form("ada", "guess")}, http.StatusUnauthorized)
	}
	resp, _ := e.do(t, call{method: "POST", path: "/login", body: form("ada", "correct horse")})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("6th attempt: %d, Retry-After %q; want 429 after 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.clock.Advance(time.Second)
	e.want(t, call{method: "POST", path: "/login", body: form("ada", "guess")}, http.StatusUnauthorized)
	resp, _ = e.do(t, call{method: "POST", path: "/login", body: form("ada", "guess")})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("after the 6th failure: %d, Retry-After %q; want 429 after 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The client's address is limited too: another login from it waits.
	resp, _ = e.do(t, call{method: "POST", path: "/login", body: form("bob", "guess")})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("another login from the same address: %d, want 429", resp.StatusCode)
	}
	e.clock.Advance(2 * time.Second)
	e.want(t, call{method: "POST", path: "/login", body: form("ada", "correct horse")}, http.StatusSeeOther)
}

func TestTokensAreShownOnceAndRevokedAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.addUser(t, "ada", "", false)
	bob := e.addUser(t, "bob", "", false)
	var created apiv1.TokenView
	json.Unmarshal([]byte(e.want(t, call{method: "POST", path: "/api/v1/tokens", body: `{"name":"laptop"}`, token: ada}, http.StatusCreated)), &created)
	if !strings.HasPrefix(created.Token, "bat_") || created.Name != "laptop" {
		t.Fatalf("created token = %+v", created)
	}
	e.want(t, call{method: "GET", path: "/api/v1/me", token: created.Token}, http.StatusOK)
	var list []apiv1.TokenView
	json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/tokens", token: ada}, http.StatusOK)), &list)
	found := false
	for _, tv := range list {
		if tv.ID == created.ID {
			found = tv.Token == "" && tv.LastUsed != nil && !tv.Revoked
		}
	}
	if len(list) != 2 || !found {
		t.Fatalf("tokens = %+v, want the new one used, without its secret", list)
	}
	// Someone else's token is not found; revoking one's own works at once.
	e.want(t, call{method: "DELETE", path: "/api/v1/tokens/" + created.ID, token: bob}, http.StatusNotFound)
	e.want(t, call{method: "DELETE", path: "/api/v1/tokens/" + created.ID, token: ada}, http.StatusOK)
	e.want(t, call{method: "GET", path: "/api/v1/me", token: created.Token}, http.StatusUnauthorized)
	e.want(t, call{method: "GET", path: "/api/v1/me", token: ada}, http.StatusOK)
}

func TestUsersMembersAndAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.addUser(t, "root", "", true)
	bob := e.addUser(t, "bob", "", false)
	p := &ci.Project{Name: "app", RepoURL: "file:///x", DefaultBranch: "main", PipelineFile: "f"}
	if err := e.db.Tx(t.Context(), func(tx *store.Tx) error { return tx.CreateProject(p) }); err != nil {
		t.Fatal(err)
	}
	var u apiv1.UserCreated
	json.Unmarshal([]byte(e.want(t, call{method: "POST", path: "/api/v1/users", body: `{"login":"ada"}`, token: admin}, http.StatusCreated)), &u)
	if u.Login != "ada" || len(u.Password) < 16 {
		t.Fatalf("added user = %+v, want a generated password", u)
	}
	e.want(t, call{method: "POST", path: "/api/v1/users", body: `{"login":"ada"}`, token: admin}, http.StatusConflict)
	e.want(t, call{method: "POST", path: "/api/v1/users", body: `{"login":"a b"}`, token: admin}, http.StatusBadRequest)

	// bob cannot see the private project until he is a member.
	e.want(t, call{method: "GET", path: "/api/v1/projects/app", token: bob}, http.StatusNotFound)
	e.want(t, call{method: "PUT", path: "/api/v1/projects/app/members/bob", body: `{"role":"owner"}`, token: admin}, http.StatusBadRequest)
	e.want(t, call{method: "PUT", path: "/api/v1/projects/app/members/nobody", body: `{"role":"read"}`, token: admin}, http.StatusNotFound)
	e.want(t, call{method: "PUT", path: "/api/v1/projects/app/members/bob", body: `{"role":"read"}`, token: admin}, http.StatusOK)
	e.want(t, call{method: "GET", path: "/api/v1/projects/app", token: bob}, http.StatusOK)
	e.want(t, call{method: "PATCH", path: "/api/v1/projects/app", body: `{}`, token: bob}, http.StatusForbidden)
	e.want(t, call{method: "PUT", path: "/api/v1/projects/app/members/bob", body: `{"role":"admin"}`, token: admin}, http.StatusOK)
	var ms []store.Member
	json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/projects/app/members", token: bob}, http.StatusOK)), &ms)
	if len(ms) != 1 || ms[0].Login != "bob" || ms[0].Role != "admin" {
		t.Errorf("members = %+v", ms)
	}
	e.want(t, call{method: "DELETE", path: "/api/v1/projects/app/members/bob", token: bob}, http.StatusOK)
	e.want(t, call{method: "GET", path: "/api/v1/projects/app", token: bob}, http.StatusNotFound)

	e.want(t, call{method: "DELETE", path: "/api/v1/users/root", token: admin}, http.StatusConflict)
	e.want(t, call{method: "DELETE", path: "/api/v1/users/bob", token: admin}, http.StatusOK)
	e.want(t, call{method: "GET", path: "/api/v1/me", token: bob}, http.StatusUnauthorized)
	e.want(t, call{method: "GET", path: "/api/v1/audit?limit=0", token: admin}, http.StatusBadRequest)
	var evs []store.AuditEvent
	json.Unmarshal([]byte(e.want(t, call{method: "GET", path: "/api/v1/audit?limit=3", token: admin}, http.StatusOK)), &evs)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action+" "+ev.Actor+" "+ev.Target)
	}
	want := []string{"user.removed root bob", "member.removed bob bob", "member.changed root bob"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit = %q, want %q", got, want)
	}
}
