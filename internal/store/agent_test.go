package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testAgents(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a := &ci.Agent{
		ID:           "agent-a",
		Name:         "a",
		Type:         "e1-standard-2",
		Slots:        4,
		Version:      "1.2.3",
		Hostname:     "build-1.example.com",
		State:        ci.AgentDraining,
		Executors:    []string{"shell", "docker"},
		Images:       []string{"debian:12"},
		ImagePruning: &ci.ImagePruning{Removed: 2, Bytes: 300 << 20, LastAt: at(9, 30, 0), Last: []string{"node:20"}},
		LastSeen:     at(10, 0, 0),
		CreatedAt:    at(9, 0, 0),
		Running:      []string{"ignored: derived from jobs"},
	}
	write(t, db, func(tx *Tx) error { return tx.UpsertAgent(a) })
	allSet(t, a)
	a.Running = nil
	got, err := db.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetAgent", got, a)

	// The agent's report of what it pruned.
	a.ImagePruning = &ci.ImagePruning{Removed: 3, Bytes: 400 << 20, LastAt: at(10, 30, 0), Last: []string{"go:1"}}
	write(t, db, func(tx *Tx) error { return tx.SetAgentImagePruning(a.ID, a.ImagePruning) })
	if got, err = db.GetAgent(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	diff(t, "GetAgent after SetAgentImagePruning", got, a)

	// Upserting again overwrites all but CreatedAt.
	again := &ci.Agent{ID: a.ID, Name: "a2", Type: "t2", Slots: 1, State: ci.AgentConnected, LastSeen: at(11, 0, 0)}
	write(t, db, func(tx *Tx) error { return tx.UpsertAgent(again) })
	if !again.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("UpsertAgent of a known agent set CreatedAt %v, want the stored %v", again.CreatedAt, a.CreatedAt)
	}
	got, err = db.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "agent after a second UpsertAgent", got, again)

	// Defaults: ID, CreatedAt, State.
	b := &ci.Agent{Name: "b", LastSeen: at(8, 0, 0)}
	c := &ci.Agent{ID: "agent-c", Name: "c", State: ci.AgentLost}
	write(t, db, func(tx *Tx) error {
		if err := tx.UpsertAgent(b); err != nil {
			return err
		}
		return tx.UpsertAgent(c)
	})
	if b.ID == "" || b.CreatedAt.IsZero() || b.State != ci.AgentConnected {
		t.Errorf("UpsertAgent defaults: %+v", b)
	}

	// Running lists the agent's running and stopping jobs.
	s := newSeed(t, db, "p")
	r1 := s.job("r1", "t", 0, at(9, 0, 0))
	r1.State, r1.AgentID, r1.StartedAt = ci.StateRunning, a.ID, at(9, 30, 0)
	r2 := s.job("r2", "t", 0, at(9, 0, 0))
	r2.State, r2.AgentID, r2.StartedAt = ci.StateStopping, a.ID, at(9, 10, 0)
	r2.StopRequested, r2.StopReason = true, ci.ReasonUser
	done := s.job("d", "t", 0, at(9, 0, 0))
	done.State, done.AgentID = ci.StateDone, a.ID
	rb := s.job("rb", "t", 0, at(9, 0, 0))
	rb.State, rb.AgentID = ci.StateRunning, b.ID
	write(t, db, func(tx *Tx) error {
		for _, j := range []*ci.Job{r1, r2, done, rb} {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	again.Running = []string{r2.ID, r1.ID}
	b.Running = []string{rb.ID}
	agents, err := db.ListAgents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListAgents", agents, []*ci.Agent{again, b, c}) // by name: a2, b, c
	got, err = db.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetAgent with jobs", got, again)

	// AgentPoll: the agent without Running, and what a poll needs of its
	// running and stopping jobs, oldest start first.
	pollJob := func(j *ci.Job) *ci.Job {
		return &ci.Job{ID: j.ID, AgentID: j.AgentID, State: j.State, StartedAt: j.StartedAt,
			StopRequested: j.StopRequested, StopReason: j.StopReason}
	}
	for _, tc := range []struct {
		name  string
		agent *ci.Agent
		jobs  []*ci.Job
	}{
		{"two jobs", again, []*ci.Job{pollJob(r2), pollJob(r1)}},
		{"one job", b, []*ci.Job{pollJob(rb)}},
		{"no job", c, nil},
	} {
		gotAgent, gotJobs, err := db.AgentPoll(ctx, tc.agent.ID)
		if err != nil {
			t.Fatalf("AgentPoll (%s): %v", tc.name, err)
		}
		wantAgent := *tc.agent
		wantAgent.Running = nil
		diff(t, "AgentPoll agent ("+tc.name+")", gotAgent, &wantAgent)
		diff(t, "AgentPoll jobs ("+tc.name+")", gotJobs, tc.jobs)
	}
	_, _, err = db.AgentPoll(ctx, "nope")
	wantErr(t, "AgentPoll of no agent", err, ErrNotFound)

	// StaleAgents: connected or draining, last seen before the cut-off.
	write(t, db, func(tx *Tx) error { return tx.SetAgentState(again.ID, ci.AgentDraining) })
	again.State = ci.AgentDraining
	stale, err := db.StaleAgents(ctx, at(10, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "StaleAgents(10:00)", stale, []*ci.Agent{b}) // a2 was seen at 11:00; c is lost
	stale, err = db.StaleAgents(ctx, at(12, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "StaleAgents(12:00)", stale, []*ci.Agent{again, b})
	write(t, db, func(tx *Tx) error {
		stale, err := tx.StaleAgents(at(12, 0, 0))
		if err != nil {
			return err
		}
		diff(t, "Tx.StaleAgents(12:00)", stale, []*ci.Agent{again, b})
		return nil
	})

	// TouchAgent: LastSeen, and connected unless draining.
	now := at(13, 0, 0)
	write(t, db, func(tx *Tx) error {
		for _, id := range []string{again.ID, b.ID, c.ID} {
			if err := tx.TouchAgent(id, now); err != nil {
				return err
			}
		}
		return nil
	})
	wantState := map[string]ci.AgentState{again.ID: ci.AgentDraining, b.ID: ci.AgentConnected, c.ID: ci.AgentConnected}
	for id, state := range wantState {
		got, err := db.GetAgent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != state || !got.LastSeen.Equal(now.Truncate(time.Microsecond)) {
			t.Errorf("agent %s after TouchAgent: state %s, last seen %v; want %s, %v", id, got.State, got.LastSeen, state, now)
		}
	}
	if stale, err := db.StaleAgents(ctx, at(12, 0, 0)); err != nil || len(stale) != 0 {
		t.Errorf("StaleAgents after TouchAgent = %v, %v; want none", stale, err)
	}

	_, err = db.GetAgent(ctx, "nope")
	wantErr(t, "GetAgent of no agent", err, ErrNotFound)
	wantErr(t, "TouchAgent of no agent", db.Tx(ctx, func(tx *Tx) error { return tx.TouchAgent("nope", now) }), ErrNotFound)
	wantErr(t, "SetAgentState of no agent", db.Tx(ctx, func(tx *Tx) error { return tx.SetAgentState("nope", ci.AgentLost) }), ErrNotFound)
}

func testAgentCredentials(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	tok := &Token{Name: "pool", Hash: "token-hash", Kind: TokenAgent, AgentType: "e1-standard-2"}
	api := &Token{Name: "mine", Hash: "api-hash", Kind: TokenAPI}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateToken(tok); err != nil {
			return err
		}
		if err := tx.CreateToken(api); err != nil {
			return err
		}
		for _, id := range []string{"a1", "a2", "other"} {
			if err := tx.UpsertAgent(&ci.Agent{ID: id, Name: id, Type: "e1-standard-2", Slots: 1}); err != nil {
				return err
			}
		}
		if err := tx.SetAgentCredential("a1", "cred-1", tok.ID); err != nil {
			return err
		}
		return tx.SetAgentCredential("a2", "cred-2", tok.ID)
	})
	got, err := db.AgentByCredential(ctx, "cred-2")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "AgentByCredential", got, &AgentCredential{AgentID: "a2", TokenID: tok.ID})
	for _, hash := range []string{"", "nope"} {
		if _, err := db.AgentByCredential(ctx, hash); !errors.Is(err, ErrNotFound) {
			t.Errorf("AgentByCredential(%q) = %v, want ErrNotFound", hash, err)
		}
	}
	// An agent without a credential (registered before credentials) has
	// none to match.
	if ok, err := db.AgentCredentialMatches(ctx, "other", ""); ok || err != nil {
		t.Errorf("AgentCredentialMatches of an agent without a credential = %v, %v", ok, err)
	}
	if ok, err := db.AgentCredentialMatches(ctx, "a1", "cred-1"); !ok || err != nil {
		t.Errorf("AgentCredentialMatches(a1, cred-1) = %v, %v", ok, err)
	}
	if ok, _ := db.AgentCredentialMatches(ctx, "a1", "cred-2"); ok {
		t.Error("a1 matches a2's credential")
	}
	ts, err := db.AgentTokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != tok.ID {
		t.Errorf("AgentTokens = %v, %v; want the agent token only", ts, err)
	}

	// Revoking the token voids the credentials of its agents.
	var agents []string
	write(t, db, func(tx *Tx) error {
		var err error
		if agents, err = tx.TokenAgents(tok.ID); err != nil {
			return err
		}
		return tx.RevokeToken(tok.ID)
	})
	diff(t, "TokenAgents", agents, []string{"a1", "a2"})
	got, err = db.AgentByCredential(ctx, "cred-1")
	if err != nil || !got.TokenRevoked {
		t.Errorf("after the revocation: %+v, %v; want TokenRevoked", got, err)
	}
	// Clearing a credential.
	write(t, db, func(tx *Tx) error { return tx.SetAgentCredential("a1", "", "") })
	if _, err := db.AgentByCredential(ctx, "cred-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a cleared credential still matches: %v", err)
	}
}

// testHeldPolls: the batched heartbeat of held polls touches many agents
// at once (a draining one stays draining, more than one IN batch), records
// agents whose polls ended as seen (a lost or disconnected one stays so)
// and reads their credentials (a revoked token, an agent without a
// credential, an unknown ID).
func testHeldPolls(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	tok := &Token{Name: "pool", Hash: "token-hash", Kind: TokenAgent}
	gone := &Token{Name: "gone", Hash: "gone-hash", Kind: TokenAgent}
	var ids []string
	old := at(10, 0, 0)
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateToken(tok); err != nil {
			return err
		}
		if err := tx.CreateToken(gone); err != nil {
			return err
		}
		for i := 0; i < inBatch+20; i++ {
			id := fmt.Sprintf("a%04d", i)
			ids = append(ids, id)
			if err := tx.UpsertAgent(&ci.Agent{ID: id, Name: id, Type: "t", Slots: 1, State: ci.AgentLost, LastSeen: old}); err != nil {
				return err
			}
			if err := tx.SetAgentCredential(id, "cred-"+id, tok.ID); err != nil {
				return err
			}
		}
		if err := tx.SetAgentState("a0001", ci.AgentDraining); err != nil {
			return err
		}
		if err := tx.SetAgentCredential("a0002", "cred-a0002", gone.ID); err != nil {
			return err
		}
		if err := tx.SetAgentCredential("a0003", "", ""); err != nil {
			return err
		}
		return tx.RevokeToken(gone.ID)
	})
	now := at(11, 0, 0)
	write(t, db, func(tx *Tx) error { return tx.TouchAgents(ids[1:], now) })
	agents, err := db.ListAgents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		want, wantState := now, ci.AgentConnected
		switch a.ID {
		case "a0000":
			want, wantState = old, ci.AgentLost
		case "a0001":
			wantState = ci.AgentDraining
		}
		if a.LastSeen.Sub(want).Abs() > time.Millisecond || a.State != wantState {
			t.Errorf("agent %s: seen %v, %s; want %v, %s", a.ID, a.LastSeen, a.State, want, wantState)
		}
	}

	// SeenAgents: the same, for connected and draining agents only.
	later := at(12, 0, 0)
	write(t, db, func(tx *Tx) error { return tx.SetAgentState("a0004", ci.AgentGone) })
	write(t, db, func(tx *Tx) error { return tx.SeenAgents([]string{"a0000", "a0001", "a0004", "a0005"}, later) })
	for id, want := range map[string]struct {
		seen  time.Time
		state ci.AgentState
	}{
		"a0000": {old, ci.AgentLost},
		"a0001": {later, ci.AgentDraining},
		"a0004": {now, ci.AgentGone},
		"a0005": {later, ci.AgentConnected},
	} {
		a, err := db.GetAgent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.LastSeen.Sub(want.seen).Abs() > time.Millisecond || a.State != want.state {
			t.Errorf("agent %s after SeenAgents: seen %v, %s; want %v, %s", id, a.LastSeen, a.State, want.seen, want.state)
		}
	}

	creds, err := db.AgentCredentials(ctx, append(slices.Clone(ids), "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != len(ids) {
		t.Fatalf("%d credentials, want %d", len(creds), len(ids))
	}
	diff(t, "a0000", creds["a0000"], CredentialState{Hash: "cred-a0000"})
	diff(t, "a0002 (revoked token)", creds["a0002"], CredentialState{Hash: "cred-a0002", TokenRevoked: true})
	diff(t, "a0003 (no credential)", creds["a0003"], CredentialState{Hash: "", TokenRevoked: true})
	diff(t, "last", creds[ids[len(ids)-1]], CredentialState{Hash: "cred-" + ids[len(ids)-1]})
}
