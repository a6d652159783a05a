package toolsource_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/toolcache"
	"github.com/batonci/baton/internal/toolsource"
	"github.com/batonci/baton/internal/toolsource/toolsourcetest"
)

func provider(t *testing.T, m *toolsourcetest.Mirror) *toolsource.Provider {
	t.Helper()
	c, err := toolcache.Open(toolcache.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &toolsource.Provider{Cache: c, Go: &toolsource.Go{Proxy: m.URL, SumDB: m.SumDB}, OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// TestGoToolchainFromMirror: a Go release zip from a proxy mirror is
// checked against the checksum database and installed once; a changed
// zip and a cut-off download are refused and leave nothing.
func TestGoToolchainFromMirror(t *testing.T) {
	t.Parallel()
	m := toolsourcetest.Start(t, runtime.GOOS, runtime.GOARCH)
	p := provider(t, m)
	ctx := context.Background()
	req := toolsource.Request{Kind: "lang", Name: "go", Version: "1.22"}

	m.Tamper(true)
	_, _, err := p.Provide(ctx, req, nil)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("changed zip: err = %v, want a checksum mismatch", err)
	}
	m.Tamper(false)
	m.CutNext(1)
	if _, _, err = p.Provide(ctx, req, nil); err == nil || !strings.Contains(err.Error(), "download") {
		t.Fatalf("cut-off download: err = %v", err)
	}
	if len(p.Cache.List()) != 0 {
		t.Fatalf("refused downloads left entries: %+v", p.Cache.List())
	}
	var progress bytes.Buffer
	defer func() { t.Log(progress.String()) }()
	r, release, err := p.Provide(ctx, req, &progress)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if r.Version != "1.22.5" || !r.Installed || !strings.Contains(r.Verified, "signed record") {
		t.Errorf("result = %+v", r)
	}
	out, err := exec.Command(filepath.Join(r.Bin[0], "go"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "go1.22.5") {
		t.Errorf("go version: %s %v", out, err)
	}
	r, release, err = p.Provide(ctx, req, nil)
	if err != nil || r.Installed {
		t.Errorf("second ask: %+v %v, want it from the cache", r, err)
	}
	release()
	if n := m.Zips(); n != 3 {
		t.Errorf("%d zip downloads, want 3", n)
	}
	_, _, err = p.Provide(ctx, toolsource.Request{Kind: "lang", Name: "go", Version: "1.99"}, nil)
	var ue *toolsource.UnknownError
	if !errors.As(err, &ue) || err.Error() != `unknown go version "1.99"; available: 1.22.5, 1.21.0` {
		t.Errorf("unknown version: %v", err)
	}
	if des, _ := os.ReadDir(filepath.Join(p.Cache.Dir(), ".tmp")); len(des) != 0 {
		t.Errorf("%d files left in .tmp", len(des))
	}
}
