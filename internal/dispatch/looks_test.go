package dispatch_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/testenv/probe"
)

// TestPollKeepsItsLook: a poll's first look uses what the server knows
// of its agent (the job it handed out, the finish it took) instead of
// reading it, and reads whenever that may be wrong: after a "cancel"
// notification, when the agent lists other jobs, when the look is old.
// Each refusal is checked by what the agent gets, not only by the count.
func TestPollKeepsItsLook(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		const lostAfter = 3 * time.Second // a look is kept for a second
		e := newEnv(t, dialect, options{yaml: twoJobsYAML, pollTimeout: 500 * time.Millisecond, lostAfter: lostAfter})
		s := e.servers[0]
		e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 2)
		poll := func(what string, running []string, free int, keeps bool) *agentapi.PollResponse {
			t.Helper()
			before := s.kept.Load()
			resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: free, Running: running})
			if err != nil {
				t.Fatalf("%s: poll: %v", what, err)
			}
			if kept := s.kept.Load() > before; kept != keeps {
				t.Errorf("%s: look kept = %v, want %v", what, kept, keeps)
			}
			return resp
		}

		// The first poll reads; the jobs it takes are the agent's next
		// look, with no read.
		resp := poll("first poll", nil, 2, false)
		if len(resp.Assign) != 2 {
			t.Fatalf("first poll = %+v, want two jobs", resp)
		}
		a, b := resp.Assign[0].JobID, resp.Assign[1].JobID
		if resp = poll("poll listing the jobs handed out", []string{a, b}, 0, true); len(resp.Cancel) != 0 || len(resp.Assign) != 0 {
			t.Errorf("poll listing the jobs handed out = %+v, want nothing", resp)
		}

		// A finish taken here leaves the look right: the next poll lists
		// the other job, and is told nothing.
		if err := c.Finish(t.Context(), b, agentapi.FinishRequest{Result: ci.ResultPassed}); err != nil {
			t.Fatal(err)
		}
		if resp = poll("poll after a finish", []string{a}, 0, true); len(resp.Cancel) != 0 {
			t.Errorf("poll after a finish = %+v, want nothing", resp)
		}

		// An old look is read again.
		time.Sleep(lostAfter/3 + 100*time.Millisecond)
		poll("poll after the look aged", []string{a}, 0, false)

		// The agent lists a job the server does not know of (taken
		// through another server, or left from before a restart): the
		// look is read, and that job is cancelled.
		resp = poll("poll listing an unknown job", []string{a, "job-elsewhere"}, 0, false)
		if len(resp.Cancel) != 1 || resp.Cancel[0].JobID != "job-elsewhere" {
			t.Errorf("poll listing an unknown job = %+v, want its cancel", resp)
		}

		// A stop request while the agent does not poll: its notification
		// makes the look void, so the next poll reads and gets the cancel
		// at once (a kept look would hold the poll to its timeout).
		poll("poll listing the job again", []string{a}, 0, true) // what the read found
		n := s.disp.NewsCount()
		if err := e.eng().StopJob(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		probe.Eventually(t, 10*time.Second, func() error {
			if s.disp.NewsCount() == n {
				return fmt.Errorf("the stop request's notification has not come")
			}
			return nil
		})
		start := time.Now()
		resp = poll("poll after a stop request", []string{a}, 0, false)
		if len(resp.Cancel) != 1 || resp.Cancel[0].JobID != a || resp.Cancel[0].Reason != ci.ReasonUser {
			t.Errorf("poll after a stop request = %+v, want the cancel of %s", resp, a)
		}
		if d := time.Since(start); d >= 500*time.Millisecond {
			t.Errorf("cancel delivered after %v: the poll was held", d)
		}

		// A registration again starts from a read.
		id = register(t, c, "agent-1", 2)
		poll("poll after registering again", nil, 0, false)
	})
}

// TestFinishWithTheLastChunk: the log's last chunk sent with the result
// is stored as if sent alone (in order, or a gap answer naming what to
// send), then the log sealed and the job ended; a finish sent again is
// answered the same; a "last" chunk that is not the last is refused.
func TestFinishWithTheLastChunk(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{yaml: twoJobsYAML})
		c := e.client(0)
		e.push()
		id := register(t, c, "agent-1", 2)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 2})
		if err != nil || len(resp.Assign) != 2 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		a, b := resp.Assign[0].JobID, resp.Assign[1].JobID

		var he *agentapi.HTTPError
		last := chunk(0, "hello\n")
		if err := c.Finish(t.Context(), a, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 2, Last: &last}); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
			t.Errorf("finish with a last chunk that is not the last = %v, want 400", err)
		}
		// Chunk 1 of 3 is missing: the gap answer names it, nothing ends.
		last = chunk(2, "!\n")
		var gap *agentapi.GapError
		if _, err := c.SendLog(t.Context(), a, chunk(0, "hello\n")); err != nil {
			t.Fatal(err)
		}
		if err := c.Finish(t.Context(), a, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 3, Last: &last}); !errors.As(err, &gap) || gap.Next != 1 {
			t.Fatalf("finish with a chunk missing = %v, want a gap error with next 1", err)
		}
		if j := e.job(a); j.State != ci.StateRunning {
			t.Fatalf("job after a refused finish: %s", j.State)
		}
		if _, err := c.SendLog(t.Context(), a, chunk(1, "world\n")); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second as a retry after a lost answer
			if err := c.Finish(t.Context(), a, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 3, Last: &last}); err != nil {
				t.Fatalf("finish with the last chunk: %v", err)
			}
		}
		if j := e.job(a); j.State != ci.StateDone || j.Result != ci.ResultPassed {
			t.Errorf("job after finish: %s/%s", j.State, j.Result)
		}
		if info, err := e.logs.Info(a); err != nil || !info.Sealed || info.Chunks != 3 {
			t.Errorf("log info = %+v, %v; want 3 chunks, sealed", info, err)
		}

		// A whole log in one chunk, with the result: one request.
		only := chunk(0, "just this\n")
		if err := c.Finish(t.Context(), b, agentapi.FinishRequest{Result: ci.ResultFailed, Chunks: 1, Last: &only}); err != nil {
			t.Fatal(err)
		}
		if info, err := e.logs.Info(b); err != nil || !info.Sealed || info.Chunks != 1 {
			t.Errorf("log info of the one-request job = %+v, %v", info, err)
		}
		if j := e.job(b); j.State != ci.StateDone || j.Result != ci.ResultFailed {
			t.Errorf("one-request job: %s/%s", j.State, j.Result)
		}
	})
}
