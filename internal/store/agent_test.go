package store

import (
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testAgents(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a := &ci.Agent{
		ID:        "agent-a",
		Name:      "a",
		Type:      "e1-standard-2",
		Slots:     4,
		Version:   "1.2.3",
		Hostname:  "build-1.example.com",
		State:     ci.AgentDraining,
		Executors: []string{"shell", "docker"},
		Images:    []string{"debian:12"},
		LastSeen:  at(10, 0, 0),
		CreatedAt: at(9, 0, 0),
		Running:   []string{"ignored: derived from jobs"},
	}
	write(t, db, func(tx *Tx) error { return tx.UpsertAgent(a) })
	allSet(t, a)
	a.Running = nil
	got, err := db.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetAgent", got, a)

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
