// Package httpedge is where HTTP requests enter the server. It decides
// which client address a request comes from (X-Forwarded-For is believed
// only from a trusted proxy), whether the browser reaches the server over
// TLS (directly, or through a TLS-terminating proxy at an https public
// URL, which makes cookies Secure), and bounds how long a client may take
// to send a request and keep an idle connection.
package httpedge

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The server's timeouts.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// BodyTimeout bounds reading a request's body (large uploads
	// included); long polls and streams, once their request is read,
	// are not bounded by it.
	BodyTimeout = 5 * time.Minute
	// IdleTimeout closes a keep-alive connection idle that long.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// Config configures an Edge.
type Config struct {
	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (--trusted-proxy CIDR); none by default.
	TrustedProxies []netip.Prefix
	// PublicURL is the URL browsers reach the server at (--public-url);
	// https:// makes cookies Secure even when a proxy speaks plain HTTP
	// to the server.
	PublicURL string
	// BodyTimeout overrides the default BodyTimeout (tests).
	BodyTimeout time.Duration
}

// Edge wraps the server's handler.
type Edge struct {
	cfg    Config
	secure bool
}

// ParsePrefixes parses --trusted-proxy values: CIDRs ("10.0.0.0/8") or
// single addresses.
func ParsePrefixes(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if p, err := netip.ParsePrefix(s); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR like 10.0.0.0/8", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

// New checks cfg and returns an Edge.
func New(cfg Config) (*Edge, error) {
	e := &Edge{cfg: cfg}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("public URL %q is not an http:// or https:// URL", cfg.PublicURL)
		}
		e.secure = u.Scheme == "https"
	}
	if e.cfg.BodyTimeout <= 0 {
		e.cfg.BodyTimeout = BodyTimeout
	}
	return e, nil
}

// Server returns an http.Server for h with the edge's timeouts.
func (e *Edge) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           e.Wrap(h),
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

type infoKey struct{}

type info struct {
	addr   string
	secure bool
}

// Wrap records each request's client address and whether it came over
// TLS (ClientAddr, Secure), and bounds the time its body may take.
func (e *Edge) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := &info{addr: e.clientAddr(r), secure: e.secure || r.TLS != nil}
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(e.cfg.BodyTimeout)) == nil {
				// Once the body is read, the connection may wait as long
				// as the handler needs (long polls, streams).
				r.Body = &timedBody{ReadCloser: r.Body, clear: sync.OnceFunc(func() { rc.SetReadDeadline(time.Time{}) })}
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, in)))
	})
}

type timedBody struct {
	io.ReadCloser
	clear func()
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// Read whole: no deadline from now on. (After an error, such as
		// the deadline passing, it stays, so that the connection is
		// closed rather than drained.)
		b.clear()
	}
	return n, err
}

// clientAddr is the peer's address or, when the peer is a trusted proxy,
// the nearest address in X-Forwarded-For that is not one.
func (e *Edge) clientAddr(r *http.Request) string {
	peer := hostOf(r.RemoteAddr)
	if len(e.cfg.TrustedProxies) == 0 || !e.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap().String()
		if !e.trusted(client) {
			break
		}
	}
	return client
}

func (e *Edge) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hostOf(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// ClientAddr is the address the request comes from: as the edge decided,
// or the peer's when the request did not pass through one.
func ClientAddr(r *http.Request) string {
	if in, ok := r.Context().Value(infoKey{}).(*info); ok {
		return in.addr
	}
	return hostOf(r.RemoteAddr)
}

// Secure reports whether the browser reached the server over TLS, so
// cookies must be Secure and absolute URLs https.
func Secure(r *http.Request) bool {
	if in, ok := r.Context().Value(infoKey{}).(*info); ok {
		return in.secure
	}
	return r.TLS != nil
}
