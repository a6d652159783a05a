package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// chromium returns the browser's path. Without one the test skips, or
// fails in CI.
func chromium(tb testing.TB) string {
	tb.Helper()
	probe.Require(tb, probe.Chromium)
	return probe.ChromiumPath()
}

// browser is a headless Chromium with one tab.
type browser struct {
	tb  testing.TB
	ctx context.Context
	// csp returns the Content-Security-Policy violations seen so far;
	// any fails the test unless expectViolations is set.
	csp              func() []string
	expectViolations bool
}

// newBrowser starts Chromium with a fresh profile; it stops at the end of
// the test.
func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(tb)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser, for the life of ctx: no timeout.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	b := &browser{tb: tb, ctx: ctx, csp: watchCSP(tb, ctx)}
	tb.Cleanup(func() {
		if b.expectViolations {
			return
		}
		for _, v := range b.csp() {
			tb.Errorf("Content-Security-Policy violation: %s", v)
		}
	})
	return b
}

// cspListener reports each Content-Security-Policy violation of every
// page the tab loads to the Go side.
const cspListener = `document.addEventListener('securitypolicyviolation', e =>
  window.reportCSPViolation(location.pathname + ': ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + (e.sample ? ' (' + e.sample + ')' : '')));`

// watchCSP collects the Content-Security-Policy violations of the tab's
// pages; newBrowser fails the test with them at its end: something the
// policy blocks (an inline script, a style attribute, an event handler)
// would not work for users either.
func watchCSP(tb testing.TB, ctx context.Context) func() []string {
	tb.Helper()
	var mu sync.Mutex
	var violations []string
	err := chromedp.Do(ctx,
		chromedp.ExposeFunc("reportCSPViolation", func(_ context.Context, v string) (chromedp.Void, error) {
			mu.Lock()
			defer mu.Unlock()
			violations = append(violations, v)
			return chromedp.Void{}, nil
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener})
			return err
		}),
	)
	if err != nil {
		tb.Fatalf("watch CSP violations: %v", err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(violations)
	}
}

// do runs steps with a timeout.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.tb.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript expression until it is truthy. Errors while a
// page loads (no execution context yet) count as "not yet".
func (b *browser) wait(timeout time.Duration, what, expr string) {
	b.tb.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(15 * time.Millisecond)
	}
	url, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
	b.tb.Fatalf("waiting for %s at %s (last error: %v)\npage text:\n%s", what, url, last, body)
}

// open navigates to a path of the server and returns the status.
func (b *browser) open(base, path string) int {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+path))
	if err != nil {
		b.tb.Fatalf("open %s: %v", path, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// screenshot saves the page as NAME.png under the artifacts directory.
func (b *browser) screenshot(name string) {
	b.tb.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := artifacts(b.tb)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		b.tb.Errorf("save screenshot: %v", err)
	}
}

// artifacts is where screenshots go: $BATON_ARTIFACTS, else a
// "screenshots" directory under the test's temporary directory.
func artifacts(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("BATON_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(tb.TempDir(), "screenshots")
	} else {
		dir = filepath.Join(dir, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// signIn creates an organisation admin with a password and signs the
// browser in with the sign-in form.
func (b *browser) signIn(e *testenv.Env, login string) {
	b.tb.Helper()
	const password = "correct horse battery staple"
	e.Do("POST", "/api/v1/users", map[string]any{"login": login, "password": password, "admin": true}, nil, http.StatusCreated)
	b.open(e.URL, "/login")
	b.do(
		chromedp.SendKeys(chromedp.ID("login"), login),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
	)
	b.wait(10*time.Second, "the signed-in page", `location.pathname !== '/login' && document.readyState === 'complete' && document.body.innerText.includes(`+jsString(login)+`)`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pipelineYAML is a one-job pipeline running commands.
func pipelineYAML(job string, commands ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: v1.0\nname: Browser\nagent:\n  machine:\n    type: e1-standard-2\nblocks:\n  - name: Build\n    task:\n      jobs:\n        - name: %s\n          commands:\n", job)
	for _, c := range commands {
		// A JSON string is a YAML double-quoted scalar.
		fmt.Fprintf(&b, "            - %s\n", jsString(c))
	}
	return b.String()
}

// project creates a project of a new repository with the pipeline.
func project(tb testing.TB, e *testenv.Env, name string, public bool, pipeline string) {
	tb.Helper()
	repo := testenv.NewRepo(tb, map[string]string{".semaphore/semaphore.yml": pipeline})
	e.Do("POST", "/api/v1/projects", map[string]any{"name": name, "repo_url": repo.URL(), "default_branch": "main", "public": public}, nil, http.StatusCreated)
}

// runJob runs a project's workflow and returns its only job once it
// exists.
func runJob(tb testing.TB, e *testenv.Env, name string) (workflow string, job *ci.Job) {
	tb.Helper()
	var wf ci.Workflow
	e.Do("POST", "/api/v1/projects/"+name+"/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	e.Eventually(20*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		for _, j := range w.Jobs() {
			job = j
		}
		return job != nil
	}, "the job of %s", name)
	return wf.ID, job
}

// waitJob waits until a job is in state and returns it.
func waitJob(tb testing.TB, e *testenv.Env, id string, state ci.State, timeout time.Duration) *ci.Job {
	tb.Helper()
	var j ci.Job
	e.Eventually(timeout, func() bool {
		e.Do("GET", "/api/v1/jobs/"+id, nil, &j)
		return j.State == state
	}, "job %s %s", id, state)
	return &j
}

// rowVisible is a JavaScript expression: a log row whose text contains
// text lies wholly inside the log's viewport.
func rowVisible(text string) string {
	return `(() => {
  const view = document.getElementById('log-view');
  if (!view) return false;
  const v = view.getBoundingClientRect();
  return [...view.querySelectorAll('.row')].some(r => {
    if (!r.textContent.includes(` + jsString(text) + `)) return false;
    const a = r.getBoundingClientRect();
    return a.top >= v.top - 1 && a.bottom <= v.bottom + 1;
  });
})()`
}

// lineVisible is a JavaScript expression: the log line whose text is
// exactly text lies wholly inside the log's viewport.
func lineVisible(text string) string {
	return `(() => {
  const view = document.getElementById('log-view');
  if (!view) return false;
  const v = view.getBoundingClientRect();
  return [...view.querySelectorAll('.row .tx')].some(t => {
    if (t.textContent !== ` + jsString(text) + `) return false;
    const a = t.parentElement.getBoundingClientRect();
    return a.top >= v.top - 1 && a.bottom <= v.bottom + 1;
  });
})()`
}
