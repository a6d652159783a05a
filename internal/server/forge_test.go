package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/forge/gitea"
	"github.com/batonci/baton/internal/forge/github"
	"github.com/batonci/baton/internal/testenv"
)

// prPipeline prints the git variables of a pull request, and whether the
// secret reached the job (never its value).
const prPipeline = `version: v1.0
name: PR
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Info
    dependencies: []
    task:
      secrets:
        - name: deploy-key
      jobs:
        - name: Vars
          commands:
            - echo "branch=[$SEMAPHORE_GIT_BRANCH] pr=$SEMAPHORE_GIT_PR_NUMBER name=[$SEMAPHORE_GIT_PR_NAME] prbranch=$SEMAPHORE_GIT_PR_BRANCH"
            - echo "prsha=$SEMAPHORE_GIT_PR_SHA slug=$SEMAPHORE_GIT_PR_SLUG reftype=$SEMAPHORE_GIT_REF_TYPE provider=$SEMAPHORE_GIT_PROVIDER"
            - echo "ref=$SEMAPHORE_GIT_REF sha=$SEMAPHORE_GIT_SHA"
            - if [ -n "$DEPLOY_KEY" ]; then echo key-present; else echo key-absent; fi
            - checkout
            - echo "checked-out=$(git rev-parse HEAD)"
            - cat feature.txt blue.txt 2>/dev/null; true
  - name: OnlyPR7
    dependencies: []
    run:
      when: "pull_request = '7'"
    task:
      jobs:
        - name: J
          commands: [echo pr7]
  - name: OnlyMain
    dependencies: []
    run:
      when: "branch = 'main'"
    task:
      jobs:
        - name: J
          commands: [echo main]
`

const deployKey = "deploy-key-value-Hq73Lm"

// hook posts a webhook delivery and returns its status and message.
func hook(t *testing.T, e *testenv.Env, project string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.URL+"/hooks/"+project, strings.NewReader(string(body)))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Message string }
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Message
}

func githubPR(action string, n int, title, baseSHA, headBranch, headSHA, headRepo, cloneURL string) []byte {
	return []byte(fmt.Sprintf(`{"action":%q,"number":%d,"pull_request":{"number":%d,"title":%q,"state":"open","user":{"login":"grace"},
"head":{"ref":%q,"sha":%q,"repo":{"full_name":%q,"clone_url":%q}},
"base":{"ref":"main","sha":%q,"repo":{"full_name":"acme/app","clone_url":"https://github.com/acme/app.git"}}},
"repository":{"full_name":"acme/app"},"sender":{"login":"ada"}}`, action, n, n, title, headBranch, headSHA, headRepo, cloneURL, baseSHA))
}

func githubHeaders(event, secret string, body []byte) map[string]string {
	return map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": fmt.Sprintf("%x", time.Now().UnixNano()),
		"X-Hub-Signature-256": github.Sign(secret, body)}
}

func workflowOf(t *testing.T, msg string) string {
	t.Helper()
	id, ok := strings.CutPrefix(msg, "workflow ")
	if !ok {
		t.Fatalf("delivery answered %q, not a workflow", msg)
	}
	return id
}

func TestGitHubPullRequests(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	statuses := forgetest.NewStatusServer(t)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": prPipeline, "README": "base\n"})
	createProject(t, e, "app", repo, map[string]any{"webhook_secret": "hook-s3cret",
		"forge": "github", "forge_url": statuses.URL(), "forge_repo": "acme/app", "forge_token": "ghp-token-123"})
	e.Do("POST", "/api/v1/projects/app/secrets", map[string]any{"name": "deploy-key",
		"env_vars": []map[string]string{{"name": "DEPLOY_KEY", "value": deployKey}}}, nil, http.StatusCreated)
	var p map[string]any
	e.Do("GET", "/api/v1/projects/app", nil, &p)
	if b, _ := json.Marshal(p); strings.Contains(string(b), "ghp-token-123") || strings.Contains(string(b), "hook-s3cret") {
		t.Errorf("the project's API view shows its token or webhook secret: %s", b)
	}

	base := repo.Git("rev-parse", "HEAD")
	repo.Git("checkout", "-q", "-b", "feature")
	head := repo.Commit("add a feature", map[string]string{"feature.txt": "feature\n"})
	repo.Git("checkout", "-q", "main")

	// A pull request from a branch of the same repository.
	body := githubPR("opened", 7, "Add a feature", base, "feature", head, "acme/app", repo.URL())
	code, msg := hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body)
	if code != http.StatusCreated {
		t.Fatalf("pull_request opened: %d %s", code, msg)
	}
	wf := e.WaitWorkflow(workflowOf(t, msg), 60*time.Second)
	if wf.Result != ci.ResultPassed || wf.RefType != "pull-request" || wf.PR != "7" || wf.Branch != "main" || wf.PRSHA != head {
		t.Fatalf("workflow = %+v", wf.Workflow)
	}
	if wf.SHA == head || wf.SHA == base {
		t.Errorf("workflow builds %s, want the merge commit of the head into the base", wf.SHA)
	}
	// Titled by the pull request and its author, not by the merge commit
	// Baton made.
	if wf.Message != "Add a feature" || wf.Author != "grace" {
		t.Errorf("pull request workflow titled %q by %q, want %q by %q", wf.Message, wf.Author, "Add a feature", "grace")
	}
	log := e.Log(wf.Jobs()["Info/Vars"].ID)
	for _, want := range []string{
		"branch=[main] pr=7 name=[Add a feature] prbranch=feature",
		"prsha=" + head + " slug=acme/app reftype=pull-request provider=github",
		"ref=refs/semaphoreci/" + wf.SHA + " sha=" + wf.SHA,
		"\nkey-present",
		// checkout on the agent gives the same merge commit, with the
		// head's change.
		"checked-out=" + wf.SHA,
		"\nfeature\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("job log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, deployKey) {
		t.Errorf("the secret's value is in the log")
	}
	// In conditions, a pull request has a number and no branch.
	jobs := wf.Jobs()
	if j := jobs["OnlyPR7/J"]; j.Result != ci.ResultPassed || j.Reason == ci.ReasonSkipped {
		t.Errorf("OnlyPR7 job = %s/%s, want it run", j.Result, j.Reason)
	}
	if j := jobs["OnlyMain/J"]; j.Reason != ci.ReasonSkipped {
		t.Errorf("OnlyMain job = %s/%s, want skipped (branch is empty on a pull request)", j.Result, j.Reason)
	}
	// Pending, then success, on the head commit, with the token.
	e.Eventually(10*time.Second, func() bool {
		var states []string
		for _, c := range statuses.Calls() {
			if c.Path == "/api/v3/repos/acme/app/statuses/"+head {
				states = append(states, c.Body["state"])
			}
		}
		return len(states) >= 2 && states[0] == "pending" && states[len(states)-1] == "success"
	}, "statuses pending then success on %s: %+v", head, statuses.Calls())
	for _, c := range statuses.Calls() {
		if c.Header.Get("Authorization") != "Bearer ghp-token-123" {
			t.Errorf("status posted with Authorization %q", c.Header.Get("Authorization"))
		}
		if !strings.HasSuffix(c.Body["target_url"], "/workflows/"+wf.ID) {
			t.Errorf("status target_url %q does not link to the workflow", c.Body["target_url"])
		}
	}

	metrics := get(t, e, "", "/metrics")
	if !strings.Contains(metrics, `baton_forge_statuses_total{outcome="sent"}`) || !strings.Contains(metrics, `baton_forge_statuses_total{outcome="failed"} 0`) {
		t.Errorf("metrics lack the forge status counters:\n%s", metrics)
	}

	// The same head again builds nothing.
	if code, msg := hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body); code != http.StatusOK {
		t.Errorf("same pull request head again: %d %s, want 200", code, msg)
	}

	// A pull request from a fork: its jobs get no secret that does not
	// allow forks.
	fork := testenv.NewRepo(t, nil)
	fork.Git("fetch", "-q", repo.URL(), "main")
	fork.Git("checkout", "-q", "-b", "blue", "FETCH_HEAD")
	forkHead := fork.Commit("make it blue", map[string]string{"blue.txt": "blue\n"})
	// A fork's clone URL comes from whoever opened the pull request: one
	// on the server's disk is refused.
	for _, local := range []string{fork.URL(), fork.Dir, "file:///etc"} {
		body = githubPR("opened", 8, "Make it blue", base, "blue", forkHead, "forker/app", local)
		code, msg = hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(msg, "only be used by organisation admins") {
			t.Errorf("fork pull request from %s: %d %s, want 422 naming the rule", local, code, msg)
		}
	}
	body = githubPR("opened", 8, "Make it blue", base, "blue", forkHead, "forker/app", fork.HTTPURL())
	code, msg = hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body)
	if code != http.StatusCreated {
		t.Fatalf("fork pull_request: %d %s", code, msg)
	}
	wf = e.WaitWorkflow(workflowOf(t, msg), 60*time.Second)
	if !wf.PRFork || wf.Result != ci.ResultPassed {
		t.Fatalf("fork workflow = %+v", wf.Workflow)
	}
	log = e.Log(wf.Jobs()["Info/Vars"].ID)
	for _, want := range []string{"withheld", "\nkey-absent", "slug=forker/app", "prsha=" + forkHead, "checked-out=" + wf.SHA, "\nblue\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("fork job log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, deployKey) || strings.Contains(log, "\nkey-present") {
		t.Errorf("the secret reached a fork's job:\n%s", log)
	}

	// Closing a pull request stops its running workflow.
	repo.Git("checkout", "-q", "feature")
	slow := repo.Commit("slow", map[string]string{".semaphore/semaphore.yml": strings.Replace(prPipeline, "- echo \"ref=", "- sleep 60\n            - echo \"ref=", 1)})
	repo.Git("checkout", "-q", "main")
	body = githubPR("synchronize", 7, "Add a feature", base, "feature", slow, "acme/app", repo.URL())
	code, msg = hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body)
	if code != http.StatusCreated {
		t.Fatalf("pull_request synchronize: %d %s", code, msg)
	}
	slowID := workflowOf(t, msg)
	e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+slowID, nil, &w)
		j := w.Jobs()["Info/Vars"]
		return j != nil && j.State == ci.StateRunning
	}, "the slow job runs")
	body = githubPR("closed", 7, "Add a feature", base, "feature", slow, "acme/app", repo.URL())
	if code, msg := hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body); code != http.StatusOK || !strings.Contains(msg, "1 workflow(s) stopped") {
		t.Errorf("pull_request closed: %d %s", code, msg)
	}
	if wf := e.WaitWorkflow(slowID, 30*time.Second); wf.Result != ci.ResultStopped {
		t.Errorf("closed pull request's workflow: %s, want stopped", wf.Result)
	}

	// Every delivery is recorded; one can be redelivered, which builds
	// again.
	var ds []struct {
		ID, Event, Status, Message string
		HTTPStatus                 int `json:"http_status"`
	}
	e.Do("GET", "/api/v1/projects/app/deliveries", nil, &ds)
	if len(ds) != 8 { // 5 built or answered, 3 refused forks
		t.Fatalf("deliveries = %+v, want 8", ds)
	}
	first := ds[len(ds)-1]
	if first.Event != "pull_request" || first.Status != "triggered" || first.HTTPStatus != http.StatusCreated {
		t.Errorf("first delivery = %+v", first)
	}
	var again struct {
		ID, Message  string
		RedeliveryOf string `json:"redelivery_of"`
	}
	e.Do("POST", "/api/v1/projects/app/deliveries/"+first.ID+"/redeliver", nil, &again)
	if again.RedeliveryOf != first.ID || !strings.HasPrefix(again.Message, "workflow ") {
		t.Errorf("redelivery = %+v", again)
	}
	e.Do("POST", "/api/v1/projects/app/deliveries/no-such-id/redeliver", nil, nil, http.StatusNotFound)
}

func TestWebhooksRejectBadDeliveries(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	// gh is public: a bad signature is 401 and says why. gl and gt are
	// private: a bad signature gets the 404 of a project that does not
	// exist.
	createProject(t, e, "gh", repo, map[string]any{"webhook_secret": "s1", "forge": "github", "public": true})
	createProject(t, e, "gl", repo, map[string]any{"webhook_secret": "s2", "forge": "gitlab"})
	createProject(t, e, "gt", repo, map[string]any{"webhook_secret": "s3", "forge": "gitea", "forge_url": "https://gitea.example.com"})
	sha := repo.Git("rev-parse", "HEAD")
	push := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":%q}`, sha))
	big := []byte(`{"ref":"` + strings.Repeat("x", 5<<20) + `"}`)
	for _, tc := range []struct {
		name, project string
		headers       map[string]string
		body          []byte
		want          int
	}{
		{"unknown project", "nope", githubHeaders("push", "s1", push), push, http.StatusNotFound},
		{"github unsigned", "gh", map[string]string{"X-GitHub-Event": "push"}, push, http.StatusUnauthorized},
		{"github wrong secret", "gh", githubHeaders("push", "s2", push), push, http.StatusUnauthorized},
		{"github too large", "gh", githubHeaders("push", "s1", big), big, http.StatusRequestEntityTooLarge},
		{"github malformed", "gh", githubHeaders("push", "s1", []byte("{x")), []byte("{x"), http.StatusBadRequest},
		{"gitlab no token", "gl", map[string]string{"X-Gitlab-Event": "Push Hook"}, push, http.StatusNotFound},
		{"gitlab wrong token", "gl", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s1"}, push, http.StatusNotFound},
		{"gitea unsigned", "gt", map[string]string{"X-Gitea-Event": "push"}, push, http.StatusNotFound},
		{"gitea signed by github's scheme", "gt", map[string]string{"X-Gitea-Event": "push", "X-Hub-Signature-256": github.Sign("s3", push)}, push, http.StatusNotFound},
		{"gitea wrong secret", "gt", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": gitea.Sign("s1", push)}, push, http.StatusNotFound},
	} {
		if code, msg := hook(t, e, tc.project, tc.headers, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, msg, tc.want)
		}
	}
	for _, p := range []string{"gh", "gl", "gt"} {
		var wfs []ci.Workflow
		e.Do("GET", "/api/v1/projects/"+p+"/workflows", nil, &wfs)
		if len(wfs) != 0 {
			t.Errorf("project %s: rejected deliveries created %d workflows", p, len(wfs))
		}
	}
	var ds []struct{ Status string }
	e.Do("GET", "/api/v1/projects/gh/deliveries", nil, &ds)
	if len(ds) != 4 {
		t.Errorf("project gh recorded %d deliveries, want 4 (all rejected)", len(ds))
	}
	for _, d := range ds {
		if d.Status != "rejected" {
			t.Errorf("delivery status %q, want rejected", d.Status)
		}
	}
}

func TestGitLabAndGiteaDeliveries(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	statuses := forgetest.NewStatusServer(t)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": prPipeline})
	createProject(t, e, "gl", repo, map[string]any{"webhook_secret": "gl-token", "forge": "gitlab",
		"forge_url": statuses.URL(), "forge_repo": "group/app", "forge_token": "glpat-1"})
	createProject(t, e, "gt", repo, map[string]any{"webhook_secret": "gt-secret", "forge": "gitea",
		"forge_url": statuses.URL(), "forge_repo": "ada/app", "forge_token": "gitea-1"})
	for _, name := range []string{"gl", "gt"} {
		e.Do("POST", "/api/v1/projects/"+name+"/secrets", map[string]any{"name": "deploy-key",
			"env_vars": []map[string]string{{"name": "DEPLOY_KEY", "value": deployKey}}}, nil, http.StatusCreated)
	}
	base := repo.Git("rev-parse", "HEAD")
	repo.Git("checkout", "-q", "-b", "topic")
	head := repo.Commit("topic work", map[string]string{"topic.txt": "t\n"})
	repo.Git("checkout", "-q", "main")

	// GitLab: a push, then a merge request (whose hook names no base
	// commit).
	push := []byte(fmt.Sprintf(`{"object_kind":"push","ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":%q,"user_username":"jsmith","project":{"path_with_namespace":"group/app"}}`, base))
	code, msg := hook(t, e, "gl", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gl-token"}, push)
	if code != http.StatusCreated {
		t.Fatalf("gitlab push: %d %s", code, msg)
	}
	if wf := e.WaitWorkflow(workflowOf(t, msg), 60*time.Second); wf.Result != ci.ResultPassed || wf.Branch != "main" {
		t.Errorf("gitlab push workflow = %+v", wf.Workflow)
	}
	mr := []byte(fmt.Sprintf(`{"object_kind":"merge_request","user":{"username":"jsmith"},"project":{"path_with_namespace":"group/app"},
"object_attributes":{"iid":3,"title":"Topic","action":"open","source_branch":"topic","target_branch":"main",
"source":{"path_with_namespace":"group/app","git_http_url":%q},"target":{"path_with_namespace":"group/app"},"last_commit":{"id":%q}}}`, repo.URL(), head))
	code, msg = hook(t, e, "gl", map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "gl-token"}, mr)
	if code != http.StatusCreated {
		t.Fatalf("gitlab merge request: %d %s", code, msg)
	}
	wf := e.WaitWorkflow(workflowOf(t, msg), 60*time.Second)
	log := e.Log(wf.Jobs()["Info/Vars"].ID)
	if !strings.Contains(log, "pr=3 name=[Topic] prbranch=topic") || !strings.Contains(log, "provider=gitlab") || !strings.Contains(log, "\nkey-present") {
		t.Errorf("gitlab merge request job log:\n%s", log)
	}

	// Gitea: a pull request.
	pr := []byte(fmt.Sprintf(`{"action":"opened","number":5,"pull_request":{"number":5,"title":"Topic",
"head":{"ref":"topic","sha":%q,"repo":{"full_name":"ada/app","clone_url":%q}},
"base":{"ref":"main","sha":%q,"repo":{"full_name":"ada/app"}}},"sender":{"login":"ada"}}`, head, repo.URL(), base))
	code, msg = hook(t, e, "gt", map[string]string{"X-Gitea-Event": "pull_request", "X-Gitea-Delivery": "d-1", "X-Gitea-Signature": gitea.Sign("gt-secret", pr)}, pr)
	if code != http.StatusCreated {
		t.Fatalf("gitea pull request: %d %s", code, msg)
	}
	wf = e.WaitWorkflow(workflowOf(t, msg), 60*time.Second)
	if log := e.Log(wf.Jobs()["Info/Vars"].ID); !strings.Contains(log, "pr=5 name=[Topic]") || !strings.Contains(log, "provider=git\n") {
		t.Errorf("gitea pull request job log:\n%s", log)
	}

	e.Eventually(10*time.Second, func() bool {
		seen := map[string]bool{}
		for _, c := range statuses.Calls() {
			seen[c.Path+" "+c.Body["state"]] = true
		}
		return seen["/api/v4/projects/group%2Fapp/statuses/"+base+" success"] &&
			seen["/api/v4/projects/group%2Fapp/statuses/"+head+" success"] &&
			seen["/api/v1/repos/ada/app/statuses/"+head+" success"]
	}, "gitlab and gitea statuses: %+v", statuses.Calls())
	for _, c := range statuses.Calls() {
		if strings.HasPrefix(c.Path, "/api/v4/") && c.Header.Get("PRIVATE-TOKEN") != "glpat-1" {
			t.Errorf("gitlab status sent with PRIVATE-TOKEN %q", c.Header.Get("PRIVATE-TOKEN"))
		}
		if strings.HasPrefix(c.Path, "/api/v1/") && c.Header.Get("Authorization") != "token gitea-1" {
			t.Errorf("gitea status sent with Authorization %q", c.Header.Get("Authorization"))
		}
	}
}
