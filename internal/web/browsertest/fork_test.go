package browsertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge/github"
	"github.com/batonci/baton/internal/testenv"
)

// forkPipeline's job needs a secret that does not allow forks.
const forkPipeline = `version: v1.0
name: Deploy check
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Publish
    task:
      secrets:
        - name: aws
      jobs:
        - name: Upload
          commands:
            - echo "uploading"
            - test -n "$AWS_KEY"
`

// TestForkPullRequestJobPage opens the job of a pull request from a fork
// whose secret was withheld: the page says so above the log and next to
// the failure without opening any section, the workflow is titled by the
// pull request and its author, the header shows the workflow's number and
// the agent's type in users' words, and the failed job's log fills the
// window.
func TestForkPullRequestJobPage(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "builder-7", "e1-standard-2", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": forkPipeline})
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "app", "repo_url": repo.URL(), "default_branch": "main", "public": true, "webhook_secret": "hook-s3cret"}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/projects/app/secrets", map[string]any{"name": "aws", "env_vars": []map[string]string{{"name": "AWS_KEY", "value": "aws-value-Zq81"}}}, nil, http.StatusCreated)

	base := repo.Git("rev-parse", "HEAD")
	fork := testenv.NewRepo(t, nil)
	fork.Git("fetch", "-q", repo.URL(), "main")
	fork.Git("checkout", "-q", "-b", "blue", "FETCH_HEAD")
	head := fork.Commit("make it blue", map[string]string{"blue.txt": "blue\n"})
	body := []byte(fmt.Sprintf(`{"action":"opened","number":8,"pull_request":{"number":8,"title":"Make the widget blue","state":"open","user":{"login":"grace"},
"head":{"ref":"blue","sha":%q,"repo":{"full_name":"forker/app","clone_url":%q}},
"base":{"ref":"main","sha":%q,"repo":{"full_name":"acme/app","clone_url":"https://example.com/acme/app.git"}}},
"repository":{"full_name":"acme/app"},"sender":{"login":"grace"}}`, head, fork.HTTPURL(), base))
	req, _ := http.NewRequest("POST", e.URL+"/hooks/app", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", "fork-1")
	req.Header.Set("X-Hub-Signature-256", github.Sign("hook-s3cret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Message string }
	json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	wfID, ok := strings.CutPrefix(answer.Message, "workflow ")
	if resp.StatusCode != http.StatusCreated || !ok {
		t.Fatalf("fork pull request: %d %s", resp.StatusCode, answer.Message)
	}
	wf := e.WaitWorkflow(wfID, 60*time.Second)
	if wf.Result != ci.ResultFailed {
		t.Fatalf("workflow %s, want failed (the secret is withheld)", wf.Result)
	}
	job := wf.Jobs()["Publish/Upload"]

	b := newBrowser(t)
	b.open(e.URL, "/projects/app")
	b.wait(10*time.Second, "the project's history", `document.body.innerText.includes('Make the widget blue')`)
	if text := eval[string](b, `document.querySelector('#history-h').parentElement.innerText`); !strings.Contains(text, "grace") || strings.Contains(text, "Merge ") || strings.Contains(text, "Baton") {
		t.Errorf("the pull request's workflow is not titled by its title and author:\n%s", text)
	}

	b.open(e.URL, "/jobs/"+job.ID)
	b.wait(10*time.Second, "the job's log", `document.querySelectorAll('#log-view .sec-h').length > 0`)
	notice := `secret "aws" withheld: this pull request comes from a fork`
	b.wait(5*time.Second, "the withheld notice", `(() => { const n = document.getElementById('withheld'); return n && n.getBoundingClientRect().height > 0 && n.innerText.includes(`+jsString(notice)+`) && n.innerText.includes('This job failed'); })()`)
	head1 := eval[string](b, `document.querySelector('.job-facts').innerText`)
	for _, want := range []string{"#1", "an e1-standard-2 agent", "a command failed", "(a secret was withheld)"} {
		if !strings.Contains(head1, want) {
			t.Errorf("job header lacks %q:\n%s", want, head1)
		}
	}
	// Agents' names are for organisation admins; a visitor sees the type.
	if strings.Contains(head1, "builder-7") {
		t.Errorf("the job header shows a visitor the agent's name:\n%s", head1)
	}
	if strings.Contains(head1, "Reason") || strings.Contains(head1, "test") {
		t.Errorf("job header shows internal words:\n%s", head1)
	}
	// The log box reaches the bottom of the window, though the log is
	// short.
	gap := eval[float64](b, `window.innerHeight - document.getElementById('log-view').getBoundingClientRect().bottom`)
	if gap < 0 || gap > 40 {
		t.Errorf("the log box ends %.0f px above the window's bottom, want it to fill the window", gap)
	}
	b.screenshot("job-fork-withheld")
	if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), "aws-value-Zq81") {
		t.Errorf("the secret's value is on the page")
	}
}
