package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/testenv"
)

// failingPipeline fails, and its job sees a secret value both from a
// project secret and from the pipeline's own env_vars and commands.
const failingPipeline = `version: v1.0
name: Checks
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Test
    task:
      secrets:
        - name: creds
      env_vars:
        - name: INLINE_TOKEN
          value: inline-value-from-yaml-42
      jobs:
        - name: Unit
          commands:
            - echo "token is $DEPLOY_TOKEN and $INLINE_TOKEN"
            - echo literal-secret-in-command-77
            - false
`

// hookReceiver records what a Slack or webhook endpoint receives.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	code   int
	hold   chan struct{} // when not nil, requests wait for it to close
	bodies []string
	sigs   []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{code: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.sigs = append(r.sigs, req.Header.Get(notification.SignatureHeader))
		code, hold := r.code, r.hold
		r.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func (r *hookReceiver) setCode(code int) {
	r.mu.Lock()
	r.code = code
	r.mu.Unlock()
}

type deliveryView struct {
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id"`
	Target     string `json:"target"`
	Channel    string `json:"channel"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	HTTPStatus int    `json:"http_status"`
	AttemptLog []struct {
		HTTPStatus int `json:"http_status"`
	} `json:"attempt_log"`
}

func deliveriesOf(e *testenv.Env, name string) []deliveryView {
	var ds []deliveryView
	e.Do("GET", "/api/v1/notifications/"+name+"/deliveries", nil, &ds, http.StatusOK)
	return ds
}

func projectWithSecret(t *testing.T, e *testenv.Env, name string, public bool, repo *testenv.Repo) {
	t.Helper()
	createProject(t, e, name, repo, map[string]any{"public": public})
	e.Do("POST", "/api/v1/projects/"+name+"/secrets", map[string]any{"name": "creds",
		"env_vars": []map[string]string{{"name": "DEPLOY_TOKEN", "value": "project-secret-value-" + name}}}, nil, http.StatusCreated)
}

// TestFailedPipelineNotifies: a failed pipeline reaches Slack (in Slack's
// format, one message per channel) and a signed webhook; no message holds
// a secret value; a rule for every project does not tell about a private
// project, a rule naming it does; every delivery is listed with its status.
func TestFailedPipelineNotifies(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": failingPipeline})
	projectWithSecret(t, e, "web", true, repo)
	projectWithSecret(t, e, "payroll", false, repo)

	slack, hook, named := newHookReceiver(t), newHookReceiver(t), newHookReceiver(t)
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "everything", "results": []string{"failed"},
		"slack_endpoint": slack.URL + "/services/T1/B1/slack-token-abc", "slack_channels": []string{"#ci", "#dev"},
		"webhook_endpoint": hook.URL + "/hook", "webhook_secret": "hook-signing-secret"}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "regex", "projects": []string{"/.*/"},
		"webhook_endpoint": hook.URL + "/regex"}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "payroll-team", "projects": []string{"payroll"},
		"webhook_endpoint": named.URL + "/payroll"}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "passed-only", "results": []string{"passed"},
		"webhook_endpoint": named.URL + "/passed"}, nil, http.StatusCreated)

	var web, payroll *testenv.Workflow
	web = e.WaitWorkflow(run(t, e, "web", "main"), 2*time.Minute)
	payroll = e.WaitWorkflow(run(t, e, "payroll", "main"), 2*time.Minute)
	if web.Pipelines[0].Result != ci.ResultFailed || payroll.Pipelines[0].Result != ci.ResultFailed {
		t.Fatalf("results %s, %s; want failed", web.Pipelines[0].Result, payroll.Pipelines[0].Result)
	}
	e.Eventually(30*time.Second, func() bool { return len(slack.got()) == 2 && len(hook.got()) == 2 && len(named.got()) == 1 },
		"slack %d, webhook %d, named %d messages", len(slack.got()), len(hook.got()), len(named.got()))

	secrets := []string{"project-secret-value-web", "project-secret-value-payroll", "inline-value-from-yaml-42", "literal-secret-in-command-77",
		"slack-token-abc", "hook-signing-secret"}
	all := append(append(slack.got(), hook.got()...), named.got()...)
	for _, b := range all {
		for _, s := range secrets {
			if strings.Contains(b, s) {
				t.Errorf("a message holds the secret %q: %s", s, b)
			}
		}
	}
	// Every-project and /regex/ rules say nothing about the private project.
	for _, b := range append(slack.got(), hook.got()...) {
		if strings.Contains(b, "payroll") || strings.Contains(b, payroll.ID) {
			t.Errorf("a rule that does not name payroll sent about it: %s", b)
		}
	}
	if b := named.got()[0]; !strings.Contains(b, `"name":"payroll"`) || !strings.Contains(b, payroll.Pipelines[0].ID) {
		t.Errorf("the rule naming payroll got: %s", b)
	}

	// Slack's format, one message per channel, with what a team needs.
	channels := map[string]bool{}
	for _, b := range slack.got() {
		var m notification.SlackMessage
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("slack body %s: %v", b, err)
		}
		channels[m.Channel] = true
		if len(m.Attachments) != 1 {
			t.Fatalf("slack message %s", b)
		}
		fields := map[string]string{}
		for _, f := range m.Attachments[0].Fields {
			fields[f.Title] = f.Value
		}
		wantLink := e.URL + "/workflows/" + web.ID
		if fields["Project"] != "web" || fields["Branch"] != "main" || fields["Result"] != "failed" || fields["Author"] == "" ||
			!strings.HasPrefix(fields["Commit"], web.SHA[:7]) || fields["Duration"] == "" ||
			m.Attachments[0].TitleLink != wantLink || !strings.Contains(m.Text, wantLink) || m.Attachments[0].Color != "danger" {
			t.Errorf("slack message fields %v, link %s, text %s", fields, m.Attachments[0].TitleLink, m.Text)
		}
	}
	if !channels["#ci"] || !channels["#dev"] {
		t.Errorf("slack channels %v", channels)
	}

	// The webhook: JSON with the workflow, pipeline and results, signed
	// when the notification has a secret.
	hook.mu.Lock()
	bodies, sigs := append([]string(nil), hook.bodies...), append([]string(nil), hook.sigs...)
	hook.mu.Unlock()
	signed := 0
	for i, b := range bodies {
		var wb notification.WebhookBody
		if err := json.Unmarshal([]byte(b), &wb); err != nil {
			t.Fatal(err)
		}
		if wb.Workflow.ID != web.ID || wb.Pipeline.ID != web.Pipelines[0].ID || wb.Pipeline.Result != "failed" ||
			len(wb.Blocks) != 1 || wb.Blocks[0].Jobs[0].Result != "failed" || wb.Revision.CommitSHA != web.SHA {
			t.Errorf("webhook body %s", b)
		}
		if sigs[i] != "" {
			signed++
			if sigs[i] != notification.Sign("hook-signing-secret", []byte(b)) {
				t.Errorf("signature %q does not match the body", sigs[i])
			}
		}
	}
	if signed != 1 {
		t.Errorf("%d signed webhook messages, want 1 (the notification with a secret)", signed)
	}

	// Deliveries are listed with their HTTP status.
	e.Eventually(10*time.Second, func() bool {
		ds := deliveriesOf(e, "everything")
		if len(ds) != 3 {
			return false
		}
		for _, d := range ds {
			if d.State != "sent" || d.HTTPStatus != 200 || len(d.AttemptLog) != 1 || d.PipelineID != web.Pipelines[0].ID {
				return false
			}
		}
		return true
	}, "deliveries of everything: %+v", deliveriesOf(e, "everything"))
	if ds := deliveriesOf(e, "passed-only"); len(ds) != 0 {
		t.Errorf("a rule for passed pipelines sent %d messages", len(ds))
	}

	// Nothing shown gives back an endpoint or the secret.
	for _, path := range []string{"/api/v1/notifications", "/api/v1/notifications/everything"} {
		var raw json.RawMessage
		e.Do("GET", path, nil, &raw, http.StatusOK)
		for _, s := range []string{"slack-token-abc", "hook-signing-secret", "/services/"} {
			if strings.Contains(string(raw), s) {
				t.Errorf("GET %s shows %q: %s", path, s, raw)
			}
		}
	}
	// Agents' credentials do not open the API.
	e.DoAs(e.AgentToken, "GET", "/api/v1/notifications", nil, nil, http.StatusUnauthorized)
}

// TestFailingEndpointNeverBlocks: an endpoint that hangs, then fails,
// holds no pipeline up; its deliveries are retried, then recorded failed
// with every attempt's status.
func TestFailingEndpointNeverBlocks(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{NotificationBackoff: 50 * time.Millisecond, NotificationAttempts: 3})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": failingPipeline})
	projectWithSecret(t, e, "web", true, repo)
	bad := newHookReceiver(t)
	bad.code = http.StatusInternalServerError
	bad.hold = make(chan struct{})
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "broken", "webhook_endpoint": bad.URL}, nil, http.StatusCreated)

	// While the endpoint hangs, pipelines still end, one after the other.
	for range 2 {
		wf := e.WaitWorkflow(run(t, e, "web", "main"), 2*time.Minute)
		if wf.Pipelines[0].State != ci.StateDone {
			t.Fatalf("workflow %s: %s", wf.ID, wf.Pipelines[0].State)
		}
	}
	close(bad.hold)
	e.Eventually(60*time.Second, func() bool {
		ds := deliveriesOf(e, "broken")
		if len(ds) != 2 {
			return false
		}
		for _, d := range ds {
			if d.State != "failed" || d.Attempts != 3 || len(d.AttemptLog) != 3 || d.AttemptLog[2].HTTPStatus != 500 {
				return false
			}
		}
		return true
	}, "deliveries: %+v", deliveriesOf(e, "broken"))
}

// TestDeliveriesSurviveRestart: a delivery still pending when the server
// stops is sent by the server started next on the same data.
func TestDeliveriesSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testenv.Start(t, testenv.Options{DataDir: dir, NotificationBackoff: 300 * time.Millisecond, NotificationAttempts: 50})
	agent := e.StartAgent(t, "a1", "e1-standard-2", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": failingPipeline})
	projectWithSecret(t, e, "web", true, repo)
	down := newHookReceiver(t)
	down.setCode(http.StatusServiceUnavailable)
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "ops", "webhook_endpoint": down.URL}, nil, http.StatusCreated)
	wf := e.WaitWorkflow(run(t, e, "web", "main"), 2*time.Minute)
	e.Eventually(30*time.Second, func() bool { return len(down.got()) >= 1 }, "a first attempt")
	agent.Stop()
	e.Stop()
	tried := len(down.got())
	down.setCode(http.StatusOK)

	e2 := testenv.Start(t, testenv.Options{DataDir: dir, NotificationBackoff: 300 * time.Millisecond, NotificationAttempts: 50})
	e2.Eventually(30*time.Second, func() bool {
		ds := deliveriesOf(e2, "ops")
		return len(ds) == 1 && ds[0].State == "sent" && ds[0].HTTPStatus == 200
	}, "the delivery after the restart: %+v", deliveriesOf(e2, "ops"))
	got := down.got()
	if len(got) <= tried || !strings.Contains(got[len(got)-1], wf.Pipelines[0].ID) {
		t.Errorf("after the restart: %d requests (%d before)", len(got), tried)
	}
}

// TestTwoServersSendOnce: two servers share a PostgreSQL database; many
// failed pipelines are each notified exactly once.
func TestTwoServersSendOnce(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	shared := t.TempDir()
	e1 := testenv.Start(t, testenv.Options{DB: dsn, DataDir: shared})
	e2 := testenv.Start(t, testenv.Options{DB: dsn, DataDir: shared})
	e1.StartAgent(t, "on-1", "e1-standard-2", 3)
	e2.StartAgent(t, "on-2", "e1-standard-2", 3)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": failingPipeline})
	projectWithSecret(t, e1, "web", true, repo)
	r := newHookReceiver(t)
	e1.Do("POST", "/api/v1/notifications", map[string]any{"name": "once", "webhook_endpoint": r.URL,
		"slack_endpoint": r.URL + "/slack"}, nil, http.StatusCreated)
	const workflows = 8
	var ids []string
	for i := range workflows {
		e := []*testenv.Env{e1, e2}[i%2]
		ids = append(ids, run(t, e, "web", "main"))
	}
	for _, id := range ids {
		e1.WaitWorkflow(id, 3*time.Minute)
	}
	// Every delivery sent after one claim: a delivery claimed twice would
	// count two attempts.
	e1.Eventually(60*time.Second, func() bool {
		ds := deliveriesOf(e1, "once")
		sent := 0
		for _, d := range ds {
			if d.State == "sent" {
				sent++
			}
		}
		return sent == 2*workflows
	}, "deliveries: %+v", deliveriesOf(e1, "once"))
	for _, d := range deliveriesOf(e1, "once") {
		if d.Attempts != 1 || len(d.AttemptLog) != 1 {
			t.Errorf("delivery %+v: want one attempt", d)
		}
	}
	got := r.got()
	if len(got) != 2*workflows {
		t.Errorf("%d messages, want %d (one Slack and one webhook message per pipeline)", len(got), 2*workflows)
	}
	for _, id := range ids {
		n := 0
		for _, b := range got {
			if strings.Contains(b, id) {
				n++
			}
		}
		if n != 2 {
			t.Errorf("workflow %s: %d messages, want 2", id, n)
		}
	}
}

// TestRerunNotifiesDebugJobDoesNot: a pipeline rerun with rerun-failed is
// a build of the project and is sent about like the first run; a debug
// job's pipeline, someone's interactive session, is not, whatever its
// result.
func TestRerunNotifiesDebugJobDoesNot(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": failingPipeline})
	projectWithSecret(t, e, "web", true, repo)
	hook := newHookReceiver(t)
	e.Do("POST", "/api/v1/notifications", map[string]any{"name": "all", "webhook_endpoint": hook.URL + "/all"}, nil, http.StatusCreated)

	wf := e.WaitWorkflow(run(t, e, "web", "main"), 2*time.Minute)
	first := wf.Pipelines[0]
	if first.Result != ci.ResultFailed {
		t.Fatalf("pipeline %s, want failed", first.Result)
	}
	orig := wf.Jobs()["Test/Unit"]

	// A debug job of the failed job ends (stopped at its time limit): its
	// pipeline's end enqueues nothing, in the transaction that ends it.
	var dj struct {
		JobID string `json:"job_id"`
	}
	e.Do("POST", "/api/v1/jobs/"+orig.ID+"/debug", map[string]string{"duration": "2s"}, &dj, http.StatusCreated)
	var j ci.Job
	e.Eventually(time.Minute, func() bool {
		e.Do("GET", "/api/v1/jobs/"+dj.JobID, nil, &j)
		return j.State == ci.StateDone
	}, "the debug job to end")
	if j.PipelineID == first.ID {
		t.Fatal("the debug job is in the original pipeline")
	}

	// The rerun is sent about.
	var rerun ci.Pipeline
	e.Do("POST", "/api/v1/pipelines/"+first.ID+"/rerun-failed", nil, &rerun, http.StatusCreated)
	e.Eventually(2*time.Minute, func() bool {
		var p ci.Pipeline
		e.Do("GET", "/api/v1/pipelines/"+rerun.ID, nil, &p)
		return p.State == ci.StateDone
	}, "the rerun to end")
	e.Eventually(30*time.Second, func() bool { return len(hook.got()) == 2 }, "%d messages, want 2", len(hook.got()))
	sent := map[string]bool{}
	for _, d := range deliveriesOf(e, "all") {
		sent[d.PipelineID] = true
	}
	if !sent[first.ID] || !sent[rerun.ID] {
		t.Errorf("deliveries for pipelines %v, want the first run %s and the rerun %s", sent, first.ID, rerun.ID)
	}
	if sent[j.PipelineID] {
		t.Errorf("the debug job's pipeline %s was sent about", j.PipelineID)
	}
	for _, b := range hook.got() {
		if strings.Contains(b, j.PipelineID) || strings.Contains(b, "Debug: ") {
			t.Errorf("a message is about the debug job: %s", b)
		}
	}
}
