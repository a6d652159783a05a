package store

import (
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testSchedules(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	sd := newSeed(t, db, "app")
	s := &ci.Schedule{
		ProjectID: sd.project.ID, Name: "nightly", Cron: "0 3 * * *", Timezone: "Europe/Berlin",
		Branch: "main", PipelineFile: ".semaphore/nightly.yml",
		Parameters: []ci.Parameter{
			{Name: "ENV", Description: "where", Required: true, Options: []string{"staging", "prod"}, DefaultValue: "staging"},
			{Name: "NOTE"},
		},
		Paused: true, NextRun: at(3, 0, 0), LastRun: at(2, 0, 0), LastWorkflow: sd.workflow.ID, LastError: "x",
		CreatedAt: at(1, 0, 0), CreatedBy: "ada", UpdatedAt: at(1, 30, 0), UpdatedBy: "bob",
	}
	write(t, db, func(tx *Tx) error { return tx.CreateSchedule(s) })
	allSet(t, s)
	got, err := db.GetSchedule(ctx, sd.project.ID, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetSchedule by name", got, s)
	if got, err := db.GetSchedule(ctx, sd.project.ID, s.ID); err != nil || got.Name != "nightly" {
		t.Errorf("GetSchedule by ID = %v, %v", got, err)
	}
	other := newSeed(t, db, "other")
	_, err = db.GetSchedule(ctx, other.project.ID, "nightly")
	wantErr(t, "GetSchedule of another project", err, ErrNotFound)
	wantErr(t, "CreateSchedule of a taken name", db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateSchedule(&ci.Schedule{ProjectID: sd.project.ID, Name: "nightly", Cron: "* * * * *", Timezone: "UTC", Branch: "main"})
	}), ErrConflict)
	wantErr(t, "CreateSchedule of no project", db.Tx(ctx, func(tx *Tx) error {
		return tx.CreateSchedule(&ci.Schedule{ProjectID: "nope", Name: "n", Cron: "* * * * *", Timezone: "UTC", Branch: "main"})
	}), ErrNotFound)
	// The same name in another project is another schedule.
	otherNightly := &ci.Schedule{ProjectID: other.project.ID, Name: "nightly", Cron: "* * * * *", Timezone: "UTC", Branch: "main"}
	write(t, db, func(tx *Tx) error { return tx.CreateSchedule(otherNightly) })

	// Update keeps the record of the last run.
	upd := *got
	upd.Cron, upd.Timezone, upd.Branch, upd.PipelineFile = "*/5 * * * *", "UTC", "dev", ""
	upd.Parameters, upd.Paused, upd.NextRun = nil, false, at(4, 0, 0)
	upd.UpdatedAt, upd.UpdatedBy = at(5, 0, 0), "cy"
	upd.LastError = "ignored"
	write(t, db, func(tx *Tx) error { return tx.UpdateSchedule(&upd) })
	upd.LastError = "x"
	got, _ = db.GetSchedule(ctx, sd.project.ID, "nightly")
	diff(t, "after UpdateSchedule", got, &upd)
	if err := db.RecordScheduleRun(ctx, s.ID, "wf-2", ""); err != nil {
		t.Fatal(err)
	}
	got, _ = db.GetSchedule(ctx, sd.project.ID, "nightly")
	if got.LastWorkflow != "wf-2" || got.LastError != "" {
		t.Errorf("after RecordScheduleRun: last workflow %q, error %q", got.LastWorkflow, got.LastError)
	}
	// Runs recorded together; one of a schedule deleted meanwhile is passed over.
	err = db.RecordScheduleRuns(ctx, []ScheduleRun{{ScheduleID: s.ID, Error: "boom"},
		{ScheduleID: "deleted"}, {ScheduleID: otherNightly.ID, WorkflowID: "wf-3"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = db.GetSchedule(ctx, sd.project.ID, "nightly")
	gotOther, _ := db.GetSchedule(ctx, other.project.ID, "nightly")
	if got.LastWorkflow != "" || got.LastError != "boom" || gotOther.LastWorkflow != "wf-3" || gotOther.LastError != "" {
		t.Errorf("after RecordScheduleRuns: last workflow %q, error %q; other's %q, %q", got.LastWorkflow, got.LastError, gotOther.LastWorkflow, gotOther.LastError)
	}
	list, err := db.ListSchedules(ctx, sd.project.ID)
	if err != nil || len(list) != 1 || list[0].ID != s.ID {
		t.Errorf("ListSchedules = %v, %v; want nightly only", list, err)
	}

	// Workflows a schedule started, newest first.
	write(t, db, func(tx *Tx) error {
		for i := range 3 {
			w := &ci.Workflow{ProjectID: sd.project.ID, Trigger: ci.TriggerSchedule, Schedule: "nightly",
				RefType: "branch", Branch: "main", SHA: "abc", CreatedAt: at(6, i, 0)}
			if err := tx.CreateWorkflow(w); err != nil {
				return err
			}
		}
		return nil
	})
	ws, err := db.ScheduleWorkflows(ctx, sd.project.ID, "nightly", 2)
	if err != nil || len(ws) != 2 || ws[0].Number != 4 || ws[1].Number != 3 || ws[0].Trigger != ci.TriggerSchedule {
		t.Errorf("ScheduleWorkflows = %v, %v; want workflows 4 and 3", ws, err)
	}

	write(t, db, func(tx *Tx) error { return tx.DeleteSchedule(s.ID) })
	_, err = db.GetSchedule(ctx, sd.project.ID, "nightly")
	wantErr(t, "GetSchedule after delete", err, ErrNotFound)
	wantErr(t, "DeleteSchedule twice", db.Tx(ctx, func(tx *Tx) error { return tx.DeleteSchedule(s.ID) }), ErrNotFound)
}

// testClaimDueSchedules checks that a due tick is claimed once, a paused
// or not yet due schedule not at all, and that a schedule that missed
// many ticks runs once.
func testClaimDueSchedules(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	sd := newSeed(t, db, "app")
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(name string, next time.Time, paused bool) *ci.Schedule {
		s := &ci.Schedule{ProjectID: sd.project.ID, Name: name, Cron: "* * * * *", Timezone: "UTC", Branch: "main", NextRun: next, Paused: paused}
		write(t, db, func(tx *Tx) error { return tx.CreateSchedule(s) })
		return s
	}
	mk("due", base, false)
	mk("late", base.Add(-72*time.Hour), false) // the servers were down for days
	mk("paused", base.Add(-time.Minute), true)
	mk("later", base.Add(time.Minute), false)
	mk("broken", base.Add(-time.Hour), false) // its cron no longer parses: it never runs again
	now := base.Add(time.Second)
	next := func(s *ci.Schedule) time.Time {
		if s.Name == "broken" {
			return time.Time{}
		}
		return now.Truncate(time.Minute).Add(time.Minute)
	}
	got, err := db.ClaimDueSchedules(ctx, now, now.Add(time.Minute), 0, next)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	diff(t, "claimed", names, []string{"late", "broken", "due"})
	if len(got) == 2 && !got[0].NextRun.Equal(base.Add(-72*time.Hour)) {
		t.Errorf("claimed schedule's NextRun = %v, want the tick claimed", got[0].NextRun)
	}
	again, err := db.ClaimDueSchedules(ctx, now, now.Add(time.Minute), 0, next)
	if err != nil || len(again) != 0 {
		t.Errorf("second claim at the same time = %v, %v; want none", again, err)
	}
	late, _ := db.GetSchedule(ctx, sd.project.ID, "late")
	if !late.NextRun.Equal(base.Add(time.Minute)) || !late.LastRun.Equal(base.Add(-72*time.Hour)) {
		t.Errorf("late schedule after its claim: next %v, last %v", late.NextRun, late.LastRun)
	}
	if broken, _ := db.GetSchedule(ctx, sd.project.ID, "broken"); !broken.NextRun.IsZero() || !broken.LastRun.Equal(base.Add(-time.Hour)) {
		t.Errorf("broken schedule after its claim: next %v (want none), last %v", broken.NextRun, broken.LastRun)
	}
	if n, err := db.NextScheduleRun(ctx); err != nil || !n.Equal(base.Add(time.Minute)) {
		t.Errorf("NextScheduleRun = %v, %v; want %v", n, err, base.Add(time.Minute))
	}
}

// testClaimDueSchedulesConcurrent has two servers (two DBs on one
// database) claim 200 due schedules at once: each is claimed once.
func testClaimDueSchedulesConcurrent(t *testing.T, e *testEnv) {
	dsn := e.newDSN(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	sd := newSeed(t, a, "app")
	tick := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	write(t, a, func(tx *Tx) error {
		for i := range 200 {
			s := &ci.Schedule{ProjectID: sd.project.ID, Name: "s" + string(rune('a'+i%26)) + time.Duration(i).String(),
				Cron: "* * * * *", Timezone: "UTC", Branch: "main", NextRun: tick}
			if err := tx.CreateSchedule(s); err != nil {
				return err
			}
		}
		return nil
	})
	next := func(*ci.Schedule) time.Time { return tick.Add(time.Minute) }
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b, a, b} {
		wg.Go(func() {
			for {
				got, err := db.ClaimDueSchedules(ctx, tick.Add(time.Second), tick.Add(time.Minute), 7, next)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, s := range got {
					count[s.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(count) != 200 {
		t.Errorf("%d schedules claimed, want 200", len(count))
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("schedule %s claimed %d times", id, n)
		}
	}
}

// testScheduleRunsPending: a claimed tick is pending until its workflow's
// creation takes it (once: a second take is ErrScheduleRunTaken); a tick
// still pending when its lease ends is taken over by one of two servers
// at once, as the schedule was when claimed; a failed run takes the
// tick, and one that fails after another server took its tick over is not
// recorded.
func testScheduleRunsPending(t *testing.T, e *testEnv) {
	dsn := e.newDSN(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	sd := newSeed(t, a, "app")
	tick := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	params := []ci.Parameter{{Name: "ENV", DefaultValue: "prod"}}
	for _, name := range []string{"created", "lost", "failed"} {
		write(t, a, func(tx *Tx) error {
			return tx.CreateSchedule(&ci.Schedule{ProjectID: sd.project.ID, Name: name, Cron: "* * * * *", Timezone: "UTC",
				Branch: "main", PipelineFile: ".semaphore/" + name + ".yml", NextRun: tick, Parameters: params})
		})
	}
	now, lease := tick.Add(time.Second), tick.Add(time.Minute)
	claimed, err := a.ClaimDueSchedules(ctx, now, lease, 0, func(*ci.Schedule) time.Time { return tick.Add(time.Hour) })
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim = %d, %v", len(claimed), err)
	}
	byName := map[string]*ci.Schedule{}
	for _, s := range claimed {
		byName[s.Name] = s
	}
	take := func(s *ci.Schedule) error {
		return a.Tx(ctx, func(tx *Tx) error { return tx.TakeScheduleRun(s.ID, s.NextRun) })
	}
	if err := take(byName["created"]); err != nil {
		t.Fatalf("take a claimed tick: %v", err)
	}
	wantErr(t, "take it again", take(byName["created"]), ErrScheduleRunTaken)
	if err := a.RecordScheduleRuns(ctx, []ScheduleRun{{ScheduleID: byName["failed"].ID, Tick: tick, Error: "no branch"}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "take a failed run", take(byName["failed"]), ErrScheduleRunTaken)

	if got, err := b.TakeOverScheduleRuns(ctx, lease.Add(-time.Second), lease.Add(time.Hour), 0); err != nil || len(got) != 0 {
		t.Errorf("take over before the lease ends = %v, %v; want none", got, err)
	}
	var mu sync.Mutex
	var taken []*ci.Schedule
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b, a, b} {
		wg.Go(func() {
			got, err := db.TakeOverScheduleRuns(ctx, lease.Add(time.Second), lease.Add(time.Hour), 0)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			taken = append(taken, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(taken) != 1 {
		t.Fatalf("%d runs taken over, want the lost one once", len(taken))
	}
	lost := byName["lost"]
	if got := taken[0]; got.ID != lost.ID || got.Name != "lost" || got.ProjectID != sd.project.ID || got.Branch != "main" ||
		got.PipelineFile != ".semaphore/lost.yml" || !got.NextRun.Equal(tick) || len(got.Parameters) != 1 || got.Parameters[0].DefaultValue != "prod" {
		t.Errorf("taken over: %+v, want the schedule as claimed", got)
	}
	// The first server comes back and fails: its failure is not recorded.
	if err := b.Tx(ctx, func(tx *Tx) error { return tx.TakeScheduleRun(lost.ID, tick) }); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordScheduleRuns(ctx, []ScheduleRun{{ScheduleID: lost.ID, Tick: tick, Error: "late"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetSchedule(ctx, sd.project.ID, "lost"); got.LastError != "" {
		t.Errorf("a late failure was recorded: %q", got.LastError)
	}
	if got, _ := a.GetSchedule(ctx, sd.project.ID, "failed"); got.LastError != "no branch" {
		t.Errorf("a failed run: last error %q", got.LastError)
	}
	if got, err := a.TakeOverScheduleRuns(ctx, tick.Add(24*time.Hour), tick.Add(25*time.Hour), 0); err != nil || len(got) != 0 {
		t.Errorf("runs left pending: %v, %v", got, err)
	}
}
