package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/testenv"
)

const jobPipeline = `version: v1.0
name: Pages
agent:
  machine:
    type: nobody-runs-this
blocks:
  - name: Build
    task:
      jobs:
        - name: Compile
          commands:
            - make
`

// jobEnv is a server without agents, with a public and a private project
// each with a queued job whose log the test writes as an agent would.
type jobEnv struct {
	e    *testenv.Env
	jobs map[string]string // project → job ID
}

func newJobEnv(t *testing.T) *jobEnv {
	t.Helper()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": jobPipeline})
	je := &jobEnv{e: e, jobs: map[string]string{}}
	for name, public := range map[string]bool{"pub": true, "priv": false} {
		e.Do("POST", "/api/v1/projects", map[string]any{"name": name, "repo_url": repo.URL(), "default_branch": "main", "public": public}, nil, http.StatusCreated)
		var wf ci.Workflow
		e.Do("POST", "/api/v1/projects/"+name+"/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
		e.Eventually(10*time.Second, func() bool {
			var w testenv.Workflow
			e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
			for _, j := range w.Jobs() {
				je.jobs[name] = j.ID
			}
			return je.jobs[name] != ""
		}, "the job of %s", name)
	}
	return je
}

// writeJobLog writes a log of three commands, the second failing after
// printing n lines with ANSI colours.
func (je *jobEnv) writeJobLog(t *testing.T, jobID string, n int) {
	t.Helper()
	at := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	ts := func(ms int) ci.Timestamp { return ci.Timestamp(at.Add(time.Duration(ms) * time.Millisecond)) }
	zero, two := 0, 2
	var out strings.Builder
	for i := range n {
		fmt.Fprintf(&out, "compiling unit %d <ok>\n", i)
	}
	out.WriteString("\x1b[1;31merror: <boom>\x1b[0m\n")
	evs := []ci.Event{
		{Kind: ci.EventJobStarted, Timestamp: ts(0)},
		{Kind: ci.EventCmdStarted, Timestamp: ts(1), Directive: "checkout"},
		{Kind: ci.EventCmdOutput, Timestamp: ts(2), Output: "cloned\n"},
		{Kind: ci.EventCmdFinished, Timestamp: ts(3), Directive: "checkout", ExitCode: &zero, StartedAt: ptr(ts(1)), FinishedAt: ptr(ts(3))},
		{Kind: ci.EventCmdStarted, Timestamp: ts(4), Directive: "make"},
		{Kind: ci.EventCmdOutput, Timestamp: ts(5), Output: out.String()},
		{Kind: ci.EventCmdFinished, Timestamp: ts(1504), Directive: "make", ExitCode: &two, StartedAt: ptr(ts(4)), FinishedAt: ptr(ts(1504))},
		{Kind: ci.EventCmdStarted, Timestamp: ts(1505), Directive: "echo epilogue"},
		{Kind: ci.EventCmdOutput, Timestamp: ts(1506), Output: "epilogue\n"},
		{Kind: ci.EventCmdFinished, Timestamp: ts(1507), Directive: "echo epilogue", ExitCode: &zero},
	}
	if err := je.e.Server.Logs.Append(t.Context(), jobID, logstore.Chunk{Seq: 0, Events: evs}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func (je *jobEnv) page(t *testing.T, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", je.e.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestJobPage(t *testing.T) {
	t.Parallel()
	je := newJobEnv(t)
	for _, id := range je.jobs {
		je.writeJobLog(t, id, 1000)
	}
	pub, priv := je.jobs["pub"], je.jobs["priv"]
	tests := []struct {
		name, token, job string
		status           int
		want, wantNot    []string
	}{
		{
			name: "writer", token: je.e.Token, job: pub, status: 200,
			want: []string{
				"<h1>", "Compile", `href="/workflows/`, "Build",
				// The stop button and the command to attach.
				`action="/jobs/` + pub + `/stop"`, "baton attach " + pub,
				// Log viewer and raw download.
				`src="/static/log.js?v=`, `id="log-boot"`, `/api/v1/jobs/` + pub + `/log?format=text`,
			},
		},
		{
			name: "anonymous on a public project", job: pub, status: 200,
			want:    []string{"Compile", `id="log-boot"`},
			wantNot: []string{"/stop", "baton attach", "baton debug"},
		},
		{name: "anonymous on a private project", job: priv, status: 404, wantNot: []string{"Compile"}},
		{name: "no such job", token: je.e.Token, job: "nope", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := je.page(t, tt.token, "/jobs/"+tt.job)
			if status != tt.status {
				t.Fatalf("status %d, want %d\n%s", status, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

// TestJobPageWithoutJavaScript checks what a reader without JavaScript
// gets: the last 500 lines in sections with their commands, colours as
// spans, text escaped, line anchors, and a link to the raw log.
func TestJobPageWithoutJavaScript(t *testing.T) {
	t.Parallel()
	je := newJobEnv(t)
	id := je.jobs["pub"]
	je.writeJobLog(t, id, 1000)
	_, body := je.page(t, "", "/jobs/"+id)
	ns := body[strings.Index(body, "<noscript>"):strings.Index(body, "</noscript>")]
	// 1,006 lines: 3 headings, cloned, 1,000 units, error, epilogue.
	for _, want := range []string{
		"The last 500 of 1006 lines.",
		`<span class="cmd">$ make</span> <span class="cut">(continued)</span>`,
		`<span class="exit bad">exit 2</span> <span class="dur">1s</span>`,
		`id="L507"`, `href="#L507"`, "compiling unit 503 &lt;ok&gt;",
		`<span class="c1 bold">error: &lt;boom&gt;</span>`,
		`<span class="cmd">$ echo epilogue</span>`, "epilogue</span>",
	} {
		if !strings.Contains(ns, want) {
			t.Errorf("server-rendered log lacks %q", want)
		}
	}
	if strings.Contains(ns, `id="L506"`) || strings.Contains(ns, "$ checkout") {
		t.Errorf("server-rendered log has lines before the last 500")
	}
	if got := strings.Count(ns, `class="ln"`); got != 500-1 {
		t.Errorf("server-rendered lines = %d, want 499 (500 minus the epilogue's heading)", got)
	}
}

func TestJobStopForm(t *testing.T) {
	t.Parallel()
	je := newJobEnv(t)
	id := je.jobs["pub"]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(token string) *http.Response {
		req, _ := http.NewRequest("POST", je.e.URL+"/jobs/"+id+"/stop", strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			req.Header.Set("Authorization", "Token "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous stop: status %d, want 401", resp.StatusCode)
	}
	resp := post(je.e.Token)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/jobs/"+id) {
		t.Fatalf("stop: status %d to %q, want 303 to the job", resp.StatusCode, resp.Header.Get("Location"))
	}
	je.e.Eventually(10*time.Second, func() bool {
		var j apiv1.Job
		je.e.Do("GET", "/api/v1/jobs/"+id, nil, &j)
		return j.State == apiv1.StateDone
	}, "the stopped job is done")
}
