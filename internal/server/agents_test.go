package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

const holdPipeline = `version: v1.0
name: Hold
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Hold
    task:
      jobs:
        - name: Sleep
          commands:
            - sleep 600
`

// runningJobOf runs the project's pipeline on main and waits until its
// first job runs.
func runningJobOf(t *testing.T, e *testenv.Env, project string) string {
	t.Helper()
	wfID := run(t, e, project, "main")
	var job string
	e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wfID, nil, &w)
		for _, j := range w.Jobs() {
			if j.State == ci.StateRunning {
				job = j.ID
				return true
			}
		}
		return false
	}, "a running job")
	return job
}

// getAs calls the server with a token and returns the status and body.
func getAs(t *testing.T, e *testenv.Env, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.URL+path, nil)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentsShownToAdminsOnly: agent names, host names and running job
// IDs are for organisation admins; other signed-in users (a project's
// admin included) see per type how many agents there are and how many
// slots are free, in the API, the CLI's source and the web page.
func TestAgentsShownToAdminsOnly(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "build-box-7", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": holdPipeline})
	createProject(t, e, "app", repo, nil)
	job := runningJobOf(t, e, "app")
	user := addUser(t, e, "app", "proj-admin", "admin")

	var admin apiv1.AgentsView
	e.Do("GET", "/api/v1/agents", nil, &admin)
	if len(admin.Agents) != 1 || admin.Agents[0].Name != "build-box-7" || len(admin.Agents[0].Running) != 1 || admin.Agents[0].Running[0] != job {
		t.Fatalf("organisation admin sees %+v, want the agent with its running job", admin.Agents)
	}
	hostname := admin.Agents[0].Hostname
	want := []apiv1.AgentTypeView{{Type: "e1-standard-2", Agents: 1, Free: 1}}
	if len(admin.Types) != 1 || admin.Types[0] != want[0] {
		t.Errorf("types = %+v, want %+v", admin.Types, want)
	}

	code, body := getAs(t, e, user, "/api/v1/agents")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/agents as a project admin: %d %s", code, body)
	}
	var view map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &view); err != nil {
		t.Fatal(err)
	}
	if _, ok := view["agents"]; ok || view["types"] == nil {
		t.Errorf("a project admin gets %s, want only the types", body)
	}
	for _, secret := range []string{"build-box-7", hostname, job, admin.Agents[0].ID} {
		if secret != "" && strings.Contains(body, secret) {
			t.Errorf("the API shows a project admin %q: %s", secret, body)
		}
	}
	code, page := getAs(t, e, user, "/agents")
	if code != http.StatusOK || !strings.Contains(page, "e1-standard-2") {
		t.Fatalf("GET /agents as a project admin: %d\n%s", code, page)
	}
	for _, secret := range []string{"build-box-7", hostname, admin.Agents[0].ID} {
		if secret != "" && strings.Contains(page, secret) {
			t.Errorf("the agents page shows a project admin %q", secret)
		}
	}
	_, page = getAs(t, e, user, "/jobs/"+job)
	if strings.Contains(page, "build-box-7") {
		t.Error("the job page shows a project admin the agent's name")
	}
	_, page = getAs(t, e, e.Token, "/agents")
	if !strings.Contains(page, "build-box-7") {
		t.Error("the agents page does not show an organisation admin the agent")
	}
}

// TestRevokedAgentTokenStops: revoking the token a real agent registered
// with disconnects it at its next poll: its running job fails as with a
// lost agent, the agent stops (its token registers no more), and the
// token is listed as revoked.
func TestRevokedAgentTokenStopsItsAgents(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	ag := e.StartAgent(t, "a1", "e1-standard-2", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": holdPipeline})
	createProject(t, e, "app", repo, nil)
	job := runningJobOf(t, e, "app")

	var tokens []apiv1.AgentTokenView
	e.Do("GET", "/api/v1/agent-tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].Revoked || tokens[0].LastUsed.IsZero() {
		t.Fatalf("agent tokens = %+v, want the bootstrap token, used", tokens)
	}
	user := addUser(t, e, "app", "writer", "write")
	if code, _ := getAs(t, e, user, "/api/v1/agent-tokens"); code != http.StatusForbidden {
		t.Errorf("a writer lists agent tokens: %d, want 403", code)
	}
	revoked := time.Now()
	e.Do("DELETE", "/api/v1/agent-tokens/"+tokens[0].ID, nil, nil)
	e.Eventually(10*time.Second, func() bool {
		var j ci.Job
		e.Do("GET", "/api/v1/jobs/"+job, nil, &j)
		return j.State == ci.StateDone
	}, "the job of the revoked agent to end")
	if d := time.Since(revoked); d > 5*time.Second {
		t.Errorf("the job ended %v after the revocation", d)
	}
	var j ci.Job
	e.Do("GET", "/api/v1/jobs/"+job, nil, &j)
	if j.Result != ci.ResultFailed || j.Reason != ci.ReasonAgentLost {
		t.Errorf("job %s/%s, want failed/agent_lost", j.Result, j.Reason)
	}
	// The agent, refused, stops its job (a drain would otherwise wait
	// for its 10 minutes) and exits.
	done := make(chan struct{})
	go func() { ag.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not stop its job after its token was revoked")
	}
	if ag.Err == nil || !strings.Contains(ag.Err.Error(), "revoked") {
		t.Errorf("agent ended with %v, want its refusal", ag.Err)
	}
	var view apiv1.AgentsView
	e.Do("GET", "/api/v1/agents", nil, &view)
	if len(view.Agents) != 1 || view.Agents[0].State == string(ci.AgentConnected) {
		t.Errorf("agents = %+v, want the agent no longer connected", view.Agents)
	}
	e.Do("GET", "/api/v1/agent-tokens", nil, &tokens)
	if len(tokens) != 1 || !tokens[0].Revoked {
		t.Errorf("agent tokens = %+v, want it revoked", tokens)
	}
	e.Do("DELETE", "/api/v1/agent-tokens/nope", nil, nil, http.StatusNotFound)
}
