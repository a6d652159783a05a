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

const twoBlocks = `version: v1.0
name: Web app
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Compile
          commands:
            - checkout
            - "echo compiling && sleep 0.3"
  - name: Test
    task:
      jobs:
        - name: Unit
          commands:
            - "echo unit tests && sleep 0.2"
        - name: Lint
          commands:
            - echo lint
`

// TestSignInCreateRunAndScreenshots goes the way a new user goes: sign
// in, create a project from a local git repository with the form, run it
// with the Run button, watch the workflow pass and open a job. It saves
// screenshots of the main pages (projects, project, workflow, job,
// timing, agents).
func TestSignInCreateRunAndScreenshots(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "agent-1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": twoBlocks})
	b := newBrowser(t)
	b.signIn(e, "ada")

	// Create the project with the form on the projects page.
	b.open(e.URL, "/")
	b.do(
		chromedp.SendKeys(chromedp.ID("p-name"), "webapp"),
		chromedp.SendKeys(chromedp.ID("p-repo"), repo.URL()),
		chromedp.SetValue(chromedp.ID("p-vis"), "public"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/projects"]').requestSubmit()`),
	)
	b.wait(10*time.Second, "the project page", `location.pathname === '/projects/webapp' && document.readyState === 'complete'`)
	b.screenshot("project-new")

	// Run it: the Run button goes to the new workflow.
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action$="/run"]').requestSubmit()`))
	b.wait(10*time.Second, "the workflow page", `location.pathname.startsWith('/workflows/') && document.readyState === 'complete'`)
	wfID := strings.TrimPrefix(eval[string](b, `location.pathname`), "/workflows/")
	wf := e.WaitWorkflow(wfID, 60*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result %s, want passed", wf.Result)
	}
	// The workflow page follows the run; a reload shows the result too.
	b.open(e.URL, "/workflows/"+wfID)
	b.wait(10*time.Second, "the passed workflow with its jobs", `document.body.innerText.includes('passed') && document.querySelectorAll('a[href^="/jobs/"]').length === 3`)
	b.screenshot("workflow")

	b.open(e.URL, "/")
	b.wait(5*time.Second, "the project in the list", `document.body.innerText.includes('webapp')`)
	b.screenshot("projects")
	b.open(e.URL, "/projects/webapp")
	b.wait(5*time.Second, "the project's history", `document.body.innerText.includes('passed')`)
	b.screenshot("project")

	// A job of the workflow: its log in sections, the last command open.
	b.open(e.URL, "/workflows/"+wfID)
	b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('a[href^="/jobs/"]')].find(a => a.textContent.includes('Compile')).click()`))
	b.wait(10*time.Second, "the job page", `location.pathname.startsWith('/jobs/') && document.querySelectorAll('#log-view .sec-h').length > 0`)
	b.wait(5*time.Second, "the last command's output", lineVisible("compiling"))
	b.screenshot("job-passed")

	if status := b.open(e.URL, "/workflows/"+wfID+"/timing"); status != http.StatusOK {
		t.Errorf("timing page: status %d", status)
	}
	b.wait(5*time.Second, "the timing page", `document.body.innerText.includes('Compile')`)
	b.screenshot("timing")
	if status := b.open(e.URL, "/agents"); status != http.StatusOK {
		t.Errorf("agents page: status %d", status)
	}
	b.wait(5*time.Second, "the agents page", `document.body.innerText.includes('agent-1')`)
	b.screenshot("agents")
}

// TestSignedOutVisitor opens a public project and its job signed out (no
// write buttons, the log readable) and a private one (404).
func TestSignedOutVisitor(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "agent-1", "e1-standard-2", 1)
	project(t, e, "open", true, pipelineYAML("Hello", `echo "hello, visitor"`))
	project(t, e, "secret", false, pipelineYAML("Hidden", `echo "top secret"`))
	_, pub := runJob(t, e, "open")
	_, priv := runJob(t, e, "secret")
	waitJob(t, e, pub.ID, ci.StateDone, 30*time.Second)

	b := newBrowser(t)
	if status := b.open(e.URL, "/projects/open"); status != http.StatusOK {
		t.Fatalf("public project: status %d", status)
	}
	b.wait(5*time.Second, "the public project", `document.body.innerText.includes('open')`)
	if n := eval[int](b, `document.querySelectorAll('form[method="post"]:not([action="/logout"])').length`); n != 0 {
		t.Errorf("the public project shows %d forms to a visitor, want none", n)
	}
	b.screenshot("project-signed-out")

	if status := b.open(e.URL, "/jobs/"+pub.ID); status != http.StatusOK {
		t.Fatalf("public job: status %d", status)
	}
	b.wait(10*time.Second, "the public log", lineVisible("hello, visitor"))
	for _, sel := range []string{`form[action$="/stop"]`, `details.debug`, `form[method="post"]`} {
		if n := eval[int](b, `document.querySelectorAll('`+sel+`').length`); n != 0 {
			t.Errorf("the public job page shows %s to a visitor", sel)
		}
	}
	// At a phone's width the log still fits and reads.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open(e.URL, "/jobs/"+pub.ID)
	b.wait(10*time.Second, "the public log on a phone", lineVisible("hello, visitor"))
	if w := eval[float64](b, `document.documentElement.scrollWidth`); w > 390 {
		wide := eval[[]string](b, `[...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > 391).slice(0, 8).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))`)
		t.Errorf("the job page is %.0f px wide on a 390 px phone: it scrolls sideways (%v)", w, wide)
	}
	b.screenshot("job-phone")
	b.do(chromedp.EmulateReset())

	for _, path := range []string{"/projects/secret", "/jobs/" + priv.ID} {
		if status := b.open(e.URL, path); status != http.StatusNotFound {
			t.Errorf("%s signed out: status %d, want 404", path, status)
		}
		if txt := eval[string](b, `document.body.innerText`); strings.Contains(txt, "Hidden") || strings.Contains(txt, "top secret") {
			t.Errorf("%s leaks the private project to a visitor", path)
		}
	}
}
