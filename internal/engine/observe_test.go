package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/repocache"
)

// recorder is an Observer that keeps what it heard.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) PipelineChanged(_ context.Context, p *ci.Pipeline, wf *ci.Workflow, proj *ci.Project) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := string(p.State)
	if p.Result != "" {
		s += "/" + string(p.Result)
	}
	r.got = append(r.got, proj.Name+":"+wf.ID+":"+s)
}

func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, g := range r.got {
		out = append(out, g[strings.LastIndexByte(g, ':')+1:])
	}
	return out
}

func TestObserverHearsStateChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		fail []string
		want string
	}{
		{"passes", sequentialYAML, nil, "running done/passed"},
		{"fails", sequentialYAML, []string{"a1"}, "running done/failed"},
		{"malformed", "version: v1.0\nblocks: 3\n", nil, "done/failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "sqlite", tc.yaml)
			rec := &recorder{}
			e.eng = engine.New(engine.Config{Store: e.db, Repos: repocache.New(filepath.Join(t.TempDir(), "repos")),
				Logs: e.logs, Now: e.clock.Now, Logger: testLogger(t), Observer: rec})
			wf := e.push("main")
			if tc.name != "malformed" {
				e.runAll("s1-test", tc.fail...)
			}
			if got := strings.Join(rec.states(), " "); got != tc.want {
				t.Errorf("observer heard %q, want %q", got, tc.want)
			}
			for _, g := range rec.got {
				if !strings.HasPrefix(g, "demo:"+wf.ID+":") {
					t.Errorf("observer heard %q, not of workflow %s of demo", g, wf.ID)
				}
			}
		})
	}
}
