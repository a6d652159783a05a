package browsertest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// TestScheduleRunForm: a signed-in writer opens the project's Schedules
// page, sees the next run, opens "Run now", picks a value of the declared
// parameter and runs it; the workflow page shows the schedule and the
// parameter, and its job printed the value it was exported as.
func TestScheduleRunForm(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "agent-1", "e1-standard-2", 1)
	project(t, e, "nightly-app", false, pipelineYAML("Report", `echo "deploying to $ENV scheduled=$SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE"`))
	e.Do("POST", "/api/v1/projects/nightly-app/schedules", map[string]any{"name": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "branch": "main",
		"parameters": []map[string]any{{"name": "ENV", "description": "Where to deploy", "required": true, "options": []string{"staging", "prod"}, "default_value": "staging"}}}, nil, http.StatusCreated)
	b := newBrowser(t)
	b.signIn(e, "ada")

	if status := b.open(e.URL, "/projects/nightly-app/schedules"); status != http.StatusOK {
		t.Fatalf("schedules page: status %d", status)
	}
	b.wait(10*time.Second, "the schedule with its next run", `document.body.innerText.includes('0 3 * * *') && document.body.innerText.includes('Next run') && !!document.querySelector('time')`)
	b.do(
		chromedp.Evaluate[chromedp.Void](`document.querySelector('details summary').click()`),
		chromedp.SetValue(chromedp.ID("s-nightly-ENV"), "prod"),
	)
	b.screenshot("schedules")
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects/nightly-app/schedules/nightly/run"]').requestSubmit()`))
	b.wait(10*time.Second, "the workflow page", `location.pathname.startsWith('/workflows/') && document.readyState === 'complete'`)
	wfID := strings.TrimPrefix(eval[string](b, `location.pathname`), "/workflows/")
	b.wait(10*time.Second, "the schedule and the parameter on the workflow page", `document.body.innerText.includes('ENV=prod') && !!document.querySelector('a[href="/projects/nightly-app/schedules#schedule-nightly"]')`)
	wf := e.WaitWorkflow(wfID, 60*time.Second)
	if wf.Result != ci.ResultPassed || wf.Trigger != ci.TriggerSchedule || wf.Parameters["ENV"] != "prod" || wf.TriggeredBy != "ada" {
		t.Fatalf("workflow: result %s, trigger %s by %s, parameters %v", wf.Result, wf.Trigger, wf.TriggeredBy, wf.Parameters)
	}
	var job *ci.Job
	for _, j := range wf.Jobs() {
		job = j
	}
	b.open(e.URL, "/jobs/"+job.ID)
	b.wait(10*time.Second, "the job's output", lineVisible("deploying to prod scheduled=true"))

	// The schedules page lists the run.
	b.open(e.URL, "/projects/nightly-app/schedules")
	b.wait(10*time.Second, "the run in the last runs", `!!document.querySelector('a[href="/workflows/`+wfID+`"]')`)
}
