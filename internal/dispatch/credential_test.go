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
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv/probe"
)

// wantStatus fails unless err is an HTTP error with that status.
func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var he *agentapi.HTTPError
	if !errors.As(err, &he) || he.Status != status {
		t.Errorf("%s: error %v, want HTTP %d", what, err, status)
	}
}

// TestStolenAgentToken: whoever holds an agent token can register agents,
// nothing more. It cannot poll, upload logs, finish or disconnect in the
// name of an agent; a registered agent's credential cannot act on another
// agent's job; and the ID of a connected agent cannot be taken over.
func TestStolenAgentToken(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{pollTimeout: 500 * time.Millisecond})
		e.push()
		victim := e.client(0)
		id := register(t, victim, "victim", 1)
		resp, err := victim.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID

		// The token alone.
		thief := e.client(0)
		_, err = thief.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		wantStatus(t, "poll with the token", err, http.StatusUnauthorized)
		_, err = thief.SendLog(t.Context(), job, chunk(0, "forged\n"))
		wantStatus(t, "logs with the token", err, http.StatusUnauthorized)
		wantStatus(t, "finish with the token", thief.Finish(t.Context(), job, agentapi.FinishRequest{Result: ci.ResultPassed}), http.StatusUnauthorized)
		wantStatus(t, "disconnect with the token", thief.Disconnect(t.Context(), id), http.StatusUnauthorized)

		// Taking over the connected agent's ID.
		_, err = thief.Register(t.Context(), agentapi.RegisterRequest{AgentID: id, Name: "victim", Type: "s1-test", Slots: 1})
		wantStatus(t, "register the victim's ID", err, http.StatusConflict)
		_, err = thief.Register(t.Context(), agentapi.RegisterRequest{AgentID: id, Credential: agentapi.CredentialPrefix + "guess", Name: "victim", Type: "s1-test", Slots: 1})
		wantStatus(t, "register the victim's ID with a wrong credential", err, http.StatusConflict)

		// The thief's own agent.
		own := register(t, thief, "thief", 1)
		_, err = thief.SendLog(t.Context(), job, chunk(0, "forged\n"))
		wantStatus(t, "logs of another agent's job", err, http.StatusForbidden)
		wantStatus(t, "finish of another agent's job", thief.Finish(t.Context(), job, agentapi.FinishRequest{Result: ci.ResultPassed}), http.StatusForbidden)
		_, err = thief.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		wantStatus(t, "poll as another agent", err, http.StatusForbidden)
		wantStatus(t, "disconnect another agent", thief.Disconnect(t.Context(), id), http.StatusForbidden)

		if j := e.job(job); j.State != ci.StateRunning || j.AgentID != id {
			t.Fatalf("the victim's job is %s on %s, want running on %s", j.State, j.AgentID, id)
		}
		if a, err := e.db().GetAgent(t.Context(), id); err != nil || a.State != ci.AgentConnected || a.Name != "victim" {
			t.Fatalf("victim agent = %+v, %v", a, err)
		}
		if own == id {
			t.Fatal("the thief got the victim's ID")
		}

		// The victim itself works on, and may register its ID again
		// (a restart) with its credential.
		if _, err := victim.SendLog(t.Context(), job, chunk(0, "real\n")); err != nil {
			t.Fatalf("victim logs: %v", err)
		}
		if err := victim.Finish(t.Context(), job, agentapi.FinishRequest{Result: ci.ResultPassed, Chunks: 1}); err != nil {
			t.Fatalf("victim finish: %v", err)
		}
		if j := e.job(job); j.Result != ci.ResultPassed {
			t.Errorf("job result %s, want passed", j.Result)
		}
		old := victim.Credential()
		again, err := victim.Register(t.Context(), agentapi.RegisterRequest{AgentID: id, Name: "victim", Type: "s1-test", Slots: 1})
		if err != nil || again.AgentID != id {
			t.Fatalf("restart with the credential: %+v, %v", again, err)
		}
		if again.Credential == old {
			t.Error("registration kept the old credential")
		}
		stale := e.client(0)
		stale.SetCredential(old)
		_, err = stale.Poll(t.Context(), agentapi.PollRequest{AgentID: id})
		wantStatus(t, "poll with the replaced credential", err, http.StatusUnauthorized)
	})
}

// TestRevokedAgentTokenStopsItsAgents: revoking an agent token voids the
// credentials of the agents it registered at their next poll (a held
// poll included): they are disconnected, their running jobs fail as
// with a lost agent, and the token registers no more.
func TestRevokedAgentTokenStopsItsAgents(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, options{pollTimeout: 5 * time.Second, lostAfter: 600 * time.Millisecond})
		e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 1)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID
		held := make(chan error, 1)
		go func() {
			_, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 0, Running: []string{job}})
			held <- err
		}()
		e.waitHeld(t, id, func() bool { return len(held) > 0 })
		a, err := e.db().GetAgent(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := e.db().AgentTokens(t.Context())
		if err != nil || len(tokens) != 1 {
			t.Fatalf("agent tokens = %v, %v", tokens, err)
		}
		if err := e.db().Tx(t.Context(), func(tx *store.Tx) error { return tx.RevokeToken(tokens[0].ID) }); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		select {
		case err := <-held:
			wantStatus(t, "held poll after the revocation", err, http.StatusUnauthorized)
		case <-time.After(5 * time.Second):
			t.Fatal("the held poll did not end after the revocation")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the held poll ended %v after the revocation", d)
		}
		if j := e.job(job); j.State != ci.StateDone || j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
			t.Errorf("job %s/%s/%s, want done/failed/agent_lost", j.State, j.Result, j.Reason)
		}
		if a2, _ := e.db().GetAgent(t.Context(), id); a2.State != ci.AgentGone {
			t.Errorf("agent is %s (was %s), want disconnected", a2.State, a.State)
		}
		_, err = c.SendLog(t.Context(), job, chunk(0, "late\n"))
		wantStatus(t, "logs after the revocation", err, http.StatusUnauthorized)
		_, err = c.Register(t.Context(), agentapi.RegisterRequest{AgentID: id, Name: "agent-1", Type: "s1-test", Slots: 1})
		wantStatus(t, "register with the revoked token", err, http.StatusUnauthorized)
	})
}

// TestStreamsOnlyForTheJobsAgent: a debug session stream is handed only
// to the agent of the session's job, authenticated by its credential: not
// to the agent token, not to another agent (even one claiming the job's
// agent's ID in the header).
func TestStreamsOnlyForTheJobsAgent(t *testing.T) {
	e := newEnv(t, store.SQLite, options{pollTimeout: 2 * time.Second})
	e.push()
	owner, other := e.client(0), e.client(0)
	ownerID := register(t, owner, "owner", 1)
	otherID := register(t, other, "other", 1)
	resp, err := owner.Poll(t.Context(), agentapi.PollRequest{AgentID: ownerID, FreeSlots: 1})
	if err != nil || len(resp.Assign) != 1 {
		t.Fatalf("poll = %+v, %v", resp, err)
	}
	job := resp.Assign[0].JobID

	type opened struct {
		ok  bool
		err error
	}
	result := make(chan opened, 1)
	sessionID := ids.New()
	go func() {
		conn, err := e.servers[0].disp.OpenStream(t.Context(), &store.DebugSession{ID: sessionID, JobID: job, ProjectID: e.proj.ID, AgentID: ownerID, UserID: "u", Login: "ada", Kind: "attach"})
		if conn != nil {
			conn.Close()
		}
		result <- opened{conn != nil, err}
	}()
	st := agentapi.Stream{ID: sessionID, JobID: job, Kind: "attach"}
	// Once the stream waits, another agent's dial is refused as not its
	// own (before, there is nothing to dial: 404).
	probe.Eventually(t, 10*time.Second, func() error {
		_, err := other.DialStream(t.Context(), st, otherID)
		if he := (*agentapi.HTTPError)(nil); errors.As(err, &he) && he.Status != http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("the stream does not wait: %v", err)
	})

	_, err = e.client(0).DialStream(t.Context(), st, ownerID)
	wantStatus(t, "dial with the agent token", err, http.StatusUnauthorized)
	_, err = other.DialStream(t.Context(), st, otherID)
	wantStatus(t, "dial by another agent", err, http.StatusForbidden)
	_, err = other.DialStream(t.Context(), st, ownerID)
	wantStatus(t, "dial by another agent naming the owner", err, http.StatusForbidden)

	conn, err := owner.DialStream(t.Context(), st, ownerID)
	if err != nil {
		t.Fatalf("the owner's dial: %v", err)
	}
	conn.Close()
	if r := <-result; !r.ok || r.err != nil {
		t.Errorf("OpenStream = %v, %v; want the owner's connection", r.ok, r.err)
	}
}

// TestHeldPollEndsWhenItsCredentialIsReplaced: the agent registers again
// (it restarted) while a poll with its old credential is held: the
// server's heartbeat of held polls sees the credential replaced and ends
// that poll (401), no later than a heartbeat period, while keeping the
// other held polls alive beyond LostAfter.
func TestHeldPollEndsWhenItsCredentialIsReplaced(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		const lostAfter = 600 * time.Millisecond
		e := newEnv(t, dialect, options{pollTimeout: 20 * time.Second, lostAfter: lostAfter})
		c, idle := e.client(0), e.client(0)
		id := register(t, c, "agent-1", 1)
		idleID := register(t, idle, "agent-2", 1)
		held := make(chan error, 1)
		go func() {
			_, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
			held <- err
		}()
		idleHeld := make(chan error, 1)
		go func() {
			_, err := idle.Poll(t.Context(), agentapi.PollRequest{AgentID: idleID, FreeSlots: 1})
			idleHeld <- err
		}()
		e.waitHeld(t, id, func() bool { return len(held) > 0 })
		e.waitHeld(t, idleID, func() bool { return len(idleHeld) > 0 })
		again := e.client(0)
		again.SetCredential(c.Credential())
		if _, err := again.Register(t.Context(), agentapi.RegisterRequest{AgentID: id, Name: "agent-1", Type: "s1-test", Slots: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-held:
			wantStatus(t, "the poll held with the replaced credential", err, http.StatusUnauthorized)
		case <-time.After(10 * time.Second):
			t.Fatal("the poll held with the replaced credential did not end")
		}
		// Well past LostAfter, the other held poll's agent is connected.
		deadline := time.Now().Add(3 * lostAfter)
		for time.Now().Before(deadline) {
			time.Sleep(lostAfter / 4)
			if _, err := e.servers[0].disp.CheckLost(t.Context()); err != nil {
				t.Fatal(err)
			}
			if a, _ := e.db().GetAgent(t.Context(), idleID); a.State != ci.AgentConnected {
				t.Fatalf("agent-2, whose poll is held, is %s", a.State)
			}
		}
		if len(idleHeld) > 0 {
			t.Fatalf("agent-2's held poll ended: %v", <-idleHeld)
		}
	})
}

// TestRevokedTokenRefusedFromRememberedCredentials: a server trusts the
// credentials the database confirmed recently without asking again, but a
// token revoked behind its back (on another server) is refused within
// LostAfter even to an agent that holds no poll: its log chunk gets 401
// and its job fails as with a lost agent.
func TestRevokedTokenRefusedFromRememberedCredentials(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		// Long enough that the agent, silent meanwhile, is not declared
		// lost first (it is, LostAfter after its last poll, and its log
		// then gets 410).
		const lostAfter = 8 * time.Second
		e := newEnv(t, dialect, options{pollTimeout: 5 * time.Second, lostAfter: lostAfter})
		e.push()
		c := e.client(0)
		id := register(t, c, "agent-1", 1)
		resp, err := c.Poll(t.Context(), agentapi.PollRequest{AgentID: id, FreeSlots: 1})
		if err != nil || len(resp.Assign) != 1 {
			t.Fatalf("poll = %+v, %v", resp, err)
		}
		job := resp.Assign[0].JobID
		if _, err := c.SendLog(t.Context(), job, chunk(0, "one\n")); err != nil {
			t.Fatal(err)
		}
		tokens, err := e.db().AgentTokens(t.Context())
		if err != nil || len(tokens) != 1 {
			t.Fatalf("agent tokens = %v, %v", tokens, err)
		}
		if err := e.db().Tx(t.Context(), func(tx *store.Tx) error { return tx.RevokeToken(tokens[0].ID) }); err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		seq := 1
		probe.Eventually(t, 20*time.Second, func() error {
			ack, err := c.SendLog(t.Context(), job, chunk(seq, "more\n"))
			if err == nil {
				seq = ack.Next
				return fmt.Errorf("a log chunk %v after the revocation was accepted", time.Since(revoked))
			}
			wantStatus(t, "log chunk after the revocation", err, http.StatusUnauthorized)
			return nil
		})
		// The bound, with room for a loaded machine: a credential is
		// trusted for LostAfter after the database last confirmed it.
		if d := time.Since(revoked); d > 2*lostAfter {
			t.Errorf("a revoked token's agent was refused only %v after the revocation", d)
		}
		if j := e.job(job); j.State != ci.StateDone || j.Reason != ci.ReasonAgentLost {
			t.Errorf("job %s/%s/%s, want done/failed/agent_lost", j.State, j.Result, j.Reason)
		}
	})
}
