package toolsource

import (
	"context"
	"sync"
)

// Lookup is a source's base URL that the machine's settings give (npm's
// registry setting), looked up on first use and then kept. Asking npm
// costs a Node.js start (about half a second), which an agent that never
// fetches Node.js or an npm tool should not pay when it starts.
//
// A source with a URL of its own (Node.Registry) never asks its Lookup;
// one with neither has no source.
type Lookup struct {
	find func(ctx context.Context) (string, bool)

	mu    sync.Mutex
	found bool
	url   string
}

// NewLookup returns a Lookup that asks find on first use. find answers
// ok=false when it could not ask (its context ended): the next use asks
// again. ok=true with "" means the machine names no source.
func NewLookup(find func(ctx context.Context) (url string, ok bool)) *Lookup {
	return &Lookup{find: find}
}

// URL is the looked-up URL, "" when the machine names none. Callers wait
// for one lookup at a time.
func (l *Lookup) URL(ctx context.Context) string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.found {
		l.url, l.found = l.find(ctx)
	}
	return l.url
}

// registry is the npm registry: the configured one, else the looked-up
// one, else "" (no source).
func registry(ctx context.Context, configured string, lookup *Lookup) string {
	if configured != "" {
		return configured
	}
	return lookup.URL(ctx)
}
