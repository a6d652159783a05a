package cli

import (
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/httpedge"
	"github.com/batonci/baton/internal/server"
)

// edgeFlags are the flags of how browsers reach the server: through which
// proxies, and at which public URL.
type edgeFlags struct {
	trusted   []string
	publicURL *string
}

func addEdgeFlags(fs *flag.FlagSet) *edgeFlags {
	f := &edgeFlags{}
	fs.Func("trusted-proxy", "`CIDR` of a reverse proxy whose X-Forwarded-For names the client (repeatable;\n"+
		"without it the client address is always the connection's)", func(s string) error {
		f.trusted = append(f.trusted, s)
		return nil
	})
	f.publicURL = fs.String("public-url", "", "`URL` browsers reach Baton at; https://... marks cookies Secure behind a TLS proxy")
	return f
}

// apply checks the flags and sets them in cfg.
func (f *edgeFlags) apply(cfg *server.Config) error {
	prefixes, err := httpedge.ParsePrefixes(f.trusted)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	if *f.publicURL != "" {
		u, err := url.Parse(*f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %q: want http://HOST or https://HOST", *f.publicURL)
		}
	}
	cfg.TrustedProxies, cfg.PublicURL = prefixes, strings.TrimRight(*f.publicURL, "/")
	return nil
}
