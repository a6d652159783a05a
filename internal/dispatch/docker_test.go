package dispatch_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine/enginetest"
)

const containerYAML = `version: v1.0
name: Containers
agent:
  machine:
    type: s1-test
  containers:
    - name: main
      image: debian:12
    - name: db
      image: postgres:16
blocks:
  - name: A
    task:
      jobs:
        - name: a
          commands: [echo a]
`

func registerWith(t *testing.T, c *agentapi.Client, name string, executors []string) string {
	t.Helper()
	resp, err := c.Register(t.Context(), agentapi.RegisterRequest{Name: name, Type: "s1-test", Slots: 1, Version: "test", Hostname: name, Executors: executors})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return resp.AgentID
}

// pollFor polls once for at most d; a poll still waiting then returns
// nil.
func pollFor(t *testing.T, c *agentapi.Client, req agentapi.PollRequest, d time.Duration) *agentapi.PollResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	resp, err := c.Poll(ctx, req)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return nil
	}
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return resp
}

func TestDockerJobsGoToDockerAgents(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{yaml: containerYAML, pollTimeout: 2 * time.Second})
		p := e.push()
		c := e.client(0)
		shellID := registerWith(t, c, "shell-1", []string{"shell"})
		if resp := pollFor(t, c, agentapi.PollRequest{AgentID: shellID, FreeSlots: 1}, 500*time.Millisecond); resp != nil && len(resp.Assign) > 0 {
			t.Fatalf("an agent without Docker was given %+v", resp.Assign)
		}
		j := e.jobNamed(p, "a")
		if j.State != ci.StateQueued || !j.NeedsDocker {
			t.Fatalf("job = %s, needs Docker %v; want queued, true", j.State, j.NeedsDocker)
		}
		agents, err := e.db().ListAgents(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.eng().WhyPending(t.Context(), j, agents), "no connected agent of type s1-test can run Docker jobs"; got != want {
			t.Errorf("WhyPending = %q, want %q", got, want)
		}
		dockerID := registerWith(t, c, "docker-1", []string{"shell", "docker"})
		resp := pollFor(t, c, agentapi.PollRequest{AgentID: dockerID, FreeSlots: 1}, 2*time.Second)
		if resp == nil || len(resp.Assign) != 1 {
			t.Fatalf("docker agent poll = %+v, want the job", resp)
		}
		want := []string{"debian:12", "postgres:16"}
		if cs := resp.Assign[0].Job.Containers; len(cs) != 2 || cs[0].Image != want[0] || cs[1].Image != want[1] {
			t.Errorf("assigned containers = %+v, want %q", cs, want)
		}
	})
}

func TestImageAffinity(t *testing.T) {
	const grace = time.Second
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{yaml: containerYAML, pollTimeout: 5 * time.Second, imageAffinity: grace})
		// One client per agent: each holds its own agent's credential.
		cold, holder := e.client(0), e.client(0)
		docker := []string{"shell", "docker"}
		coldID := registerWith(t, cold, "cold", docker)
		holderID := registerWith(t, holder, "holder", docker)
		// The holder reports its images (a poll with no free slot).
		pollFor(t, holder, agentapi.PollRequest{AgentID: holderID, Images: []string{"debian:12", "postgres:16", "redis:7"}}, 200*time.Millisecond)
		if a, err := e.db().GetAgent(t.Context(), holderID); err != nil || len(a.Images) != 3 {
			t.Fatalf("holder images = %v, %v; want the 3 reported", a, err)
		}

		// The cold agent leaves the job to the holder, which takes it.
		p := e.push()
		coldDone := make(chan *agentapi.PollResponse, 1)
		go func() {
			coldDone <- pollFor(t, cold, agentapi.PollRequest{AgentID: coldID, FreeSlots: 1, Images: []string{"debian:12"}}, 3*time.Second)
		}()
		e.waitHeld(t, coldID, func() bool { return len(coldDone) > 0 })
		resp := pollFor(t, holder, agentapi.PollRequest{AgentID: holderID, FreeSlots: 1, Images: []string{"debian:12", "postgres:16", "redis:7"}}, time.Second)
		if resp == nil || len(resp.Assign) != 1 {
			t.Fatalf("holder poll = %+v, want the job", resp)
		}
		if r := <-coldDone; r != nil && len(r.Assign) > 0 {
			t.Errorf("the cold agent got %+v", r.Assign)
		}
		if err := e.eng().JobFinished(t.Context(), resp.Assign[0].JobID, ci.ResultPassed, ""); err != nil {
			t.Fatal(err)
		}
		if j := e.jobNamed(p, "a"); j.AgentID != holderID {
			t.Errorf("job ran on %s, want the holder", j.AgentID)
		}

		// When the holder does not take it, the cold agent does once the
		// grace window is over.
		e.push()
		start := time.Now()
		resp = pollFor(t, cold, agentapi.PollRequest{AgentID: coldID, FreeSlots: 1, Images: []string{"debian:12"}}, 4*time.Second)
		waited := time.Since(start)
		if resp == nil || len(resp.Assign) != 1 {
			t.Fatalf("cold poll = %+v, want the job after the grace window", resp)
		}
		if waited < grace/2 || waited > grace+2*time.Second {
			t.Errorf("cold agent got the job after %v, want about the grace window %v", waited, grace)
		}
	})
}

// TestAgentReportsImagesAndPruning: an agent's whole list of images is
// taken even when empty (it pruned or had them all removed), and what it
// pruned over its disk budget is kept with the agent.
func TestAgentReportsImagesAndPruning(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{yaml: containerYAML, pollTimeout: time.Second})
		c := e.client(0)
		id := registerWith(t, c, "pruner", []string{"shell", "docker"})
		pollFor(t, c, agentapi.PollRequest{AgentID: id, Images: []string{"debian:12", "node:20"}, ImagesKnown: true}, 100*time.Millisecond)
		pruned := &ci.ImagePruning{Removed: 1, Bytes: 5 << 20, LastAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Last: []string{"node:20"}}
		pollFor(t, c, agentapi.PollRequest{AgentID: id, Images: []string{"debian:12"}, ImagesKnown: true, ImagePruning: pruned}, 100*time.Millisecond)
		a, err := e.db().GetAgent(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Images, []string{"debian:12"}) || a.ImagePruning == nil || a.ImagePruning.Removed != 1 ||
			a.ImagePruning.Bytes != 5<<20 || !a.ImagePruning.LastAt.Equal(pruned.LastAt) || !slices.Equal(a.ImagePruning.Last, []string{"node:20"}) {
			t.Fatalf("agent = images %q, pruning %+v; want debian:12 and the pruning reported", a.Images, a.ImagePruning)
		}
		// Every image removed by hand: the empty list is the list.
		pollFor(t, c, agentapi.PollRequest{AgentID: id, ImagesKnown: true, ImagePruning: pruned}, 100*time.Millisecond)
		if a, err = e.db().GetAgent(t.Context(), id); err != nil || len(a.Images) != 0 || a.ImagePruning == nil {
			t.Fatalf("agent after an empty list = %+v, %v; want no images, the pruning kept", a, err)
		}
	})
}
