package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/batonci/baton/internal/apiclient"
	"github.com/batonci/baton/internal/apiv1"
)

// readPassword reads a password: the first line of standard input with
// fromStdin, else asked on the terminal without echo. Without a terminal
// it says to use --password-stdin.
func readPassword(o *IO, fromStdin bool, prompt string) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(o.In).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("standard input holds no password")
		}
		return pw, nil
	}
	f, ok := o.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("standard input is not a terminal to ask for the password on: give it with --password-stdin")
	}
	fmt.Fprint(o.Err, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(o.Err)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("no password given")
	}
	return string(b), nil
}

// tokenWithPassword signs in to the server at base as login with a
// password (the sign-in form, so the server's rate limits on failed
// sign-ins apply), creates an API token named name with that session,
// and signs the session out. It returns the new token.
func tokenWithPassword(ctx context.Context, base, login, password, name string) (string, error) {
	jar, _ := cookiejar.New(nil)
	hc := defaultHTTP()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	send := func(method, path, ctype string, body io.Reader, csrf string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("cannot reach the server at %s: %w", base, err)
		}
		return resp, nil
	}
	form := url.Values{"login": {login}, "password": {password}, "next": {"/"}}
	resp, err := send("POST", "/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "")
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusSeeOther:
	case http.StatusUnauthorized:
		return "", errors.New("wrong login or password")
	case http.StatusTooManyRequests:
		return "", fmt.Errorf("too many failed sign-ins; try again in %s seconds", resp.Header.Get("Retry-After"))
	default:
		return "", fmt.Errorf("signing in failed: status %d from %s/login (is it a Baton server?)", resp.StatusCode, base)
	}
	// The session signs the API calls in, with its CSRF token.
	api := apiclient.New(base, "", hc)
	var me apiv1.MeView
	if err := api.Do(ctx, http.MethodGet, "/api/v1/me", nil, &me); err != nil || me.CSRFToken == "" {
		return "", fmt.Errorf("signing in failed: no session (%s)", statusOf(err))
	}
	defer func() {
		if resp, err := send("POST", "/logout", "", nil, me.CSRFToken); err == nil {
			resp.Body.Close()
		}
	}()
	api = api.WithRequest(func(r *http.Request) { r.Header.Set(csrfHeader, me.CSRFToken) })
	var tok apiv1.TokenView
	if err := api.Do(ctx, http.MethodPost, "/api/v1/tokens", apiv1.TokenRequest{Name: name}, &tok); err != nil || tok.Token == "" {
		return "", fmt.Errorf("create an API token: %s", statusOf(err))
	}
	return tok.Token, nil
}

// csrfHeader carries a session's CSRF token on its state-changing API
// requests.
const csrfHeader = "X-CSRF-Token"

// statusOf says how an API call failed: the API's status and message,
// or why the server could not be reached.
func statusOf(err error) string {
	var ae *apiv1.Error
	switch {
	case err == nil:
		return "status 200"
	case errors.As(err, &ae):
		return fmt.Sprintf("status %d: %s", ae.Status, ae.Message)
	}
	return err.Error()
}
