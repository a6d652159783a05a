// Package apiclient is the one client of Baton's REST API under /api/v1:
// the CLI, the end-to-end tests, the benchmarks and the web pages call the
// API through it and decode into the contract's types (internal/apiv1).
//
// It imports only the standard library and apiv1 (an archtest checks), so
// that any program that speaks the API can use it. A call that gets an
// answer other than 2xx returns an *apiv1.Error with the status and the
// API's message; a call that gets no answer returns the transport's
// error (a *url.Error).
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// Client calls the API of one server with one credential.
type Client struct {
	base  string
	token string
	hc    *http.Client
	// edit, when set, adds to every request (the web pages forward their
	// visitor's cookie and address).
	edit func(*http.Request)
}

// New is a client of the server at base (its URL without /api/v1) that
// sends token ("" for anonymous) as "Authorization: Token ...". hc nil is
// a client of its own.
func New(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: hc}
}

// WithToken is a copy of c that sends token instead ("" for anonymous).
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// WithRequest is a copy of c that calls edit on every request before it
// is sent, to add headers or the caller's address.
func (c *Client) WithRequest(edit func(*http.Request)) *Client {
	cc := *c
	cc.edit = edit
	return &cc
}

// Base is the server's URL the client calls.
func (c *Client) Base() string { return c.base }

// Send sends a request with body encoded as JSON (nil for none) and
// returns the answer whatever its status; the caller closes its body.
func (c *Client) Send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	if c.edit != nil {
		c.edit(req)
	}
	return c.hc.Do(req)
}

// Do sends a request with body encoded as JSON (nil for none) and decodes
// a 2xx answer into out (nil to discard it). Any other status is an
// *apiv1.Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.Send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := Check(resp); err != nil {
		return err
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil && err != io.EOF {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

// Stream sends a GET whose answer the caller reads (a log, a file, an
// event stream) and closes; a status other than 2xx is an *apiv1.Error.
func (c *Client) Stream(ctx context.Context, path string) (*http.Response, error) {
	resp, err := c.Send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if err := Check(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// Check is nil for a 2xx answer and otherwise an *apiv1.Error with the
// API's message (or the body's text when it is not JSON);
// it reads the body of an error answer.
func Check(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return ErrorOf(resp.StatusCode, b)
}

// ErrorOf is the *apiv1.Error of an answer with status and body.
func ErrorOf(status int, body []byte) *apiv1.Error {
	var e apiv1.ErrorBody
	if json.Unmarshal(body, &e) != nil {
		e.Message = strings.TrimSpace(string(body))
	}
	return &apiv1.Error{Status: status, Message: e.Message}
}

// Upgrade opens an HTTP/1.1 upgrade of a GET of path to protocol (an
// interactive session to a job) and returns the connection; an answer
// other than 101 is an *apiv1.Error.
func (c *Client) Upgrade(ctx context.Context, path, protocol string) (io.ReadWriteCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", protocol)
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	if c.edit != nil {
		c.edit(req)
	}
	// An upgrade needs HTTP/1.1.
	hc := &http.Client{Transport: &http.Transport{
		Proxy:        http.ProxyFromEnvironment,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, ErrorOf(resp.StatusCode, b)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, errors.New("the server's upgraded connection is not writable")
	}
	return rwc, nil
}
