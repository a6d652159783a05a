package agent_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/batonci/baton/internal/toolcache"
)

// TestToolCacheReadOnlyForJobUsers: a job that runs as its own user
// (an agent run as root) runs the cached tools but can neither change
// them nor add, remove or rename anything in the cache, so that it
// cannot poison the builds of other projects on the agent.
func TestToolCacheReadOnlyForJobUsers(t *testing.T) {
	probe.Require(t, probe.Root)
	const uid, gid = 65534, 65534
	work, err := os.MkdirTemp("/tmp", "baton-tools-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil { // as the agent's WorkDir
		t.Fatal(err)
	}
	p, err := agent.NewTools(agent.ToolsOptions{Dir: filepath.Join(work, "tools"), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e, _, release, err := p.Cache.Ensure(context.Background(), toolcache.Key{Name: "npm:hello", Version: "1.0.0", OS: "linux", Arch: "amd64"},
		func(ctx context.Context, dir string) (toolcache.Manifest, error) {
			if err := os.Mkdir(filepath.Join(dir, "bin"), 0o777); err != nil {
				return toolcache.Manifest{}, err
			}
			return toolcache.Manifest{Bin: []string{"bin"}}, os.WriteFile(filepath.Join(dir, "bin", "hello"), []byte("#!/bin/sh\necho hello from the cache\n"), 0o777)
		})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	home, err := os.MkdirTemp("/tmp", "baton-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chown(home, uid, gid)
	bin := e.BinDirs()[0]
	s, err := shell.New(shell.Options{}).Start(t.Context(), executor.SessionConfig{
		Dir: home, Env: []string{"PATH=" + bin + ":/usr/bin:/bin"},
		User: &executor.User{UID: uid, GID: gid, Home: home},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cache := p.Cache.Dir()
	var out bytes.Buffer
	code, err := s.Run(t.Context(), `hello
try() { if "$@" 2>/dev/null; then echo "WROTE: $*"; fi; }
try sh -c 'echo "echo poisoned" >> `+bin+`/hello'
try touch `+bin+`/node
try rm -f `+bin+`/hello
try mv `+e.Dir+` `+e.Dir+`.old
try touch `+cache+`/evil
try mkdir `+cache+`/npm%3Ahello/2.0.0-linux-amd64
try mkdir `+cache+`/.tmp/x
try chmod 777 `+bin+`
hello
echo done`, &out)
	if err != nil || code != 0 {
		t.Fatalf("session: %d %v: %s", code, err, out.String())
	}
	if got, want := out.String(), "hello from the cache\nhello from the cache\ndone\n"; got != want {
		t.Errorf("as the job's user:\n%s\nwant only the tool's output (nothing written)", got)
	}
	if es := p.Cache.List(); len(es) != 1 {
		t.Errorf("cache entries: %+v", es)
	}
}
