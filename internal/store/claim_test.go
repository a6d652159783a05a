package store

import (
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// testClaimJobs claims for a batch of polls: in ClaimJobFor's order, one
// job per entry (an agent listed twice gets two), fewer when fewer wait,
// the filter applied; a job released goes back to the queue, once.
func testClaimJobs(t *testing.T, e *testEnv) {
	db := e.open(t)
	s := newSeed(t, db, "p")
	old := s.job("old", "linux", 0, at(9, 0, 0))
	young := s.job("young", "linux", 0, at(10, 0, 0))
	urgent := s.job("urgent", "linux", 10, at(11, 0, 0))
	box := s.job("box", "linux", 20, at(8, 0, 0))
	box.NeedsDocker = true
	mac := s.job("mac", "mac", 50, at(8, 0, 0))
	write(t, db, func(tx *Tx) error {
		for _, j := range []*ci.Job{young, urgent, old, box, mac} {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	now := at(12, 0, 0)
	stamp := now
	normTime(&stamp)
	var got []*ci.Job
	write(t, db, func(tx *Tx) (err error) {
		got, err = tx.ClaimJobs([]string{"a", "b", "b", "c"}, Claim{MachineType: "linux"}, now)
		return err
	})
	wantAgents := map[string]string{urgent.ID: "a", old.ID: "b", young.ID: "b"}
	if len(got) != len(wantAgents) {
		t.Fatalf("ClaimJobs claimed %d jobs, want %d", len(got), len(wantAgents))
	}
	for _, j := range got {
		stored, err := db.GetJob(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.AgentID != wantAgents[j.ID] || j.AgentID != stored.AgentID || stored.State != ci.StateRunning || !stored.StartedAt.Equal(stamp) {
			t.Errorf("job %s: %s on %q at %v (returned %q), want running on %q at %v", stored.Name, stored.State, stored.AgentID, stored.StartedAt, j.AgentID, wantAgents[j.ID], stamp)
		}
	}
	write(t, db, func(tx *Tx) (err error) {
		got, err = tx.ClaimJobs([]string{"c"}, Claim{MachineType: "linux"}, now)
		return err
	})
	if len(got) != 0 {
		t.Errorf("ClaimJobs with no job left but one that needs Docker = %v", got)
	}
	var released, again bool
	write(t, db, func(tx *Tx) (err error) {
		if _, err := tx.ReleaseJob(old.ID, "a"); err != nil { // not a's
			return err
		}
		released, err = tx.ReleaseJob(old.ID, "b")
		if err != nil {
			return err
		}
		again, err = tx.ReleaseJob(old.ID, "b")
		return err
	})
	if !released || again {
		t.Errorf("ReleaseJob = %v, then %v; want true, then false", released, again)
	}
	write(t, db, func(tx *Tx) (err error) {
		got, err = tx.ClaimJobs([]string{"d", "d"}, Claim{MachineType: "linux", Docker: true}, now)
		return err
	})
	if len(got) != 2 || got[0].AgentID != "d" || got[1].AgentID != "d" {
		t.Fatalf("ClaimJobs with Docker after the release = %v, want box and old", got)
	}
	names := map[string]bool{got[0].Name: true, got[1].Name: true}
	if !names["box"] || !names["old"] {
		t.Errorf("ClaimJobs with Docker after the release claimed %v, want box and old", names)
	}
}

// testUrgentTx: on PostgreSQL, UrgentTx runs while every connection of
// the pool is taken (elsewhere it is Tx).
func testUrgentTx(t *testing.T, e *testEnv) {
	if e.dialect != Postgres {
		t.Skip("on SQLite UrgentTx is Tx")
	}
	db, err := OpenWith(t.Context(), e.newDSN(t), Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held, release := make(chan struct{}), make(chan struct{})
	busy := make(chan error, 1)
	go func() {
		busy <- db.Tx(t.Context(), func(tx *Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	done := make(chan error, 1)
	go func() {
		done <- db.UrgentTx(t.Context(), func(tx *Tx) error {
			_, err := tx.exec("SELECT 1")
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Error("UrgentTx waited for the pool's one connection")
	}
	close(release)
	if err := <-busy; err != nil {
		t.Error(err)
	}
}
