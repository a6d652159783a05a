package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/schedule"
	"github.com/batonci/baton/internal/store"
)

// Schedules (Semaphore's tasks) under /api/v1/projects/{project}/schedules:
// readers of the project list and show them with their last runs; writers
// create, change, pause, resume, delete and run them.

// scheduleError maps the schedule package's refusals to 400.
func scheduleError(err error) error {
	if errors.Is(err, schedule.ErrInvalid) {
		return fmt.Errorf("%w: %s", errBadRequest, strings.TrimPrefix(err.Error(), schedule.ErrInvalid.Error()+": "))
	}
	return err
}

func (a *API) listSchedules(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	ss, err := a.cfg.Store.ListSchedules(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := []apiv1.ScheduleView{}
	for _, s := range ss {
		out = append(out, apiv1.ScheduleView{Schedule: scheduleView(s)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// getScheduleOf loads the schedule named in the path.
func (a *API) getScheduleOf(r *http.Request, c *caller) (*ci.Project, *ci.Schedule, error) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return nil, nil, err
	}
	name := r.PathValue("name")
	s, err := a.cfg.Store.GetSchedule(r.Context(), p.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: project %s has no schedule %q", errNotFound, p.Name, name)
	}
	return p, s, err
}

func (a *API) getSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, s, err := a.getScheduleOf(r, c)
	if err != nil {
		return err
	}
	runs, err := a.cfg.Store.ScheduleWorkflows(r.Context(), p.ID, s.Name, 10)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.ScheduleView{Schedule: scheduleView(s), Runs: each(runs, workflowView)})
}

// applySchedule applies req to s, checks the result and, when the branch
// changes, that it exists in the repository; then computes the next run
// when the timing changed or the schedule resumes.
func (a *API) applySchedule(r *http.Request, p *ci.Project, s *ci.Schedule, req *apiv1.ScheduleRequest, create bool) error {
	old := *s
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&s.Name, req.Name)
	set(&s.Cron, req.Cron)
	set(&s.Timezone, req.Timezone)
	set(&s.Branch, req.Branch)
	set(&s.PipelineFile, req.PipelineFile)
	if req.Parameters != nil {
		s.Parameters = each(*req.Parameters, ciParameter)
	}
	if req.Paused != nil {
		s.Paused = *req.Paused
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if create && s.Cron == "" {
		return fmt.Errorf("%w: cron is required (five fields: minute hour day-of-month month day-of-week)", errBadRequest)
	}
	spec, err := schedule.Check(s)
	if err != nil {
		return scheduleError(err)
	}
	if s.PipelineFile != "" && (strings.HasPrefix(s.PipelineFile, "/") || strings.Contains(s.PipelineFile, "..")) {
		return fmt.Errorf("%w: pipeline_file %q must be a path inside the repository", errBadRequest, s.PipelineFile)
	}
	if create || s.Branch != old.Branch {
		if _, err := a.cfg.Engine.BranchHead(r.Context(), p, s.Branch); err != nil {
			if errors.Is(err, repocache.ErrUnknownRevision) {
				return fmt.Errorf("%w: branch %q does not exist in the repository", errBadRequest, s.Branch)
			}
			return fmt.Errorf("%w: cannot check branch %q: %v", errBadRequest, s.Branch, err)
		}
	}
	if create || s.Cron != old.Cron || s.Timezone != old.Timezone || (old.Paused && !s.Paused) {
		s.NextRun = spec.Next(a.cfg.Now())
	}
	return nil
}

func (a *API) createSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req apiv1.ScheduleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	s := &ci.Schedule{ProjectID: p.ID, CreatedBy: c.user.Login, CreatedAt: a.cfg.Now()}
	if err := a.applySchedule(r, p, s, &req, true); err != nil {
		return err
	}
	err = a.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.CreateSchedule(s); err != nil {
			return err
		}
		return a.auditSchedule(r, tx, audit.ScheduleChanged, p, s, "created")
	})
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: project %s already has a schedule %q", errConflict, p.Name, s.Name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, apiv1.ScheduleView{Schedule: scheduleView(s)})
}

// auditSchedule records a change of s in the audit log, in the
// transaction that makes it.
func (a *API) auditSchedule(r *http.Request, tx *store.Tx, action audit.Action, p *ci.Project, s *ci.Schedule, what string) error {
	detail := what
	if action == audit.ScheduleChanged {
		detail = fmt.Sprintf("%s: cron=%q tz=%s branch=%s paused=%t", what, s.Cron, s.Timezone, s.Branch, s.Paused)
	}
	return audit.Record(r.Context(), tx, audit.Event{Action: action, Target: s.Name, ProjectID: p.ID, Detail: detail, At: a.cfg.Now()})
}

func (a *API) updateSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.ScheduleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	return a.changeSchedule(w, r, c, &req, "updated")
}

func (a *API) pauseSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	paused := true
	return a.changeSchedule(w, r, c, &apiv1.ScheduleRequest{Paused: &paused}, "paused")
}

func (a *API) resumeSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	paused := false
	return a.changeSchedule(w, r, c, &apiv1.ScheduleRequest{Paused: &paused}, "resumed")
}

func (a *API) changeSchedule(w http.ResponseWriter, r *http.Request, c *caller, req *apiv1.ScheduleRequest, what string) error {
	p, s, err := a.getScheduleOf(r, c)
	if err != nil {
		return err
	}
	if err := a.applySchedule(r, p, s, req, false); err != nil {
		return err
	}
	s.UpdatedAt, s.UpdatedBy = a.cfg.Now(), c.user.Login
	err = a.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.UpdateSchedule(s); err != nil {
			return err
		}
		return a.auditSchedule(r, tx, audit.ScheduleChanged, p, s, what)
	})
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: project %s already has a schedule %q", errConflict, p.Name, s.Name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.ScheduleView{Schedule: scheduleView(s)})
}

func (a *API) deleteSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, s, err := a.getScheduleOf(r, c)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.DeleteSchedule(s.ID); err != nil {
			return err
		}
		return a.auditSchedule(r, tx, audit.ScheduleDeleted, p, s, "deleted")
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) runSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	_, s, err := a.getScheduleOf(r, c)
	if err != nil {
		return err
	}
	var req apiv1.ScheduleRunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if a.cfg.Schedules == nil {
		return fmt.Errorf("%w: schedules are not enabled on this server", errConflict)
	}
	wf, err := a.cfg.Schedules.RunNow(r.Context(), s, req.Parameters, c.user.Login)
	if err != nil {
		return triggerError(scheduleError(err))
	}
	return writeJSON(w, http.StatusCreated, workflowView(wf))
}
