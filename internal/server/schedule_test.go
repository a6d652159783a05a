package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
)

// TestScheduleRunsInTheServer: the server's own schedule loop starts a
// due schedule's workflow, once, and moves its next run past now.
func TestScheduleRunsInTheServer(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": `version: v1.0
name: Nightly ${{parameters.ENV}}
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Report
    task:
      jobs:
        - name: Report
          commands:
            - test "$ENV" = staging
            - test "$SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE" = true
`})
	createProject(t, e, "app", repo, nil)
	e.Do("POST", "/api/v1/projects/app/schedules", map[string]any{"name": "nightly", "cron": "0 3 * * *", "branch": "main",
		"parameters": []map[string]any{{"name": "ENV", "default_value": "staging"}}}, nil, http.StatusCreated)
	// Make it due now, as if 03:00 had just come.
	db := e.Server.Store
	proj, err := db.GetProject(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.GetSchedule(t.Context(), proj.ID, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	s.NextRun = time.Now().Add(-time.Second)
	if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.UpdateSchedule(s) }); err != nil {
		t.Fatal(err)
	}
	var ws []ci.Workflow
	e.Eventually(30*time.Second, func() bool {
		e.Do("GET", "/api/v1/projects/app/workflows", nil, &ws)
		return len(ws) > 0
	}, "the scheduled workflow")
	w := e.WaitWorkflow(ws[0].ID, 60*time.Second)
	if w.Trigger != ci.TriggerSchedule || w.Schedule != "nightly" || w.Result != ci.ResultPassed || w.Pipelines[0].Name != "Nightly staging" {
		t.Errorf("scheduled workflow: trigger %s, schedule %q, result %s, pipeline %q", w.Trigger, w.Schedule, w.Result, w.Pipelines[0].Name)
	}
	var after struct {
		NextRun time.Time `json:"next_run"`
	}
	e.Do("GET", "/api/v1/projects/app/schedules/nightly", nil, &after)
	if !after.NextRun.After(time.Now()) || after.NextRun.UTC().Hour() != 3 {
		t.Errorf("next run after the tick: %v, want the next 03:00 UTC", after.NextRun)
	}
	e.Do("GET", "/api/v1/projects/app/workflows", nil, &ws)
	if len(ws) != 1 {
		t.Errorf("%d workflows, want the one tick's", len(ws))
	}
}
