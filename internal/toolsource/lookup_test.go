package toolsource_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/batonci/baton/internal/toolsource"
)

// TestRegistryLookedUpOnFirstFetch: a Node and an NPM source without a
// registry of their own share a Lookup that is not asked until the first
// fetch, and then once; a lookup whose asker gave up is asked again; a
// configured registry never asks.
func TestRegistryLookedUpOnFirstFetch(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"dist-tags":{"latest":"20.1.0"},"versions":{"20.1.0":{},"18.2.0":{}}}`)
	}))
	t.Cleanup(srv.Close)
	var asked, gaveUp atomic.Int32
	gaveUp.Store(1)
	lookup := toolsource.NewLookup(func(ctx context.Context) (string, bool) {
		asked.Add(1)
		if gaveUp.Add(-1) >= 0 {
			return "", false // the asker's context ended
		}
		return srv.URL, true
	})
	node := &toolsource.Node{RegistryLookup: lookup}
	npm := &toolsource.NPM{RegistryLookup: lookup}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the lookup was asked %d times before any fetch", n)
	}
	if _, err := node.Resolve(t.Context(), "20", "linux", "amd64"); err == nil {
		t.Fatal("a fetch whose lookup gave up found a registry")
	}
	for range 2 {
		if v, err := node.Resolve(t.Context(), "18", "linux", "amd64"); err != nil || v != "18.2.0" {
			t.Fatalf("node.Resolve(18) = %q, %v; want 18.2.0", v, err)
		}
	}
	if v, err := npm.Resolve(t.Context(), "left-pad", "latest"); err != nil || v != "20.1.0" {
		t.Fatalf("npm.Resolve = %q, %v; want 20.1.0", v, err)
	}
	if n := asked.Load(); n != 2 {
		t.Errorf("the lookup was asked %d times, want 2 (once given up, once answered, then kept)", n)
	}

	none := &toolsource.Node{}
	if _, err := none.Resolve(t.Context(), "20", "linux", "amd64"); err == nil {
		t.Error("a source without a registry or a lookup found one")
	}
	fixed := &toolsource.Node{Registry: srv.URL, RegistryLookup: toolsource.NewLookup(func(context.Context) (string, bool) {
		t.Error("a configured registry asked its lookup")
		return "", true
	})}
	if _, err := fixed.Resolve(t.Context(), "20", "linux", "amd64"); err != nil {
		t.Error(err)
	}
}
