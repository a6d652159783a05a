package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"

	"golang.org/x/term"
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
			req.Header.Set("X-CSRF-Token", csrf)
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
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	resp, err = send("GET", "/api/v1/me", "", nil, "")
	if err != nil {
		return "", err
	}
	err = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || me.CSRF == "" {
		return "", fmt.Errorf("signing in failed: no session (status %d)", resp.StatusCode)
	}
	defer func() {
		if resp, err := send("POST", "/logout", "", nil, me.CSRF); err == nil {
			resp.Body.Close()
		}
	}()
	body, _ := json.Marshal(map[string]string{"name": name})
	resp, err = send("POST", "/api/v1/tokens", "application/json", strings.NewReader(string(body)), me.CSRF)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		Token   string `json:"token"`
		Message string `json:"message"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok)
	if resp.StatusCode >= 300 || tok.Token == "" {
		return "", fmt.Errorf("create an API token: status %d: %s", resp.StatusCode, tok.Message)
	}
	return tok.Token, nil
}
