package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/docker"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/batonci/baton/internal/toolcache"
	"github.com/batonci/baton/internal/toolsource"
	"github.com/batonci/baton/internal/toolsource/toolsourcetest"
)

const toolsPipeline = `version: v1.0
name: Tools
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: First
    dependencies: []
    task:
      jobs:
        - name: Go
          commands:
            - if sem-version go 1.22; then echo "a cut-off download was installed"; exit 1; fi
            - sem-version go 1.22
            - go version
            - if sem-version go 1.99; then echo "switched to go 1.99"; exit 1; fi
            - go version
  - name: Second
    dependencies: [First]
    task:
      jobs:
        - name: Go again
          commands:
            - sem-version go 1.22
            - go version
`

// toolsContainerBlock runs in a container, with the agent's tool cache
// mounted read-only.
const toolsContainerBlock = `  - name: Container
    dependencies: [First]
    task:
      agent:
        machine:
          type: e1-standard-2
        containers:
          - name: main
            image: baton-test/debian
      jobs:
        - name: Go in a container
          commands:
            - sem-version go 1.22
            - go version
            - bin="$(dirname "$(command -v go)")"
            - if touch "$bin/poison" || rm -f "$bin/go" || mkdir "$bin/../../evil"; then echo "wrote into the tool cache"; exit 1; fi
            - echo "the tool cache is read-only in the container"
`

// toolsAgent opens a tool cache whose Go source is mirror.
func toolsAgent(t *testing.T, m *toolsourcetest.Mirror, budget int64) *toolsource.Provider {
	t.Helper()
	dir := t.TempDir()
	p, err := agent.NewTools(agent.ToolsOptions{Dir: filepath.Join(dir, "tools"), WorkDir: filepath.Join(dir, "work"), Budget: budget, GoProxy: m.URL, GoSumDB: m.SumDB})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSemVersionGoFromToolCache (and, with Docker, in a container: the
// cache mounted read-only, refusing the job's writes): a job's sem-version go 1.22 gets Go
// 1.22.5 from the agent's tool cache, downloaded once from the mirror
// and checked against its checksum database; a cut-off download fails
// the command that asked and leaves nothing; the next job gets it from
// the cache without a download; an unknown version is refused with the
// versions there are.
func TestSemVersionGoFromToolCache(t *testing.T) {
	t.Parallel()
	m := toolsourcetest.Start(t, runtime.GOOS, runtime.GOARCH)
	tools := toolsAgent(t, m, 0)
	// Unpacking 250 MB keeps a loaded machine's disk busy: the agent is
	// not lost for a few slow polls.
	e := testenv.Start(t, testenv.Options{LostAfter: time.Minute})
	pipeline := toolsPipeline
	opts := testenv.AgentOptions{Tools: tools}
	d := docker.New(docker.Options{AgentID: fmt.Sprintf("tools-test-%d", time.Now().UnixNano()), GracePeriod: time.Second})
	_, noDocker := d.Available(t.Context())
	withDocker := noDocker == nil || probe.InCI() // in CI, Docker is there
	if withDocker {
		opts.Executor, opts.Executors = executor.Switch{Host: shell.New(shell.Options{}), Containers: d}, []string{"shell", "docker"}
		pipeline += toolsContainerBlock
	}
	e.StartAgentWith(t, "tools", "e1-standard-2", 1, opts)
	m.CutNext(1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline})
	createProject(t, e, "app", repo, nil)
	// Unpacking a Go release takes minutes under the race detector.
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 15*time.Minute)
	first, second := e.Log(wf.Jobs()["First/Go"].ID), e.Log(wf.Jobs()["Second/Go again"].ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed; logs:\n%s\n---\n%s", wf.Result, first, second)
	}
	for _, want := range []string{
		"sem-version: go 1.22: download " + m.URL + "/golang.org/toolchain/@v/" + m.Version + ".zip: ",
		"sem-version: downloaded " + m.URL,
		"sem-version: using go 1.22.5 (installed in the agent's tool cache; h1:",
		"matches baton-test-sumdb's signed record)",
		"go version go1.22.5 " + runtime.GOOS + "/" + runtime.GOARCH,
		`sem-version: go 1.99: unknown go version "1.99"; available: 1.22.5, 1.21.0`,
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the first job's log lacks %q:\n%s", want, first)
		}
	}
	for _, want := range []string{"sem-version: using go 1.22.5 (from the agent's tool cache)", "go version go1.22.5"} {
		if !strings.Contains(second, want) {
			t.Errorf("the second job's log lacks %q:\n%s", want, second)
		}
	}
	if withDocker {
		log := e.Log(wf.Jobs()["Container/Go in a container"].ID)
		for _, want := range []string{"sem-version: using go 1.22.5 (from the agent's tool cache)", "go version go1.22.5", "Read-only file system", "the tool cache is read-only in the container"} {
			if !strings.Contains(log, want) {
				t.Errorf("the container job's log lacks %q:\n%s", want, log)
			}
		}
	} else {
		t.Log("no Docker: the container job was not run")
	}
	if n := m.Zips(); n != 2 {
		t.Errorf("the mirror served %d zip downloads, want 2 (one cut off, one whole; the second job downloads nothing)", n)
	}
	entries := tools.Cache.List()
	if len(entries) != 1 || entries[0].Name != "go" || entries[0].Version != "1.22.5" {
		t.Errorf("cache entries = %+v, want go 1.22.5 alone", entries)
	}
	if des, _ := os.ReadDir(filepath.Join(tools.Cache.Dir(), ".tmp")); len(des) != 0 {
		t.Errorf("the cache's temporary directory holds %d files after the jobs", len(des))
	}
}

const globalToolsPipeline = `version: v1.0
name: Global tools
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Uses hello
          commands:
            - hello
            - tool install hello@1
`

// TestGlobalToolsOnEveryJobsPath: the organisation's global tools (PUT
// /api/v1/tools, as baton tools set) are on every job's PATH, from the
// agent's tool cache (here an entry already there, so no registry is
// needed); a global tool the agent cannot get fails the job before its
// commands, naming the tool.
func TestGlobalToolsOnEveryJobsPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tools, err := agent.NewTools(agent.ToolsOptions{Dir: filepath.Join(dir, "tools"), WorkDir: filepath.Join(dir, "work")})
	if err != nil {
		t.Fatal(err)
	}
	_, _, release, err := tools.Cache.Ensure(t.Context(), toolcache.Key{Name: "npm:hello", Version: "1.0.0", OS: runtime.GOOS, Arch: runtime.GOARCH},
		func(ctx context.Context, dir string) (toolcache.Manifest, error) {
			if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
				return toolcache.Manifest{}, err
			}
			return toolcache.Manifest{Bin: []string{"bin"}}, os.WriteFile(filepath.Join(dir, "bin", "hello"), []byte("#!/bin/sh\necho hello from a global tool\n"), 0o755)
		})
	if err != nil {
		t.Fatal(err)
	}
	release()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgentWith(t, "tools", "e1-standard-2", 1, testenv.AgentOptions{Tools: tools})
	e.Do("PUT", "/api/v1/tools", map[string]any{"tools": []string{"hello@1"}}, nil, http.StatusOK)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": globalToolsPipeline})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	log := e.Log(wf.Jobs()["Build/Uses hello"].ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed:\n%s", wf.Result, log)
	}
	for _, want := range []string{"global tools on PATH: hello 1.0.0", "hello from a global tool", "tool: using hello 1.0.0 (from the agent's tool cache)"} {
		if !strings.Contains(log, want) {
			t.Errorf("the job's log lacks %q:\n%s", want, log)
		}
	}

	// A tool the agent cannot get (this agent has no npm registry).
	e.Do("PUT", "/api/v1/tools", map[string]any{"tools": []string{"hello@1", "left-pad@1"}}, nil, http.StatusOK)
	wf = e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	log = e.Log(wf.Jobs()["Build/Uses hello"].ID)
	if wf.Result != ci.ResultFailed || !strings.Contains(log, "global tool left-pad@1: npm: no source configured") || strings.Contains(log, "hello from a global tool") {
		t.Errorf("with a global tool it cannot get: result %s, log:\n%s", wf.Result, log)
	}
}

const goToolPipeline = `version: v1.0
name: Go tool
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: First
    dependencies: []
    task:
      jobs:
        - name: Install
          commands:
            - tool install example.com/hello@v1.0.0 --go
            - hello
            - command -v hello
  - name: Second
    dependencies: [First]
    task:
      jobs:
        - name: Again
          commands:
            - tool install example.com/hello@v1.0.0 --go
            - hello
`

// TestToolInstallGoFromModuleProxy: a job's tool install NAME@VERSION
// --go builds the command with go install from a Go module proxy (a
// local one serving a module made here, its hashes signed by a checksum
// database of its own, which go checks: nothing is configured off), into
// the agent's tool cache; the job's next command runs it from there; the
// next job's install downloads nothing.
func TestToolInstallGoFromModuleProxy(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on this machine")
	}
	proxy := toolsourcetest.StartModule(t, "example.com/hello", "v1.0.0", map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.21\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the module proxy\") }\n",
	})
	dir := t.TempDir()
	tools, err := agent.NewTools(agent.ToolsOptions{Dir: filepath.Join(dir, "tools"), WorkDir: filepath.Join(dir, "work"), GoProxy: proxy.URL, GoSumDB: proxy.SumDB})
	if err != nil {
		t.Fatal(err)
	}
	e := testenv.Start(t, testenv.Options{LostAfter: time.Minute})
	e.StartAgentWith(t, "tools", "e1-standard-2", 1, testenv.AgentOptions{Tools: tools})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": goToolPipeline})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 10*time.Minute)
	first, second := e.Log(wf.Jobs()["First/Install"].ID), e.Log(wf.Jobs()["Second/Again"].ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed; logs:\n%s\n---\n%s", wf.Result, first, second)
	}
	entries := tools.Cache.List()
	if len(entries) != 1 || !strings.Contains(entries[0].Name, "example.com/hello") || entries[0].Version != "v1.0.0" {
		t.Fatalf("cache entries = %+v, want example.com/hello v1.0.0 alone", entries)
	}
	for _, want := range []string{
		"tool: built example.com/hello@v1.0.0",
		"go checked the modules against go.sum and the checksum database",
		"hello from the module proxy",
		filepath.Join(dir, "tools") + "/", // command -v hello: the cache's bin
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the first job's log lacks %q:\n%s", want, first)
		}
	}
	if !strings.Contains(second, "hello from the module proxy") || !strings.Contains(second, "from the agent's tool cache") {
		t.Errorf("the second job's log lacks the command's output or that it came from the cache:\n%s", second)
	}
	if n := proxy.Zips(); n != 1 {
		t.Errorf("the proxy served %d zips of the module, want 1 (the second install downloads nothing)", n)
	}
}
