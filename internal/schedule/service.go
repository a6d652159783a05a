package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/memo"
	"github.com/batonci/baton/internal/store"
)

// Trigger starts a workflow (engine.Engine.Trigger).
type Trigger func(ctx context.Context, req engine.TriggerRequest) (*ci.Workflow, error)

// Service claims the schedules that are due and starts their workflows.
// Every server runs one; the store's claim (store.DB.ClaimDueSchedules)
// makes each tick run on exactly one of them.
type Service struct {
	Store   *store.DB
	Trigger Trigger
	// Head resolves a branch's head commit (engine.Engine.BranchHead);
	// a tick resolves each project's branch once for all its due
	// schedules. Nil leaves it to Trigger, once per schedule.
	Head func(ctx context.Context, proj *ci.Project, branch string) (string, error)
	// Now is the clock (time.Now when nil); Sleep waits for d or until
	// ctx is done (a timer when nil). Tests inject both, or call Tick.
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration)
	Logger *slog.Logger
	// Workers bounds how many due schedules start their workflow at once
	// (default 16); Batch is how many a claim takes (default 50).
	Workers, Batch int
	// Poll is the longest wait between two looks at the schedules
	// (default 1 s): a schedule created or changed by another server is
	// seen within it.
	Poll time.Duration
	// Lease is how long a claimed tick is this server's to run (default
	// 2 min): a tick whose workflow is not created by then (the server
	// died after its claim) is run by the next tick of any server.
	Lease time.Duration
}

// DefaultLease is Service.Lease when unset.
const DefaultLease = 2 * time.Minute

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run looks for due schedules every Poll, and at the next due time when it
// is sooner, until ctx is done.
func (s *Service) Run(ctx context.Context) {
	poll := s.Poll
	if poll <= 0 {
		poll = time.Second
	}
	sleep := s.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	for ctx.Err() == nil {
		if _, err := s.Tick(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log().Error("schedules", "err", err)
		}
		wait := poll
		if next, err := s.Store.NextScheduleRun(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(next.Sub(s.now()), 0))
		}
		if wait > 0 {
			sleep(ctx, wait)
		}
	}
}

// Tick takes over the claimed ticks whose lease ended before now (their
// server died before it created their workflows), then claims the
// schedules due at now, and starts a workflow for each, up to Workers at
// once, then records each run on its schedule: the runs ended are
// recorded together before each claim, and the others once all ended. It
// returns how many it started.
func (s *Service) Tick(ctx context.Context, now time.Time) (int, error) {
	workers, batch, lease := s.Workers, s.Batch, s.Lease
	if workers <= 0 {
		workers = 16
	}
	if batch <= 0 {
		batch = 50
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	next := func(sc *ci.Schedule) time.Time {
		spec, err := Parse(sc.Cron, sc.Timezone)
		if err != nil {
			return time.Time{} // never again, until it is updated
		}
		return spec.Next(now)
	}
	seen := &tickReads{}
	ended := &endedRuns{}
	record := func() {
		if err := s.Store.RecordScheduleRuns(context.WithoutCancel(ctx), ended.take()); err != nil {
			s.log().Error("record scheduled runs", "err", err)
		}
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	started := 0
	defer func() {
		wg.Wait()
		record()
	}()
	claims := []func() ([]*ci.Schedule, error){
		func() ([]*ci.Schedule, error) { return s.Store.TakeOverScheduleRuns(ctx, now, now.Add(lease), batch) },
		func() ([]*ci.Schedule, error) {
			return s.Store.ClaimDueSchedules(ctx, now, now.Add(lease), batch, next)
		},
	}
	for _, claim := range claims {
		for {
			record()
			claimed, err := claim()
			if err != nil {
				return started, err
			}
			if len(claimed) == 0 {
				break
			}
			for _, sc := range claimed {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return started, ctx.Err()
				}
				started++
				wg.Go(func() {
					defer func() { <-sem }()
					if run, ok := s.runTick(context.WithoutCancel(ctx), sc, seen); ok {
						ended.add(run)
					}
				})
			}
		}
	}
	return started, nil
}

// runTick starts the workflow of a claimed tick (sc.NextRun) with the
// parameters' default values and returns the outcome to record on the
// schedule; false when there is none to record: another server ran the
// tick (it took the run over from this one, thought dead), or the
// schedule was deleted.
func (s *Service) runTick(ctx context.Context, sc *ci.Schedule, seen *tickReads) (store.ScheduleRun, bool) {
	wf, err := s.start(ctx, sc, nil, "", seen)
	if errors.Is(err, store.ErrScheduleRunTaken) {
		s.log().Warn("scheduled run no longer pending: another server took it over, or its schedule was deleted", "schedule", sc.Name, "project", sc.ProjectID, "tick", sc.NextRun)
		return store.ScheduleRun{}, false
	}
	if err != nil {
		s.log().Warn("scheduled run failed", "schedule", sc.Name, "project", sc.ProjectID, "tick", sc.NextRun, "err", err)
		return store.ScheduleRun{ScheduleID: sc.ID, Error: err.Error(), Tick: sc.NextRun}, true
	}
	s.log().Info("scheduled run", "schedule", sc.Name, "project", sc.ProjectID, "tick", sc.NextRun, "workflow", wf.ID)
	return store.ScheduleRun{ScheduleID: sc.ID, WorkflowID: wf.ID, Tick: sc.NextRun}, true
}

// endedRuns are the runs of a tick that ended and are not recorded yet.
type endedRuns struct {
	mu   sync.Mutex
	runs []store.ScheduleRun
}

func (e *endedRuns) add(r store.ScheduleRun) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runs = append(e.runs, r)
}

// take returns the runs added since the last take.
func (e *endedRuns) take() []store.ScheduleRun {
	e.mu.Lock()
	defer e.mu.Unlock()
	runs := e.runs
	e.runs = nil
	return runs
}

// RunNow starts a workflow of the schedule at once with the values given
// for its parameters (checked by Values), triggered by login, and records
// it as the schedule's last run. The schedule's next tick does not move.
func (s *Service) RunNow(ctx context.Context, sc *ci.Schedule, given map[string]string, login string) (*ci.Workflow, error) {
	params, err := Values(sc.Parameters, given)
	if err != nil {
		return nil, err
	}
	wf, err := s.start(ctx, sc, params, login, nil)
	id, msg := "", ""
	if err != nil {
		msg = err.Error()
	} else {
		id = wf.ID
	}
	if rerr := s.Store.RecordScheduleRun(ctx, sc.ID, id, msg); rerr != nil {
		s.log().Error("record schedule run", "schedule", sc.Name, "err", rerr)
	}
	return wf, err
}

// start triggers the schedule's workflow. params nil means the defaults.
// seen, when set, holds the project and the branch's head as this tick
// read them, and the workflow is the run of the claimed tick sc.NextRun.
func (s *Service) start(ctx context.Context, sc *ci.Schedule, params map[string]string, login string, seen *tickReads) (*ci.Workflow, error) {
	if params == nil {
		var err error
		if params, err = Values(sc.Parameters, nil); err != nil {
			return nil, err
		}
	}
	getProject := func() (*ci.Project, error) { return s.Store.GetProject(ctx, sc.ProjectID) }
	var proj *ci.Project
	var err error
	if seen != nil {
		proj, err = seen.projects.Get(sc.ProjectID, getProject)
	} else {
		proj, err = getProject()
	}
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", sc.Name, err)
	}
	sha := ""
	if seen != nil && s.Head != nil {
		sha, err = seen.heads.Get([2]string{proj.ID, sc.Branch}, func() (string, error) { return s.Head(ctx, proj, sc.Branch) })
		if err != nil {
			return nil, fmt.Errorf("trigger: resolve refs/heads/%s: %w", sc.Branch, err)
		}
	}
	req := engine.TriggerRequest{
		Project: proj, Trigger: ci.TriggerSchedule, Schedule: sc.Name,
		RefType: "branch", Branch: sc.Branch, SHA: sha, PipelineFile: sc.PipelineFile,
		Params: params, TriggeredBy: login,
	}
	if seen != nil {
		req.Reuse = &seen.reuse
		req.ScheduleID, req.ScheduleTick = sc.ID, sc.NextRun
	}
	return s.Trigger(ctx, req)
}

// tickReads are what one tick reads once for all its due schedules: each
// project's row, and each project's branch head (so that many schedules
// of one branch due at once fetch the repository once).
type tickReads struct {
	projects memo.Map[string, *ci.Project]
	heads    memo.Map[[2]string, string] // by project ID and branch
	// reuse is what the engine reads and compiles once for all the
	// tick's workflows of one commit.
	reuse engine.Reuse
}
