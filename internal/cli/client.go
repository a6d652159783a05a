package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/batonci/baton/internal/apiclient"
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

// client calls the REST API through the shared API client, and says
// which server it could not reach and why it was that one.
type client struct {
	api *apiclient.Client
	// base is the server's URL and token the credential, for commands
	// that hand them on (ssh-proxy, webhook URLs, login).
	base  string
	token string
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
	return clientFor(c.Server, c.Token, c.from), nil
}

// clientFor is a client of the server at base with token; from says
// where base came from.
func clientFor(base, token, from string) *client {
	api := apiclient.New(base, token, nil)
	return &client{api: api, base: api.Base(), token: token, from: from}
}

// explain turns a failed connection into the unreachable error; an
// answer of the API (*apiv1.Error) stays as it is.
func (c *client) explain(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return c.unreachable(err)
	}
	return err
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if not nil); an error answer is an *apiv1.Error.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	return c.explain(c.api.Do(ctx, method, path, body, out))
}

// stream opens a GET whose body the caller reads (logs).
func (c *client) stream(ctx context.Context, path string) (*http.Response, error) {
	resp, err := c.api.Stream(ctx, path)
	return resp, c.explain(err)
}

// upgrade opens an HTTP/1.1 upgrade to protocol and returns the
// connection.
func (c *client) upgrade(ctx context.Context, path, protocol string) (io.ReadWriteCloser, error) {
	rwc, err := c.api.Upgrade(ctx, path, protocol)
	return rwc, c.explain(err)
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
