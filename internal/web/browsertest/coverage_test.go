package browsertest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// TestCoverageOnThePages: a job publishes a Go cover profile; a signed-out
// visitor of the public project sees the percentage on the workflow page,
// the trend and the coverage badge on the project page, and nothing of a
// private project's.
func TestCoverageOnThePages(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "agent-1", "e1-standard-2", 1)
	publish := []string{`printf 'mode: set\nexample.com/a/a.go:3.10,5.2 3 1\nexample.com/a/a.go:7.10,9.2 1 0\n' > c.out`, "coverage publish c.out"}
	project(t, e, "open", true, pipelineYAML("Unit", publish...))
	project(t, e, "secret", false, pipelineYAML("Hidden", publish...))
	wf, job := runJob(t, e, "open")
	waitJob(t, e, job.ID, ci.StateDone, 60*time.Second)
	secretWF, secretJob := runJob(t, e, "secret")
	waitJob(t, e, secretJob.ID, ci.StateDone, 60*time.Second)
	e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wf, nil, &w)
		return w.State == ci.StateDone
	}, "the workflow's end")

	b := newBrowser(t)
	if status := b.open(e.URL, "/workflows/"+wf); status != http.StatusOK {
		t.Fatalf("workflow page: status %d", status)
	}
	b.wait(10*time.Second, "the coverage", `document.querySelector('.pipeline .coverage strong')`)
	if got := eval[string](b, `document.querySelector('.pipeline .coverage strong').textContent`); got != "75.0%" {
		t.Errorf("workflow page's coverage = %q, want 75.0%%", got)
	}
	if txt := eval[string](b, `document.querySelector('.pipeline .coverage').innerText`); !strings.Contains(txt, "3 of 4 lines (statements) in 1 file)") {
		t.Errorf("coverage line = %q", txt)
	}
	b.screenshot("workflow-coverage")

	b.open(e.URL, "/projects/open")
	b.wait(10*time.Second, "the trend", `document.querySelector('#coverage-trend svg.trend circle')`)
	// The badge is an image the browser loaded: the visitor may see it.
	b.wait(10*time.Second, "the coverage badge", `(() => { const i = document.querySelector('#coverage-trend img.coverage-badge'); return i && i.complete && i.naturalWidth > 0 })()`)
	if got := eval[string](b, `document.querySelector('#coverage-trend svg.trend').getAttribute('aria-label')`); !strings.Contains(got, "75.0%") {
		t.Errorf("trend label = %q", got)
	}
	b.screenshot("project-coverage")

	for _, path := range []string{"/workflows/" + secretWF, "/projects/secret", "/badges/secret/coverage.svg"} {
		if status := b.open(e.URL, path); status != http.StatusNotFound {
			t.Errorf("%s signed out: status %d, want 404", path, status)
		}
		if txt := eval[string](b, `document.body ? document.body.innerText : ''`); strings.Contains(txt, "75.0%") {
			t.Errorf("%s leaks the private project's coverage: %q", path, txt)
		}
	}
}
