package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

const promotingPipeline = `version: v1.0
name: Build
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Compile
          commands:
            - echo built
promotions:
  - name: Deploy
    pipeline_file: deploy.yml
    parameters:
      env_vars:
        - name: ENVIRONMENT
          description: Where to deploy
          required: true
          options: [staging, production]
          default_value: staging
        - name: TICKET
          required: true
`

const deployPipeline = `version: v1.0
name: Deploy
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Deploy
    task:
      jobs:
        - name: Push
          commands:
            - echo "deploying to $ENVIRONMENT for $TICKET"
`

// testPromotions: each pipeline lists its promotions; writers get a form
// with the parameters; a refused promotion shows the API's reason; a
// promoted pipeline appears beside the pipeline it came from.
func testPromotions(t *testing.T, s *site) {
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": promotingPipeline, ".semaphore/deploy.yml": deployPipeline})
	s.e.Do("POST", "/api/v1/projects", map[string]any{"name": "promo", "repo_url": repo.URL(), "default_branch": "main", "public": true}, nil, http.StatusCreated)
	s.e.Do("PUT", "/api/v1/projects/promo/members/writer", map[string]any{"role": "write"}, nil)
	var wf ci.Workflow
	s.e.Do("POST", "/api/v1/projects/promo/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	done := s.e.WaitWorkflow(wf.ID, 30*time.Second)
	pl := done.Pipelines[0].ID

	anon := s.get(t, "anonymous", "/workflows/"+wf.ID)
	if !strings.Contains(anon.body, "Promotions") || !strings.Contains(anon.body, "<strong>Deploy</strong>") {
		t.Fatal("the promotions are not listed")
	}
	if strings.Contains(anon.body, "/promote") {
		t.Error("a visitor gets a Promote form")
	}
	page := s.get(t, "writer", "/workflows/"+wf.ID)
	for _, want := range []string{`action="/pipelines/` + pl + `/promote"`, `name="param.ENVIRONMENT"`, `<option selected>staging</option>`, `<option>production</option>`, `name="param.TICKET"`, "Where to deploy"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the writer's promote form lacks %q", want)
		}
	}
	wellFormed(t, "workflow with promotions", page.body)

	// A reader of a public project may not promote.
	if p := s.post(t, "outsider", "/pipelines/"+pl+"/promote", url.Values{"csrf": {s.csrf("outsider")}, "name": {"Deploy"}}); p.status != http.StatusForbidden {
		t.Errorf("outsider promotes: status %d, want 403", p.status)
	}
	// A refusal (a required parameter is missing) shows the reason.
	p := s.post(t, "writer", "/pipelines/"+pl+"/promote", url.Values{"csrf": {s.csrf("writer")}, "name": {"Deploy"}, "param.ENVIRONMENT": {"staging"}})
	if p.status != http.StatusBadRequest || !regexp.MustCompile(`role="alert">[^<]*TICKET`).MatchString(p.body) {
		t.Errorf("refused promotion: status %d, want 400 with the reason naming TICKET", p.status)
	}
	if p := s.post(t, "writer", "/pipelines/"+pl+"/promote", url.Values{"csrf": {s.csrf("writer")}, "name": {"Nope"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, `role="alert"`) {
		t.Errorf("unknown promotion: status %d, want 400 with an alert", p.status)
	}

	p = s.post(t, "writer", "/pipelines/"+pl+"/promote", url.Values{"csrf": {s.csrf("writer")}, "name": {"Deploy"}, "param.ENVIRONMENT": {"production"}, "param.TICKET": {"OPS-1"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/workflows/"+wf.ID+"?done=promoted" {
		t.Fatalf("promote: status %d, Location %q: %.300s", p.status, p.header.Get("Location"), p.body)
	}
	var promoted *ci.Pipeline
	s.e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		s.e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		for _, x := range w.Pipelines {
			if x.PromotionOf == pl && x.State == ci.StateDone {
				promoted = x
			}
		}
		return promoted != nil
	}, "the promoted pipeline to finish")
	page = s.get(t, "anonymous", "/workflows/"+wf.ID)
	first, second := strings.Index(page.body, `id="pipeline-`+pl+`"`), strings.Index(page.body, `id="pipeline-`+promoted.ID+`"`)
	if first < 0 || second < first || !strings.Contains(page.body, `class="pipeline depth-1"`) || !strings.Contains(page.body, "Promoted from Build") {
		t.Error("the promoted pipeline is not shown after the one it came from")
	}
	if !strings.Contains(page.body, `href="#pipeline-`+promoted.ID+`">promoted by writer`) {
		t.Error("the promotion's run is not listed with who promoted")
	}
	// The waterfall puts the promoted pipeline's blocks under its name.
	timing := s.get(t, "anonymous", "/workflows/"+wf.ID+"/timing").body
	heading := strings.Index(timing, `promoted from Build`)
	if strings.Count(timing, `class="wf-row wf-pipeline"`) != 2 || heading < 0 ||
		!strings.Contains(timing[heading:], `wf-promoted`) || strings.Contains(timing[:heading], `wf-promoted`) {
		t.Errorf("the timing page does not say which pipeline the promoted blocks belong to:\n%s", timing)
	}
}

// testDeployments: writers see a project's deployment targets, their rules
// and latest deployments (without the secret's variable names, which are
// for admins); visitors and outsiders do not.
func testDeployments(t *testing.T, s *site) {
	pipeline := promotingPipeline[:strings.Index(promotingPipeline, "promotions:")] +
		"promotions:\n  - name: Deploy\n    pipeline_file: deploy.yml\n    deployment_target: staging\n    auto_promote:\n      when: \"result = 'passed'\"\n"
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline, ".semaphore/deploy.yml": deployPipeline})
	s.e.Do("POST", "/api/v1/projects", map[string]any{"name": "deploys", "repo_url": repo.URL(), "default_branch": "main", "public": true}, nil, http.StatusCreated)
	s.e.Do("PUT", "/api/v1/projects/deploys/members/writer", map[string]any{"role": "write"}, nil)
	s.e.Do("POST", "/api/v1/projects/deploys/targets", map[string]any{"name": "staging", "description": "The staging cluster",
		"branches": []string{"main"}, "env_vars": []map[string]string{{"name": "DEPLOY_TOKEN", "value": "t0k3n-value"}}}, nil, http.StatusCreated)
	var wf ci.Workflow
	s.e.Do("POST", "/api/v1/projects/deploys/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	s.e.Eventually(30*time.Second, func() bool {
		var w testenv.Workflow
		s.e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		return len(w.Pipelines) == 2 && w.Pipelines[1].State == ci.StateDone
	}, "the auto-promotion to staging to finish")

	page := s.get(t, "writer", "/projects/deploys/deployments")
	if page.status != http.StatusOK {
		t.Fatalf("writer: status %d", page.status)
	}
	for _, want := range []string{"<h2 id=\"target-staging\">staging</h2>", "The staging cluster", "<code>main</code>", "may not deploy", "Latest deployments", "<th scope=\"row\">Deploy</th>", "auto-promotion", "/workflows/" + wf.ID} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the deployments page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "DEPLOY_TOKEN") || strings.Contains(page.body, "t0k3n") {
		t.Error("a writer sees the target secret's variables")
	}
	wellFormed(t, "deployments", page.body)
	if p := s.get(t, "writer", "/projects/deploys"); !strings.Contains(p.body, `href="/projects/deploys/deployments"`) {
		t.Error("the project page does not link to its deployments for writers")
	}
	for who, want := range map[string]int{"anonymous": http.StatusUnauthorized, "outsider": http.StatusForbidden} {
		p := s.get(t, who, "/projects/deploys/deployments")
		if p.status != want || strings.Contains(p.body, "staging cluster") {
			t.Errorf("%s: status %d, want %d and no targets", who, p.status, want)
		}
		if p := s.get(t, who, "/projects/deploys"); strings.Contains(p.body, "/deployments") {
			t.Errorf("%s: the project page links to deployments", who)
		}
	}
}
