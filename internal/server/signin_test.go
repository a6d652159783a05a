package server_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/testenv"
)

// signIn posts the sign-in form as if from addr (through the trusted
// proxy on loopback) and returns the status and the response.
func signIn(t *testing.T, e *testenv.Env, login, password, forwardedFor string) *http.Response {
	t.Helper()
	form := url.Values{"login": {login}, "password": {password}, "next": {"/"}}
	req, _ := http.NewRequest("POST", e.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func addPasswordUser(t *testing.T, e *testenv.Env, login, password string) {
	t.Helper()
	e.Do("POST", "/api/v1/users", map[string]any{"login": login, "password": password}, nil, http.StatusCreated)
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// TestParallelWrongPasswordsStopAtTheLimit checks the limiter decides and
// counts in one step: 20 wrong passwords for one login, sent at once,
// get at most the free attempts checked; the rest wait.
func TestParallelWrongPasswordsStopAtTheLimit(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	addPasswordUser(t, e, "ada", "correct horse battery")
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Go(func() { codes <- signIn(t, e, "ada", "wrong password", "").StatusCode })
	}
	wg.Wait()
	close(codes)
	checked, limited := 0, 0
	for c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Errorf("status %d", c)
		}
	}
	if checked > 5 || checked+limited != 20 {
		t.Errorf("%d wrong passwords checked, %d refused; want at most 5 checked", checked, limited)
	}
}

// TestLockoutIsPerAddress checks that wrong passwords from one address do
// not lock the user out from another, and that X-Forwarded-For counts only
// from a trusted proxy.
func TestLockoutIsPerAddress(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{TrustedProxies: loopback})
	addPasswordUser(t, e, "ada", "correct horse battery")
	for range 10 {
		signIn(t, e, "ada", "wrong", "203.0.113.7")
	}
	if c := signIn(t, e, "ada", "correct horse battery", "203.0.113.7").StatusCode; c != http.StatusTooManyRequests {
		t.Errorf("right password from the attacker's address: %d, want 429", c)
	}
	resp := signIn(t, e, "ada", "correct horse battery", "198.51.100.9")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password from the user's own address: %d, want 303: the attacker locked the user out", resp.StatusCode)
	}
	// A client behind the proxy cannot pick its address: the proxy
	// appends the address it saw, which is the one that counts.
	for range 10 {
		signIn(t, e, "ada", "wrong", "192.0.2.1, 203.0.113.7")
	}
	if c := signIn(t, e, "ada", "correct horse battery", "192.0.2.99, 203.0.113.7").StatusCode; c != http.StatusTooManyRequests {
		t.Errorf("a forged first X-Forwarded-For hop escaped the limit: %d", c)
	}
}

// TestForwardedForIgnoredWithoutTrustedProxy checks a client cannot
// escape the limit by sending X-Forwarded-For itself.
func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	addPasswordUser(t, e, "ada", "correct horse battery")
	limited := 0
	for i := range 12 {
		if signIn(t, e, "ada", "wrong", "198.51.100."+string(rune('1'+i%9))).StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("12 wrong passwords with a different X-Forwarded-For each were never limited")
	}
}

// TestPublicHTTPSURLMakesCookiesSecure checks --public-url https://...
// marks the session cookie Secure although the server speaks plain HTTP
// (a TLS proxy in front), and that without it the cookie is not.
func TestPublicHTTPSURLMakesCookiesSecure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		publicURL string
		secure    bool
	}{{"https://ci.example.com", true}, {"", false}} {
		e := testenv.Start(t, testenv.Options{PublicURL: tc.publicURL})
		addPasswordUser(t, e, "ada", "correct horse battery")
		resp := signIn(t, e, "ada", "correct horse battery", "")
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == api.SessionCookie {
				session = c
			}
		}
		if session == nil {
			t.Fatalf("public URL %q: no session cookie (status %d)", tc.publicURL, resp.StatusCode)
		}
		if session.Secure != tc.secure || !session.HttpOnly {
			t.Errorf("public URL %q: cookie Secure=%t HttpOnly=%t, want Secure=%t", tc.publicURL, session.Secure, session.HttpOnly, tc.secure)
		}
	}
}
