package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testBlocksAndJobs(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	b := &ci.Block{
		PipelineID:    s.pipeline.ID,
		Index:         3,
		Name:          "Deploy",
		Dependencies:  []string{"Build", "Test"},
		State:         ci.StateDone,
		Result:        ci.ResultCanceled,
		Reason:        ci.ReasonDependency,
		Skipped:       true,
		TimeLimit:     15*time.Minute + 1,
		FailFast:      "stop",
		StartedAt:     at(10, 0, 0),
		DoneAt:        at(10, 1, 0),
		AfterPipeline: true,
	}
	j := &ci.Job{
		PipelineID:    s.pipeline.ID,
		ProjectID:     s.project.ID,
		Index:         2,
		Name:          "Deploy 3/4",
		State:         ci.StateDone,
		Result:        ci.ResultStopped,
		Reason:        ci.ReasonUser,
		MachineType:   "e1-standard-2",
		Priority:      75,
		Spec:          json.RawMessage(`{"commands": ["make deploy"], "env": {"A": "1"}}`),
		AgentID:       "agent-1",
		WaitReason:    "no agent of type e1-standard-2",
		StopRequested: true,
		StopReason:    ci.ReasonTimeout,
		TimeLimit:     time.Hour,
		CreatedAt:     at(9, 0, 0),
		QueuedAt:      at(9, 0, 1),
		StartedAt:     at(9, 0, 2),
		DoneAt:        at(9, 5, 0),
		NeedsDocker:   true,
	}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateBlock(b); err != nil {
			return err
		}
		j.BlockID = b.ID
		return tx.CreateJob(j)
	})
	allSet(t, b, "Jobs")
	allSet(t, j)

	blocks, err := db.ListBlocks(ctx, s.pipeline.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListBlocks", blocks, []*ci.Block{s.block, b}) // index 0, then 3
	got, err := db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetJob", got, j)

	b.Index, b.Name, b.Dependencies, b.State, b.Result, b.Reason = 4, "Ship", nil, ci.StateRunning, "", ""
	b.Skipped, b.TimeLimit, b.FailFast, b.StartedAt, b.DoneAt, b.AfterPipeline = false, 0, "", at(11, 0, 0), time.Time{}, false
	j.Index, j.Name, j.State, j.Result, j.Reason = 5, "x", ci.StateRunning, "", ""
	j.MachineType, j.Priority, j.Spec, j.AgentID, j.WaitReason = "m", -1, json.RawMessage(`[]`), "", ""
	j.StopRequested, j.StopReason, j.TimeLimit = false, "", 0
	j.QueuedAt, j.StartedAt, j.DoneAt = at(12, 0, 0), time.Time{}, time.Time{}
	write(t, db, func(tx *Tx) error {
		if err := tx.UpdateBlock(b); err != nil {
			return err
		}
		return tx.UpdateJob(j)
	})
	blocks, err = db.ListBlocks(ctx, s.pipeline.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListBlocks after UpdateBlock", blocks, []*ci.Block{s.block, b})
	got, err = db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "job after UpdateJob", got, j)

	// Jobs of a pipeline come by block index, then job index.
	j0 := &ci.Job{PipelineID: s.pipeline.ID, BlockID: s.block.ID, ProjectID: s.project.ID, Index: 1}
	j1 := &ci.Job{PipelineID: s.pipeline.ID, BlockID: s.block.ID, ProjectID: s.project.ID, Index: 0}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateJob(j0); err != nil {
			return err
		}
		return tx.CreateJob(j1)
	})
	jobs, err := db.ListJobs(ctx, s.pipeline.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListJobs", jobs, []*ci.Job{j1, j0, j})
	jobs, err = db.ListBlockJobs(ctx, s.block.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListBlockJobs", jobs, []*ci.Job{j1, j0})

	_, err = db.GetJob(ctx, "nope")
	wantErr(t, "GetJob of no job", err, ErrNotFound)
	for what, fn := range map[string]func(tx *Tx) error{
		"UpdateBlock of no block": func(tx *Tx) error { return tx.UpdateBlock(&ci.Block{ID: "nope"}) },
		"UpdateJob of no job":     func(tx *Tx) error { return tx.UpdateJob(&ci.Job{ID: "nope"}) },
		"CreateBlock of no pipeline": func(tx *Tx) error {
			return tx.CreateBlock(&ci.Block{PipelineID: "nope"})
		},
		"CreateJob of no block": func(tx *Tx) error {
			return tx.CreateJob(&ci.Job{PipelineID: s.pipeline.ID, BlockID: "nope", ProjectID: s.project.ID})
		},
	} {
		wantErr(t, what, db.Tx(ctx, fn), ErrNotFound)
	}
	err = db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateJob(&ci.Job{ID: j.ID, PipelineID: s.pipeline.ID, BlockID: s.block.ID, ProjectID: s.project.ID})
	})
	wantErr(t, "CreateJob with an ID taken", err, ErrConflict)
}

func testClaimJob(t *testing.T, e *testEnv) {
	db := e.open(t)
	s := newSeed(t, db, "p")
	// Priority first, then the oldest QueuedAt; only queued jobs of the
	// machine type asked for.
	old := s.job("old", "linux", 0, at(9, 0, 0))
	young := s.job("young", "linux", 0, at(10, 0, 0))
	urgent := s.job("urgent", "linux", 10, at(11, 0, 0))
	mac := s.job("mac", "mac", 50, at(8, 0, 0))
	pending := s.job("pending", "linux", 99, at(7, 0, 0))
	pending.State = ci.StatePending
	write(t, db, func(tx *Tx) error {
		for _, j := range []*ci.Job{young, urgent, old, mac, pending} {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	now := at(12, 0, 0)
	for _, want := range []*ci.Job{urgent, old, young} {
		var got *ci.Job
		write(t, db, func(tx *Tx) (err error) {
			got, err = tx.ClaimJob("agent-1", "linux", now)
			return err
		})
		claimed := *want
		claimed.State, claimed.AgentID, claimed.StartedAt, claimed.WaitReason = ci.StateRunning, "agent-1", now, ""
		normTime(&claimed.StartedAt)
		diff(t, "ClaimJob", got, &claimed)
		stored, err := db.GetJob(t.Context(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "claimed job as stored", stored, &claimed)
	}
	err := db.Tx(t.Context(), func(tx *Tx) error { _, err := tx.ClaimJob("agent-1", "linux", now); return err })
	wantErr(t, "ClaimJob with no queued job", err, ErrNotFound)
	err = db.Tx(t.Context(), func(tx *Tx) error { _, err := tx.ClaimJob("agent-1", "windows", now); return err })
	wantErr(t, "ClaimJob of a machine type with no job", err, ErrNotFound)
	var got *ci.Job
	write(t, db, func(tx *Tx) (err error) { got, err = tx.ClaimJob("agent-2", "mac", now); return err })
	if got.ID != mac.ID {
		t.Errorf("ClaimJob(mac) = %s, want %s", got.Name, mac.Name)
	}
}

// testClaimJobDocker checks that an agent without Docker never claims a
// job that needs it, and that skipped jobs are left for others.
func testClaimJobDocker(t *testing.T, e *testEnv) {
	db := e.open(t)
	s := newSeed(t, db, "p")
	box := s.job("box", "linux", 10, at(9, 0, 0))
	box.NeedsDocker = true
	host := s.job("host", "linux", 0, at(10, 0, 0))
	other := s.job("other", "linux", 0, at(11, 0, 0))
	write(t, db, func(tx *Tx) error {
		for _, j := range []*ci.Job{box, host, other} {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	now := at(12, 0, 0)
	claim := func(agent string, c Claim) *ci.Job {
		t.Helper()
		var got *ci.Job
		err := db.Tx(t.Context(), func(tx *Tx) (err error) { got, err = tx.ClaimJobFor(agent, c, now); return err })
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	name := func(j *ci.Job) string {
		if j == nil {
			return "none"
		}
		return j.Name
	}
	if got := claim("shell-1", Claim{MachineType: "linux", Skip: []string{host.ID}}); name(got) != "other" {
		t.Errorf("shell agent skipping host claimed %s, want other", name(got))
	}
	if got := claim("shell-1", Claim{MachineType: "linux"}); name(got) != "host" {
		t.Errorf("shell agent claimed %s, want host", name(got))
	}
	if got := claim("shell-1", Claim{MachineType: "linux"}); got != nil {
		t.Errorf("shell agent claimed %s, want none (box needs Docker)", name(got))
	}
	if got := claim("docker-1", Claim{MachineType: "linux", Docker: true}); name(got) != "box" || !got.NeedsDocker {
		t.Errorf("docker agent claimed %s, want box (needs Docker)", name(got))
	}
}

// testClaimJobConcurrent claims 500 jobs from 8 goroutines on two servers
// (two DBs on one database): each job must be claimed exactly once.
func testClaimJobConcurrent(t *testing.T, e *testEnv) {
	const jobs, goroutines = 500, 8
	dsn := e.newDSN(t)
	servers := []*DB{openDSN(t, dsn), openDSN(t, dsn)}
	s := newSeed(t, servers[0], "p")
	write(t, servers[0], func(tx *Tx) error {
		for i := range jobs {
			j := s.job(fmt.Sprint(i), "linux", i%3, at(10, 0, 0).Add(time.Duration(i)*time.Millisecond))
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})

	claims := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		db := servers[g%len(servers)]
		agent := fmt.Sprintf("agent-%d", g)
		wg.Go(func() {
			for {
				var j *ci.Job
				err := db.Tx(t.Context(), func(tx *Tx) (err error) {
					j, err = tx.ClaimJob(agent, "linux", time.Now())
					return err
				})
				if errors.Is(err, ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("%s: ClaimJob: %v", agent, err)
					return
				}
				if j.AgentID != agent || j.State != ci.StateRunning {
					t.Errorf("%s claimed %+v", agent, j)
				}
				claims[g] = append(claims[g], j.ID)
			}
		})
	}
	wg.Wait()

	seen := map[string]int{}
	for g, ids := range claims {
		for _, id := range ids {
			if other, dup := seen[id]; dup {
				t.Errorf("job %s claimed by goroutines %d and %d", id, other, g)
			}
			seen[id] = g
		}
	}
	if len(seen) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(seen), jobs)
	}
	n, err := servers[1].CountJobs(t.Context(), ci.StateQueued)
	if err != nil || n != 0 {
		t.Errorf("CountJobs(queued) = %d, %v; want 0", n, err)
	}
}

func testJobQueries(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	q1 := s.job("q1", "linux", 0, at(10, 0, 0))
	q2 := s.job("q2", "mac", 5, at(11, 0, 0))
	r1 := s.job("r1", "linux", 0, at(9, 0, 0))
	r1.State, r1.AgentID, r1.StartedAt = ci.StateRunning, "a1", at(9, 30, 0)
	r2 := s.job("r2", "linux", 0, at(9, 0, 0))
	r2.State, r2.AgentID, r2.StartedAt = ci.StateStopping, "a1", at(9, 10, 0)
	r3 := s.job("r3", "linux", 0, at(9, 0, 0))
	r3.State, r3.AgentID, r3.StartedAt = ci.StateRunning, "a2", at(9, 20, 0)
	d := s.job("d", "linux", 0, at(8, 0, 0))
	d.State, d.AgentID, d.Result = ci.StateDone, "a1", ci.ResultPassed
	write(t, db, func(tx *Tx) error {
		for _, j := range []*ci.Job{q1, q2, r1, r2, r3, d} {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	queued, err := db.QueuedJobs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "QueuedJobs", queued, []*ci.Job{q2, q1})
	queued, err = db.QueuedJobs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "QueuedJobs(1)", queued, []*ci.Job{q2})
	for state, want := range map[ci.State]int{ci.StateQueued: 2, ci.StateRunning: 2, ci.StateStopping: 1, ci.StateDone: 1, ci.StatePending: 0} {
		if n, err := db.CountJobs(ctx, state); err != nil || n != want {
			t.Errorf("CountJobs(%s) = %d, %v; want %d", state, n, err, want)
		}
	}
	running, err := db.AgentJobs(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "AgentJobs(a1)", running, []*ci.Job{r2, r1})
	running, err = db.RunningJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "RunningJobs", running, []*ci.Job{r2, r3, r1})
	if js, err := db.AgentJobs(ctx, "nobody"); err != nil || js != nil {
		t.Errorf("AgentJobs(nobody) = %v, %v; want none", js, err)
	}
}

// testJobReads: the narrow reads of the claim and finish paths return
// what the full reads do, but the bulk they leave out (a job's spec);
// GetJobStart says whether the job's block and
// pipeline run.
func testJobReads(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	j := s.job("j", "linux", 0, at(9, 0, 0))
	j.Spec = []byte(`{"name":"j","commands":["echo"]}`)
	write(t, db, func(tx *Tx) error {
		s.pipeline.Graph = []byte(`{"blocks":[]}`)
		if err := tx.UpdatePipeline(s.pipeline); err != nil {
			return err
		}
		return tx.CreateJob(j)
	})
	full, err := db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := db.GetJobLite(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if lite.Spec != nil {
		t.Errorf("GetJobLite read the spec: %s", lite.Spec)
	}
	full.Spec = nil
	diff(t, "GetJobLite", lite, full)
	_, err = db.GetJobLite(ctx, "nope")
	wantErr(t, "GetJobLite of no job", err, ErrNotFound)

	start := func() *JobStart {
		t.Helper()
		js, err := db.GetJobStart(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	if js := start(); js.Running || js.PipelineID != s.pipeline.ID || js.State != ci.StateQueued || js.StopRequested {
		t.Errorf("before any start: %+v", js)
	}
	write(t, db, func(tx *Tx) error {
		s.pipeline.StartedAt = at(9, 1, 0)
		if err := tx.UpdatePipeline(s.pipeline); err != nil {
			return err
		}
		s.block.StartedAt = at(9, 1, 0)
		if err := tx.UpdateBlock(s.block); err != nil {
			return err
		}
		j.State, j.StopRequested = ci.StateRunning, true
		return tx.UpdateJobIf(j, ci.StateQueued)
	})
	if js := start(); !js.Running || js.State != ci.StateRunning || !js.StopRequested {
		t.Errorf("block and pipeline started: %+v", js)
	}
	write(t, db, func(tx *Tx) error {
		s.pipeline.State = ci.StateStopping
		return tx.UpdatePipeline(s.pipeline)
	})
	if js := start(); js.Running {
		t.Errorf("pipeline stopping: %+v", js)
	}
	_, err = db.GetJobStart(ctx, "nope")
	wantErr(t, "GetJobStart of no job", err, ErrNotFound)
}

// testCreateManyJobs stores more jobs at once than one statement takes,
// and blocks at once: every row reads back as written; a job of a block
// that does not exist is ErrNotFound.
func testCreateManyJobs(t *testing.T, e *testEnv) {
	db := e.open(t)
	sd := newSeed(t, db, "app")
	blocks := []*ci.Block{
		{PipelineID: sd.pipeline.ID, Index: 1, Name: "two", Dependencies: []string{"b"}, State: ci.StatePending, TimeLimit: time.Minute},
		{PipelineID: sd.pipeline.ID, Index: 2, Name: "after", State: ci.StatePending, AfterPipeline: true},
	}
	n := 2*(maxParams/22) + 7 // three statements
	var jobs []*ci.Job
	for i := range n {
		j := sd.job(fmt.Sprintf("j%04d", i), "e1-standard-2", i%3, at(9, 0, i%60))
		j.Index = i
		j.Spec = json.RawMessage(fmt.Sprintf(`{"name": "j%04d"}`, i))
		j.TimeLimit = time.Duration(i) * time.Second
		j.CreatedAt = at(8, 0, 0)
		jobs = append(jobs, j)
	}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateBlocks(blocks); err != nil {
			return err
		}
		return tx.CreateJobs(jobs)
	})
	gotBlocks, err := db.ListBlocks(t.Context(), sd.pipeline.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "blocks", gotBlocks[1:], blocks)
	got, err := db.ListJobs(t.Context(), sd.pipeline.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "jobs", got, jobs)

	err = db.Tx(t.Context(), func(tx *Tx) error {
		return tx.CreateJobs([]*ci.Job{sd.job("x", "m", 0, time.Time{}), {PipelineID: sd.pipeline.ID, BlockID: "nope", ProjectID: sd.project.ID, Name: "y"}})
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateJobs with a job of no block: %v, want ErrNotFound", err)
	}
}
