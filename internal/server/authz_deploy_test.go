package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// TestAuthorizationTableDeploymentJobs: the rows of the authorisation
// table for jobs that hold a deployment target's secrets. A shell in such
// a job (attach), a debug job of it and a rerun of its pipeline need the
// project's write role and, beyond it, the target's rules: here the user
// alice and the role admin. A writer the target does not allow is refused
// with the rule; a private project stays 404 to outsiders.
func TestAuthorizationTableDeploymentJobs(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{}) // no agent: the jobs wait
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": deployCI, ".semaphore/production.yml": deployProduction})
	createProject(t, e, "app", repo, nil) // private
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "production", "users": []string{"alice"}, "roles": []string{"admin"},
		"branches": []string{"main"}, "env_vars": []map[string]string{{"name": "DEPLOY_KEY", "value": "deploy-secret-value"}}}, nil, http.StatusCreated)
	tokens := map[string]string{
		orgAdmin:     e.Token,
		"alice":      addUser(t, e, "app", "alice", "write"),
		writer:       addUser(t, e, "app", "writer", "write"),
		projectAdmin: addUser(t, e, "app", "padmin", "admin"),
		reader:       addUser(t, e, "app", "reader", "read"),
	}
	var wf ci.Workflow
	e.Do("POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	var w testenv.Workflow
	e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
	var deploy ci.Pipeline
	e.Do("POST", "/api/v1/pipelines/"+w.Pipelines[0].ID+"/promote", map[string]any{"name": "Production", "override": true}, &deploy, http.StatusCreated)
	e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
	job := w.Jobs()["Ship/Ship"]
	if job == nil {
		t.Fatalf("no deployment job in %v", w.Jobs())
	}
	noRole := addUser(t, e, "app", "norole", "read")
	e.Do("DELETE", "/api/v1/projects/app/members/norole", nil, nil)
	tokens["no-role"] = noRole

	type row struct {
		method, path string
		body         string
		header       [2]string
	}
	rows := map[string]row{
		"attach": {method: "GET", path: "/api/v1/jobs/" + job.ID + "/ssh/connect", header: [2]string{"Upgrade", "baton-ssh"}},
		"debug":  {method: "POST", path: "/api/v1/jobs/" + job.ID + "/debug", body: "{}"},
		"rerun":  {method: "POST", path: "/api/v1/pipelines/" + deploy.ID + "/rerun-failed", body: "{}"},
	}
	const refusal = "may not deploy to production"
	for _, who := range []string{anonymous, "no-role", reader, writer, "alice", projectAdmin, orgAdmin} {
		for name, rw := range rows {
			t.Run(fmt.Sprintf("%s/%s", name, who), func(t *testing.T) {
				req, _ := http.NewRequestWithContext(t.Context(), rw.method, e.URL+rw.path, strings.NewReader(rw.body))
				if tok := tokens[who]; tok != "" {
					req.Header.Set("Authorization", "Token "+tok)
				}
				if rw.header[0] != "" {
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set(rw.header[0], rw.header[1])
				}
				code, body := doRead(t, req)
				switch who {
				case anonymous, "no-role":
					if code != http.StatusNotFound {
						t.Errorf("status %d, want 404 (a private project): %s", code, body)
					}
				case reader:
					if code != http.StatusForbidden || strings.Contains(body, refusal) {
						t.Errorf("status %d, want 403 for the write role: %s", code, body)
					}
				case writer:
					if code != http.StatusForbidden || !strings.Contains(body, "user writer "+refusal) {
						t.Errorf("status %d, want 403 saying the target refuses: %s", code, body)
					}
				default: // allowed by the target: refused for other reasons, if at all
					if strings.Contains(body, refusal) || code == http.StatusNotFound || code == http.StatusUnauthorized {
						t.Errorf("status %d, want allowed by the target: %s", code, body)
					}
					if name == "debug" && code != http.StatusCreated {
						t.Errorf("debug: status %d, want 201: %s", code, body)
					}
				}
			})
		}
	}
}

func doRead(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}
