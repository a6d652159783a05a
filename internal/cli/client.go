package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// clientConfig is where the CLI finds the server: flag > environment
// (BATON_SERVER, BATON_TOKEN) > the file `baton login` writes.
type clientConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	// from says where Server came from, for error messages.
	from string
}

func configPath(o *IO) string {
	dir := o.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := o.Getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "baton", "config.json")
}

func loadClientConfig(o *IO) clientConfig {
	var c clientConfig
	if b, err := os.ReadFile(configPath(o)); err == nil {
		json.Unmarshal(b, &c)
		if c.Server != "" {
			c.from = "from " + configPath(o)
		}
	}
	if s := o.Getenv("BATON_SERVER"); s != "" {
		c.Server = s
		c.from = "from BATON_SERVER"
	}
	if t := o.Getenv("BATON_TOKEN"); t != "" {
		c.Token = t
	}
	return c
}

func saveClientConfig(o *IO, c clientConfig) error {
	p := configPath(o)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return os.WriteFile(p, append(b, '\n'), 0o600)
}

// client calls the REST API.
type client struct {
	base  string
	token string
	hc    *http.Client
	// from says where base came from ("from BATON_SERVER", "from
	// FILE", "from --server").
	from string
}

// unreachable explains a failed connection: which server, where its URL
// came from and how to change it.
func (c *client) unreachable(err error) error {
	return fmt.Errorf("cannot reach the server at %s (%s; run 'baton login URL --token TOKEN' to use another server): %w", c.base, c.from, err)
}

// errNotConfigured tells the user how to point the CLI at a server.
var errNotConfigured = errors.New("no server configured: run 'baton login URL --token TOKEN' (on the server's machine 'baton up' signs its CLI in, unless BATON_SERVER is set) or set BATON_SERVER and BATON_TOKEN")

func newClient(o *IO, server string) (*client, error) {
	c := loadClientConfig(o)
	if server != "" {
		c.Server = server
		c.from = "from --server"
	}
	if c.Server == "" {
		return nil, errNotConfigured
	}
	return &client{base: strings.TrimRight(c.Server, "/"), token: c.Token, hc: &http.Client{}, from: c.from}, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return e.Message }

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if not nil).
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return &apiError{Status: resp.StatusCode, Message: e.Message}
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// stream opens a GET whose body the caller reads (logs).
func (c *client) stream(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Message string `json:"message"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return nil, &apiError{Status: resp.StatusCode, Message: e.Message}
	}
	return resp, nil
}

// wait polls until cond returns true or ctx ends.
func wait(ctx context.Context, every time.Duration, cond func() (bool, error)) error {
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(every):
		}
	}
}
