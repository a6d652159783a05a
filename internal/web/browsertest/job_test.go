package browsertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/testenv"
)

// TestJobLogLiveAndSections follows a running job's log in the browser:
// lines printed over a few seconds appear without a reload; once the job
// has failed, the failing command is open and the others collapsed,
// clicking a heading toggles its section, #L links highlight their line,
// and the search finds lines on the server.
func TestJobLogLiveAndSections(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "agent-1", "e1-standard-2", 1)
	project(t, e, "live", false, pipelineYAML("Ticks",
		`echo "setup done"`,
		`for i in $(seq 1 60); do echo "tick $i"; sleep 0.1; done; sleep 0.5`,
		`printf '\033[1;31merror: it broke\033[0m\n' && false`,
	))
	// Sign in first (hashing a password is slow under -race), so the
	// page opens while the job prints.
	b := newBrowser(t)
	b.signIn(e, "ada")
	_, job := runJob(t, e, "live")
	e.Eventually(20*time.Second, func() bool { return strings.Contains(e.Log(job.ID), "tick 2\n") }, "the job prints ticks")
	b.open(e.URL, "/jobs/"+job.ID)
	b.wait(10*time.Second, "the log viewer", `!document.getElementById('log-view').hidden && document.querySelectorAll('#log-view .row').length > 0`)
	// Record every line that appears, whether or not its section stays
	// open (a finished command's section closes when the next starts).
	eval[chromedp.Void](b, `(() => {
  window.__sameDocument = true;
  window.__seen = new Set();
  const note = () => document.querySelectorAll('#log-view .tx').forEach(t => window.__seen.add(t.textContent));
  note();
  new MutationObserver(note).observe(document.getElementById('log-view'), {childList: true, subtree: true});
})()`)
	first := eval[int](b, `Math.max(0, ...[...document.querySelectorAll('#log-view .tx')].map(t => (/^tick (\d+)$/.exec(t.textContent) || [0, 0])[1] | 0))`)
	if first >= 60 {
		t.Fatalf("the page showed tick %d at once: the job was too fast to watch", first)
	}
	b.wait(20*time.Second, "tick 60, live", `window.__seen.has('tick 60')`)
	b.wait(20*time.Second, "the failed state", `document.getElementById('job-status').textContent.includes('failed')`)
	if !eval[bool](b, `window.__sameDocument === true`) {
		t.Fatal("the page was reloaded: lines must arrive live")
	}
	t.Logf("first visible tick %d, then ticks up to 60 arrived live", first)

	// A fresh page of the failed job: only the failing command is open.
	b.open(e.URL, "/jobs/"+job.ID)
	b.wait(10*time.Second, "the sections", `document.querySelectorAll('#log-view .sec-h').length >= 3`)
	b.wait(5*time.Second, "the failing line", lineVisible("error: it broke"))
	type head struct {
		Text     string `json:"text"`
		Expanded string `json:"expanded"`
		Failed   bool   `json:"failed"`
	}
	heads := func() map[string]head {
		var hs []head
		hs = eval[[]head](b, `[...document.querySelectorAll('#log-view .sec-h')].map(h => ({text: h.querySelector('.cmd').textContent, expanded: h.getAttribute('aria-expanded'), failed: h.parentElement.classList.contains('failed')}))`)
		out := map[string]head{}
		for _, h := range hs {
			out[h.Text] = h
		}
		return out
	}
	hs := heads()
	failing := `$ printf '\033[1;31merror: it broke\033[0m\n' && false`
	if h := hs[failing]; h.Expanded != "true" || !h.Failed {
		t.Errorf("failing command: %+v, want open and marked failed (headings %+v)", h, hs)
	}
	for text, h := range hs {
		if text != failing && h.Expanded != "false" {
			t.Errorf("command %q is open, want collapsed", text)
		}
	}
	b.screenshot("job-failed")
	// Timestamps on demand: the time since the job started.
	b.do(chromedp.Click(chromedp.ID("log-ts")))
	b.wait(5*time.Second, "timestamps", `[...document.querySelectorAll('#log-view .ts')].some(t => /^\d\d:\d\d\.\d{3}$/.test(t.textContent))`)
	b.do(chromedp.Click(chromedp.ID("log-ts")))
	b.wait(5*time.Second, "no timestamps", `document.querySelectorAll('#log-view .ts').length === 0`)
	// The colour of the failing line is a colour, not escape codes.
	if got := eval[string](b, `[...document.querySelectorAll('#log-view .tx')].find(t => t.textContent === 'error: it broke').innerHTML`); got != `<span class="c1 bold">error: it broke</span>` {
		t.Errorf("failing line HTML = %s", got)
	}
	// Clicking a heading opens its section, clicking again closes it.
	ticks := `[...document.querySelectorAll('#log-view .sec-h')].find(h => h.textContent.includes('for i in'))`
	b.do(chromedp.Evaluate[chromedp.Void](ticks + `.click()`))
	b.wait(5*time.Second, "tick 1 after opening", lineVisible("tick 1"))
	if got := eval[string](b, ticks+`.getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("after a click aria-expanded = %s, want true", got)
	}
	b.screenshot("job")
	b.do(chromedp.Evaluate[chromedp.Void](ticks + `.click()`))
	b.wait(5*time.Second, "tick 1 hidden after closing", `!(`+lineVisible("tick 1")+`)`)

	// A line link opens its section and highlights the line.
	var cmds []logstore.Command
	e.Do("GET", "/api/v1/jobs/"+job.ID+"/commands", nil, &cmds)
	var tick7 int
	for _, c := range cmds {
		if strings.HasPrefix(c.Directive, "for i in") {
			tick7 = c.FirstLine + 7 // "tick 7", 0-based
		}
	}
	b.open(e.URL, fmt.Sprintf("/jobs/%s#L%d", job.ID, tick7+1))
	b.wait(10*time.Second, "the linked line highlighted", fmt.Sprintf(`(() => { const r = document.querySelector('#log-view .row[data-n="%d"]'); return r && r.classList.contains('hl') && r.textContent.includes('tick 7'); })()`, tick7))
	if !eval[bool](b, lineVisible("tick 7")) {
		t.Error("the linked line is not in view")
	}

	// Search runs on the server: "tick 3" is in tick 3 and ticks 30–39.
	b.do(
		chromedp.SendKeys(chromedp.ID("log-q"), "TICK 3"),
		// As the Enter key does: form.submit() would skip the handler.
		chromedp.Evaluate[chromedp.Void](`document.getElementById('log-search').requestSubmit()`),
	)
	b.wait(10*time.Second, "11 matches", `document.getElementById('log-hits').textContent === '1 of 11'`)
	b.wait(5*time.Second, "the first match in view", lineVisible("tick 3"))
	b.do(chromedp.Click(chromedp.ID("log-next")))
	b.wait(5*time.Second, "the second match", `document.getElementById('log-hits').textContent === '2 of 11' && `+lineVisible("tick 30"))
	if n := eval[int](b, `document.querySelectorAll('#log-view .row.hit mark').length`); n == 0 {
		t.Error("no matches marked in the visible rows")
	}
}

// TestMillionLineLog opens the log of a job that printed 1,000,000 lines
// and failed: the tail shows at once, scrolling to the top and to a line
// in the middle loads those ranges, and the DOM holds a bounded number of
// rows throughout.
func TestMillionLineLog(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "agent-1", "e1-standard-2", 1)
	project(t, e, "huge", true, pipelineYAML("Million", millionCommand))
	_, job := runJob(t, e, "huge")
	waitJob(t, e, job.ID, ci.StateDone, 60*time.Second)
	var cmds []logstore.Command
	e.Do("GET", "/api/v1/jobs/"+job.ID+"/commands", nil, &cmds)
	var big logstore.Command
	for _, c := range cmds {
		if strings.HasPrefix(c.Directive, "seq ") {
			big = c
		}
	}
	if got := big.LastLine - big.FirstLine; got != 1_000_001 {
		t.Fatalf("the big command has %d lines, want 1,000,001", got)
	}

	b := newBrowser(t)
	const maxRows = 300
	rows := func(when string) {
		t.Helper()
		if n := eval[int](b, `document.querySelectorAll('#log-view .row').length`); n == 0 || n > maxRows {
			t.Errorf("%s: %d rows in the DOM, want 1 to %d", when, n, maxRows)
		}
	}
	status := b.open(e.URL, "/jobs/"+job.ID)
	if status != http.StatusOK {
		t.Fatalf("job page: status %d", status)
	}
	b.wait(10*time.Second, "the last line at once", lineVisible("the end"))
	rows("at the tail")
	b.screenshot("job-million-lines")

	// To the top: the first lines come from a range request.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('log-view').scrollTop = 0`))
	b.wait(10*time.Second, "line 1 after scrolling to the top", lineVisible("line 1"))
	rows("at the top")

	// To the middle through a line link.
	mid := big.FirstLine + 500_000 // "line 500000"
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#L%d'`, mid+1)))
	b.wait(10*time.Second, "line 500000 after following its link", lineVisible("line 500000"))
	rows("in the middle")
	// The section's heading is pinned at the top while the reader is in it.
	b.wait(5*time.Second, "the pinned heading", `(document.querySelector('#log-view .log-pin .cmd') || {}).textContent === `+jsString("$ "+millionCommand))
	b.screenshot("job-million-lines-middle")

	// And to the end by scrolling, as a reader drags the scrollbar.
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const v = document.getElementById('log-view'); v.scrollTop = v.scrollHeight; })()`))
	b.wait(10*time.Second, "the last line after scrolling to the end", lineVisible("the end"))
	b.wait(10*time.Second, "line 1000000 loaded", lineVisible("line 1000000"))
	rows("at the end again")
	if h := eval[float64](b, `document.querySelector('#log-view .log-space').getBoundingClientRect().height`); h > 16e6 {
		t.Errorf("spacer height %.0f px: beyond what browsers can lay out", h)
	}
}

// millionCommand prints 1,000,000 lines, then "the end", and fails.
const millionCommand = `seq -f 'line %.0f' 1 1000000 && echo "the end" && false`
