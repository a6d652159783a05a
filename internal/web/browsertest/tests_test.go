package browsertest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// bigReportJob writes a 20,000-test JUnit file (every 20th test fails,
// each has output) and publishes it.
const bigReportJob = `awk 'BEGIN {
  out = "starting the test case, connecting to the fixture database, loading 42 fixtures, running the assertions; "
  printf "<testsuites name=\"unit\">\n"
  for (s = 0; s < 1000; s++) {
    printf "<testsuite name=\"pkg/module%04d\">\n", s
    for (t = 0; t < 20; t++) {
      n = s * 20 + t
      printf "<testcase classname=\"pkg/module%04d\" name=\"TestBehaviour%05d\" time=\"0.%04d\">", s, n, n % 10000
      if (n % 20 == 7) printf "<failure message=\"expected 42, got %d\">module_test.go:%d: expected 42\n%s</failure>", n, n % 500, out
      printf "<system-out>%s%s%s</system-out></testcase>\n", out, out, out
    }
    printf "</testsuite>\n"
  }
  printf "</testsuites>\n"
}' > big.xml && test-results publish big.xml`

// TestTestsTabOfABigReport opens the Tests tab of a workflow whose job
// published 20,000 tests, as an anonymous visitor of a public project:
// the failures come first with their message and a link to the job's
// log, the search finds a test by name, and the page stays small on the
// wire and paints quickly.
func TestTestsTabOfABigReport(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	e := testenv.Start(t, testenv.Options{LostAfter: time.Minute})
	e.StartAgent(t, "agent-1", "e1-standard-2", 1)
	project(t, e, "big", true, pipelineYAML("Unit", bigReportJob))
	wf, job := runJob(t, e, "big")
	waitJob(t, e, job.ID, ci.StateDone, 3*time.Minute)
	// When the pipeline ends, the server merges its jobs' reports into
	// the pipeline's in the background (decoding this one whole): wait for
	// it, so that the page's times are the page's.
	e.Eventually(3*time.Minute, func() bool {
		_, err := e.Server.Store.PipelineTestReport(t.Context(), job.PipelineID)
		return err == nil
	}, "the pipeline's merged test report")
	if err := e.Server.Tests.Flush(t.Context()); err != nil { // and the tests' outcomes, written after the publish
		t.Fatal(err)
	}

	if code := b.open(e.URL, "/workflows/"+wf+"/tests"); code != 200 {
		t.Fatalf("tests tab: %d", code)
	}
	b.wait(10*time.Second, "the page", `document.readyState === 'complete'`)
	// The paint entry is recorded a moment after the load on a busy
	// machine: wait for it.
	b.wait(30*time.Second, "the first contentful paint", `performance.getEntriesByName('first-contentful-paint').length > 0`)
	paint := eval[float64](b, `performance.getEntriesByName('first-contentful-paint')[0].startTime`)
	wire := eval[float64](b, `performance.getEntriesByType('navigation')[0].transferSize`)
	html := eval[float64](b, `performance.getEntriesByType('navigation')[0].decodedBodySize`)
	ttfb := eval[float64](b, `performance.getEntriesByType('navigation')[0].responseStart`)
	t.Logf("Tests tab of 20,000 tests: first byte %.0f ms, first contentful paint %.0f ms, %.0f KiB on the wire (%.0f KiB of HTML)", ttfb, paint, wire/1024, html/1024)
	if wire <= 0 || wire > 1<<20 {
		t.Errorf("the page is %.0f bytes on the wire, want under 1 MiB", wire)
	}
	if paint < 0 {
		t.Error("no first contentful paint")
	}
	summary := eval[string](b, `document.getElementById('tests-summary').innerText`)
	if !strings.Contains(summary, "20000 tests: 19000 passed, 1000 failed") {
		t.Errorf("summary = %q", summary)
	}
	// Failures come before the slowest tests and the suites.
	order := eval[bool](b, `(() => { const f = document.getElementById('fail-h'), s = document.getElementById('slow-tests-h'), u = document.getElementById('suites-h');
		return !!(f.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING) && !!(s.compareDocumentPosition(u) & Node.DOCUMENT_POSITION_FOLLOWING) })()`)
	if !order {
		t.Error("failures are not first")
	}
	first := eval[string](b, `document.querySelector('.failure').innerText`)
	if !strings.Contains(first, "TestBehaviour00007") || !strings.Contains(first, "expected 42, got 7") {
		t.Errorf("first failure = %q", first)
	}
	// The failure links to the job's log.
	eval[bool](b, `(document.querySelector('.failure a[href^="/jobs/"]').click(), true)`)
	b.wait(10*time.Second, "the job page", `location.pathname === '/jobs/`+job.ID+`'`)

	// The search finds a test by name.
	b.open(e.URL, "/workflows/"+wf+"/tests")
	b.do(
		chromedp.SendKeys(chromedp.ID("q"), "TestBehaviour12345"),
		chromedp.Submit(chromedp.ID("q")),
	)
	b.wait(time.Minute, "the search results", `document.getElementById('match-h') && document.body.innerText.includes('TestBehaviour12345')`)
	rows := eval[int](b, `document.querySelectorAll('[aria-labelledby="match-h"] tbody tr').length`)
	if rows != 1 {
		t.Errorf("search rows = %d, want 1", rows)
	}
	b.screenshot("tests-tab")
}
