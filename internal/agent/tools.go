package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/toolcache"
	"github.com/batonci/baton/internal/toolsource"
)

// jobTools is one job's side of the agent's tool cache (Config.Tools):
// the job's sem-version and tool install go through its job service to
// here, and what the job got is held (not evicted) until the job ends.
type jobTools struct {
	p        *toolsource.Provider
	mu       sync.Mutex
	releases []func()
}

var _ jobsvc.ToolProvider = (*jobTools)(nil)

// Provide implements jobsvc.ToolProvider.
func (t *jobTools) Provide(ctx context.Context, req jobsvc.ToolRequest, progress io.Writer) (jobsvc.ToolResult, error) {
	r, release, err := t.p.Provide(ctx, toolsource.Request{Kind: req.Kind, Name: req.Name, Version: req.Version}, progress)
	if err != nil {
		return jobsvc.ToolResult{}, err
	}
	t.mu.Lock()
	t.releases = append(t.releases, release)
	t.mu.Unlock()
	return jobsvc.ToolResult{Name: r.Name, Version: r.Version, Bin: r.Bin, Installed: r.Installed, Source: r.Source, Verified: r.Verified}, nil
}

// close lets the cache evict what the job used.
func (t *jobTools) close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.releases {
		r()
	}
	t.releases = nil
}

// ToolsOptions configure an agent's tool cache (NewTools).
type ToolsOptions struct {
	// Dir is the cache's directory: WorkDir/tools, which jobs can read.
	Dir string
	// Budget bounds the cache in bytes; 0 is no limit.
	Budget int64
	// GoProxy is the Go module proxy's base URL, GoSumDB GOSUMDB's value.
	GoProxy, GoSumDB string
	// NPMRegistry is the npm registry's base URL (Node.js and npm
	// tools); "" means the one NPMRegistryLookup finds on the first
	// Node.js or npm fetch (the machine's npm setting), or none.
	NPMRegistry       string
	NPMRegistryLookup *toolsource.Lookup
	// WorkDir holds npm's cache and the Go builds' GOPATH: the agent's,
	// not the jobs' (under DataDir).
	WorkDir string
	Logger  *slog.Logger
	// Client fetches from the sources; nil means http.DefaultClient.
	Client *http.Client
}

// NewTools opens the tool cache with its sources.
func NewTools(o ToolsOptions) (*toolsource.Provider, error) {
	c, err := toolcache.Open(toolcache.Options{Dir: o.Dir, Budget: o.Budget, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("tool cache: %w", err)
	}
	return &toolsource.Provider{
		Cache:  c,
		Go:     &toolsource.Go{Proxy: o.GoProxy, SumDB: o.GoSumDB, Client: o.Client},
		Node:   &toolsource.Node{Registry: o.NPMRegistry, RegistryLookup: o.NPMRegistryLookup, Client: o.Client},
		NPM:    &toolsource.NPM{Registry: o.NPMRegistry, RegistryLookup: o.NPMRegistryLookup, CacheDir: filepath.Join(o.WorkDir, "npm-cache"), Client: o.Client},
		GoTool: &toolsource.GoTool{Proxy: o.GoProxy, SumDB: o.GoSumDB, GoPath: filepath.Join(o.WorkDir, "gopath"), Client: o.Client},
		OS:     runtime.GOOS, Arch: runtime.GOARCH,
	}, nil
}

// globalTools installs the organisation's global tools (as.Tools) in the
// tool cache, held for the job, and returns the directories that go in
// front of the job's PATH. Without a tool cache the job is told, in a
// notice, that it does not get them.
func (a *agent) globalTools(ctx context.Context, as agentapi.Assignment, tools *jobTools, job *jobspec.Job) ([]string, error) {
	if len(as.Tools) == 0 {
		return nil, nil
	}
	if tools == nil {
		job.Notices = append(job.Notices, "global tools not installed: this agent has no tool cache (--tool-budget 0)")
		return nil, nil
	}
	var dirs []string
	var names []string
	for _, t := range as.Tools {
		r, err := tools.Provide(ctx, jobsvc.ToolRequest{Kind: t.Kind, Name: t.Name, Version: t.Version}, nil)
		if err != nil {
			return nil, fmt.Errorf("global tool %s: %w", t, err)
		}
		dirs = append(dirs, r.Bin...)
		names = append(names, t.Name+" "+r.Version)
	}
	job.Notices = append(job.Notices, "global tools on PATH: "+strings.Join(names, ", "))
	return dirs, nil
}

// prependPath puts dirs in front of the PATH of env.
func prependPath(env []string, dirs []string) []string {
	if len(dirs) == 0 {
		return env
	}
	out := append([]string(nil), env...)
	for i, kv := range out {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			out[i] = "PATH=" + strings.Join(dirs, string(os.PathListSeparator)) + string(os.PathListSeparator) + p
			return out
		}
	}
	return append(out, "PATH="+strings.Join(dirs, string(os.PathListSeparator)))
}
