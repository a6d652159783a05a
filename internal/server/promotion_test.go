package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
)

// The promotion scenario: CI on every push, staging deployed from
// develop and production from master automatically, a manual hotfix that
// only admins may run from release/*, and pull requests that never deploy.

const seedCI = `version: v1.0
name: CI
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Test
    task:
      jobs:
        - name: Unit
          commands:
            - echo "ci sees token=[${DEPLOY_TOKEN:-none}] file=[$(cat ~/.deploy/kubeconfig 2>/dev/null || echo none)]"
promotions:
  - name: Staging
    pipeline_file: staging.yml
    deployment_target: staging
    auto_promote:
      when: "result = 'passed' and (branch = 'develop' or pull_request =~ '.*')"
  - name: Production
    pipeline_file: production.yml
    deployment_target: production
    auto_promote:
      when: "result = 'passed' and branch = 'master'"
    parameters:
      env_vars:
        - name: REGION
          description: where to deploy
          required: true
          options: [eu, us]
          default_value: eu
        - name: NOTE
  - name: Hotfix
    pipeline_file: hotfix.yml
    deployment_target: hotfix
    parameters:
      env_vars:
        - name: TICKET
          required: true
`

const seedStaging = `version: v1.0
name: Deploy to staging
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Deploy
    task:
      jobs:
        - name: Ship
          commands:
            - echo "promoted=$SEMAPHORE_PIPELINE_PROMOTION by=$SEMAPHORE_PIPELINE_PROMOTED_BY"
            - echo "token sha=$(printf %s "$DEPLOY_TOKEN" | sha256sum | cut -c1-16)"
            - echo "file sha=$(cat ~/.deploy/kubeconfig | sha256sum | cut -c1-16)"
            - echo "token=$DEPLOY_TOKEN"
`

const seedProduction = `version: v1.0
name: Deploy ${{parameters.REGION}}
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Deploy
    task:
      jobs:
        - name: Ship
          commands:
            - echo "region=$REGION note=[$NOTE] token sha=$(printf %s "$DEPLOY_TOKEN" | sha256sum | cut -c1-16)"
            - sleep 1
`

const seedHotfix = `version: v1.0
name: Hotfix
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Deploy
    task:
      jobs:
        - name: Patch
          commands:
            - echo "hotfix for $TICKET"
`

func sha16(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}

// promotionView is the API's view of a pipeline's promotion.
type promotionView struct {
	Name             string `json:"name"`
	PipelineFile     string `json:"pipeline_file"`
	DeploymentTarget string `json:"deployment_target"`
	Auto             bool   `json:"auto"`
	Parameters       []struct {
		Name         string   `json:"name"`
		Required     bool     `json:"required"`
		DefaultValue string   `json:"default_value"`
		Options      []string `json:"options"`
	} `json:"parameters"`
	Runs []struct {
		PipelineID string    `json:"pipeline_id"`
		PromotedBy string    `json:"promoted_by"`
		Trigger    string    `json:"trigger"`
		CreatedAt  time.Time `json:"created_at"`
		State      ci.State  `json:"state"`
		Result     ci.Result `json:"result"`
		Refused    string    `json:"refused"`
	} `json:"runs"`
}

func promotionsOf(e *testenv.Env, pipelineID string) map[string]*promotionView {
	var vs []*promotionView
	e.Do("GET", "/api/v1/pipelines/"+pipelineID+"/promotions", nil, &vs)
	out := map[string]*promotionView{}
	for _, v := range vs {
		out[v.Name] = v
	}
	return out
}

// addUser creates a user with an API token and a role in a project.
func addUser(t *testing.T, e *testenv.Env, project, login, role string) string {
	t.Helper()
	var tok string
	err := e.Server.Store.Tx(t.Context(), func(tx *store.Tx) error {
		u := &ci.User{ID: ids.New(), Login: login}
		if err := tx.CreateUser(u, ""); err != nil {
			return err
		}
		var hash string
		tok, hash = auth.NewToken("bat_")
		if err := tx.CreateToken(&store.Token{UserID: u.ID, Name: "test", Hash: hash, Kind: store.TokenAPI}); err != nil {
			return err
		}
		p, err := tx.GetProject(project)
		if err != nil {
			return err
		}
		return tx.SetMember(&store.Member{ProjectID: p.ID, UserID: u.ID, Role: role})
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ciPipeline runs the CI on a branch and returns its first pipeline once
// the workflow's CI pipeline is done.
func ciPipeline(t *testing.T, e *testenv.Env, branch string) (*testenv.Workflow, *ci.Pipeline) {
	t.Helper()
	wf := e.WaitWorkflow(run(t, e, "app", branch), 60*time.Second)
	if wf.Pipelines[0].Result != ci.ResultPassed {
		t.Fatalf("CI on %s: %s %s", branch, wf.Pipelines[0].Result, wf.Pipelines[0].Reason)
	}
	return wf, wf.Pipelines[0]
}

// waitAutoPromotions waits until the engine has decided every
// auto-promotion of a pipeline that ended: the mark committed with its end
// is cleared once the last one is decided.
func waitAutoPromotions(t *testing.T, e *testenv.Env, pipelineID string) {
	t.Helper()
	e.Eventually(60*time.Second, func() bool {
		due, err := e.Server.Store.PromotionsDue(t.Context())
		if err != nil {
			return false
		}
		for _, p := range due {
			if p.ID == pipelineID {
				return false
			}
		}
		return true
	}, "the auto-promotions of pipeline %s decided", pipelineID)
}

// waitPromoted waits until a pipeline's promotion has n runs and the
// pipelines they created are done, and returns them.
func waitPromoted(t *testing.T, e *testenv.Env, pipelineID, name string, n int) *promotionView {
	t.Helper()
	var v *promotionView
	e.Eventually(60*time.Second, func() bool {
		v = promotionsOf(e, pipelineID)[name]
		if v == nil || len(v.Runs) < n {
			return false
		}
		for _, r := range v.Runs {
			if r.Refused == "" && r.State != ci.StateDone {
				return false
			}
		}
		return true
	}, "%d run(s) of promotion %s of %s", n, name, pipelineID)
	if len(v.Runs) != n {
		t.Fatalf("promotion %s has %d runs, want %d", name, len(v.Runs), n)
	}
	return v
}

func jobOf(t *testing.T, e *testenv.Env, pipelineID string) *ci.Job {
	t.Helper()
	var p ci.Pipeline
	e.Do("GET", "/api/v1/pipelines/"+pipelineID, nil, &p)
	if len(p.Blocks) == 0 || len(p.Blocks[0].Jobs) == 0 {
		t.Fatalf("pipeline %s has no jobs", pipelineID)
	}
	return p.Blocks[0].Jobs[0]
}

func TestPromotionsAndDeploymentTargets(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 3)
	statuses := forgetest.NewStatusServer(t)
	repo := testenv.NewRepo(t, map[string]string{
		".semaphore/semaphore.yml": seedCI, ".semaphore/staging.yml": seedStaging,
		".semaphore/production.yml": seedProduction, ".semaphore/hotfix.yml": seedHotfix,
	})
	for _, b := range []string{"develop", "master", "feature", "release/1.0"} {
		repo.Git("branch", b)
	}
	repo.Git("checkout", "-q", "feature")
	repo.Commit("a feature", map[string]string{"feature.txt": "feature\n"})
	repo.Git("checkout", "-q", "main")
	createProject(t, e, "app", repo, map[string]any{"public": true, "webhook_secret": "hook-s3cret",
		"forge": "github", "forge_url": statuses.URL(), "forge_repo": "acme/app", "forge_token": "ghp-token-123"})
	writer := addUser(t, e, "app", "wendy", "write")
	admin := addUser(t, e, "app", "alice", "admin")

	const (
		stagingToken = "staging-token-Xq81mPz"
		stagingFile  = "apiVersion: v1 # staging kubeconfig Lk2"
		prodToken    = "production-token-Zz93Rw"
	)
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "staging", "branches": []string{"develop"},
		"env_vars": []map[string]string{{"name": "DEPLOY_TOKEN", "value": stagingToken}},
		"files":    []map[string]string{{"path": ".deploy/kubeconfig", "content": base64.StdEncoding.EncodeToString([]byte(stagingFile))}},
	}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "production", "users": []string{"auto"}, "roles": []string{"admin"},
		"branches": []string{"master"}, "env_vars": []map[string]string{{"name": "DEPLOY_TOKEN", "value": prodToken}}}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "hotfix", "roles": []string{"admin"},
		"branches": []string{`/^release\/.+$/`}, "description": "emergency fixes"}, nil, http.StatusCreated)
	// Writers cannot change targets; nobody reads the secret back.
	e.DoAs(writer, "POST", "/api/v1/projects/app/targets", map[string]any{"name": "mine"}, nil, http.StatusForbidden)
	var targets []map[string]any
	e.DoAs(writer, "GET", "/api/v1/projects/app/targets", nil, &targets)
	e.Do("GET", "/api/v1/projects/app/targets/staging", nil, nil)
	if b, _ := json.Marshal(targets); len(targets) != 3 || strings.Contains(string(b), "DEPLOY_TOKEN") || strings.Contains(string(b), stagingToken) {
		t.Errorf("a writer's target list: %s", b)
	}
	var st map[string]any
	e.Do("GET", "/api/v1/projects/app/targets/staging", nil, &st)
	if b, _ := json.Marshal(st); !strings.Contains(string(b), `"DEPLOY_TOKEN"`) || strings.Contains(string(b), stagingToken) {
		t.Errorf("an admin's view of a target: %s", b)
	}
	// Anonymous visitors of the public project see no targets.
	e.DoAs("", "GET", "/api/v1/projects/app/targets", nil, nil, http.StatusUnauthorized)

	// develop: CI, then only staging, automatically, with its secret.
	devWF, devCI := ciPipeline(t, e, "develop")
	stg := waitPromoted(t, e, devCI.ID, "Staging", 1)
	if r := stg.Runs[0]; r.Trigger != "auto" || r.PromotedBy != "auto-promotion" || r.Result != ci.ResultPassed {
		t.Errorf("staging run = %+v", r)
	}
	waitAutoPromotions(t, e, devCI.ID) // a wrong auto-promotion would show now
	prs := promotionsOf(e, devCI.ID)
	if len(prs["Production"].Runs) != 0 || len(prs["Hotfix"].Runs) != 0 {
		t.Errorf("develop promoted more than staging: %+v %+v", prs["Production"].Runs, prs["Hotfix"].Runs)
	}
	if p := prs["Production"]; !p.Auto || p.DeploymentTarget != "production" || len(p.Parameters) != 2 ||
		!p.Parameters[0].Required || p.Parameters[0].DefaultValue != "eu" || strings.Join(p.Parameters[0].Options, ",") != "eu,us" {
		t.Errorf("production promotion = %+v", p)
	}
	var staged ci.Pipeline
	e.Do("GET", "/api/v1/pipelines/"+stg.Runs[0].PipelineID, nil, &staged)
	if staged.WorkflowID != devWF.ID || staged.PromotionOf != devCI.ID || staged.PromotedBy != "auto-promotion" ||
		staged.Promotion != "Staging" || staged.DeploymentTarget != "staging" || staged.Queue != "deployment target staging" {
		t.Errorf("staging pipeline = %+v", staged)
	}
	log := e.Log(staged.Blocks[0].Jobs[0].ID)
	for _, want := range []string{"promoted=true by=auto-promotion", "token sha=" + sha16(stagingToken), "file sha=" + sha16(stagingFile+"")} {
		if !strings.Contains(log, want) {
			t.Errorf("staging log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, stagingToken) {
		t.Errorf("the staging log shows the target's token:\n%s", log)
	}
	// The CI jobs of the same workflow never see the target's secret.
	if log := e.Log(devCI.Blocks[0].Jobs[0].ID); !strings.Contains(log, "ci sees token=[none] file=[none]") {
		t.Errorf("CI log:\n%s", log)
	}
	// The workflow lists the promoted pipeline beside the CI one.
	w := e.WaitWorkflow(devWF.ID, 30*time.Second)
	if len(w.Pipelines) != 2 || w.Pipelines[1].ID != staged.ID {
		t.Errorf("develop workflow has %d pipelines", len(w.Pipelines))
	}
	// Anonymous readers see the promotions but not the targets.
	var anon []promotionView
	e.DoAs("", "GET", "/api/v1/pipelines/"+devCI.ID+"/promotions", nil, &anon)
	var anonP map[string]any
	e.DoAs("", "GET", "/api/v1/pipelines/"+staged.ID, nil, &anonP)
	if b, _ := json.Marshal(anon); len(anon) != 3 || strings.Contains(string(b), "staging\"") || anonP["deployment_target"] != nil || anonP["queue"] != "" {
		t.Errorf("anonymous sees targets: %s / %v", b, anonP["deployment_target"])
	}

	// master: only production, with the parameters' defaults.
	_, masterCI := ciPipeline(t, e, "master")
	prod := waitPromoted(t, e, masterCI.ID, "Production", 1)
	waitAutoPromotions(t, e, masterCI.ID)
	if prs := promotionsOf(e, masterCI.ID); len(prs["Staging"].Runs) != 0 {
		t.Errorf("master promoted staging: %+v", prs["Staging"].Runs)
	}
	var autoProd ci.Pipeline
	e.Do("GET", "/api/v1/pipelines/"+prod.Runs[0].PipelineID, nil, &autoProd)
	if autoProd.Name != "Deploy eu" || autoProd.Result != ci.ResultPassed {
		t.Errorf("auto production pipeline = %q %s", autoProd.Name, autoProd.Result)
	}
	if log := e.Log(autoProd.Blocks[0].Jobs[0].ID); !strings.Contains(log, "region=eu note=[] token sha="+sha16(prodToken)) {
		t.Errorf("production log:\n%s", log)
	}

	// feature: nothing is promoted.
	_, featCI := ciPipeline(t, e, "feature")
	waitAutoPromotions(t, e, featCI.ID)
	for name, p := range promotionsOf(e, featCI.ID) {
		if len(p.Runs) != 0 {
			t.Errorf("feature promoted %s: %+v", name, p.Runs)
		}
	}

	// Manual promotions that the rules forbid: 403 with the reason.
	promote := func(token, pipelineID, name string, params map[string]string, want int) (ci.Pipeline, string) {
		t.Helper()
		var out ci.Pipeline
		body := map[string]any{"name": name, "parameters": params}
		if want != http.StatusCreated {
			code, msg := promoteMessage(t, e, token, pipelineID, body)
			if code != want {
				t.Errorf("promote %s of %s: status %d (%s), want %d", name, pipelineID, code, msg, want)
			}
			return out, msg
		}
		e.DoAs(token, "POST", "/api/v1/pipelines/"+pipelineID+"/promote", body, &out, want)
		return out, ""
	}
	for _, tc := range []struct {
		name, token, pipeline, promotion string
		params                           map[string]string
		code                             int
		want                             string
	}{
		{"writer to an admins' target", writer, masterCI.ID, "Production", nil, http.StatusForbidden, "user wendy may not deploy to production: it allows the users auto and the roles admin"},
		{"admin from a branch that may not deploy", admin, masterCI.ID, "Hotfix", map[string]string{"TICKET": "T-1"}, http.StatusForbidden, `branch master may not deploy to hotfix: it allows the branches /^release\/.+$/`},
		{"unknown promotion", admin, masterCI.ID, "Canary", nil, http.StatusBadRequest, `has no promotion "Canary" (it declares "Staging", "Production", "Hotfix")`},
		{"option not allowed", admin, masterCI.ID, "Production", map[string]string{"REGION": "mars"}, http.StatusBadRequest, `parameter REGION must be one of eu, us, got "mars"`},
		{"undeclared parameter", admin, masterCI.ID, "Production", map[string]string{"REGON": "eu"}, http.StatusBadRequest, "has no parameter REGON (it takes REGION, NOTE)"},
	} {
		_, msg := promote(tc.token, tc.pipeline, tc.promotion, tc.params, tc.code)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message %q, want %q", tc.name, msg, tc.want)
		}
	}
	// A required parameter without a default, from an allowed branch.
	_, relCI := ciPipeline(t, e, "release/1.0")
	if _, msg := promote(admin, relCI.ID, "Hotfix", nil, http.StatusBadRequest); !strings.Contains(msg, `parameter TICKET of promotion "Hotfix" is required`) {
		t.Errorf("missing TICKET: %q", msg)
	}
	if _, msg := promote(writer, relCI.ID, "Hotfix", map[string]string{"TICKET": "T-9"}, http.StatusForbidden); !strings.Contains(msg, "user wendy may not deploy to hotfix") {
		t.Errorf("writer hotfix: %q", msg)
	}
	hot, _ := promote(admin, relCI.ID, "Hotfix", map[string]string{"TICKET": "T-42"}, http.StatusCreated)
	// The pipeline's promotions list the refused run, who asked and why,
	// then the one that ran.
	hotV := waitPromoted(t, e, relCI.ID, "Hotfix", 2)
	if r := hotV.Runs[0]; r.PromotedBy != "wendy" || r.Trigger != "manual" || r.PipelineID != "" ||
		!strings.Contains(r.Refused, "user wendy may not deploy to hotfix") {
		t.Errorf("refused hotfix run = %+v", r)
	}
	if hotV.Runs[1].PromotedBy != "alice" || hotV.Runs[1].Trigger != "manual" || hotV.Runs[1].Result != ci.ResultPassed {
		t.Errorf("hotfix run = %+v", hotV.Runs[1])
	}
	if log := e.Log(jobOf(t, e, hot.ID).ID); !strings.Contains(log, "hotfix for T-42") {
		t.Errorf("hotfix log:\n%s", log)
	}

	// Refusals are audited.
	var events []struct {
		Action, Actor, Target, Detail string
	}
	e.Do("GET", "/api/v1/audit", nil, &events)
	refusals := 0
	for _, ev := range events {
		if ev.Action == "promotion.refused" {
			refusals++
			if ev.Actor == "wendy" && !strings.Contains(ev.Detail, "may not deploy") {
				t.Errorf("audit detail = %q", ev.Detail)
			}
		}
	}
	if refusals < 3 {
		t.Errorf("%d refused promotions audited, want at least 3: %+v", refusals, events)
	}

	// Two manual deployments to production run one at a time, in order,
	// with their parameters as variables and in templates.
	p1, _ := promote(admin, masterCI.ID, "Production", map[string]string{"REGION": "us", "NOTE": "first"}, http.StatusCreated)
	p2, _ := promote(admin, masterCI.ID, "Production", map[string]string{"NOTE": "second"}, http.StatusCreated)
	// While the second waits behind the first (which sleeps), its job says
	// why, naming the target's queue to writers only.
	var waiting ci.Pipeline
	e.Do("GET", "/api/v1/pipelines/"+p2.ID, nil, &waiting)
	if len(waiting.Blocks) == 0 || len(waiting.Blocks[0].Jobs) == 0 {
		t.Fatalf("second deployment has no job: %+v", waiting)
	}
	var asAdmin, asAnon struct {
		WaitReason string `json:"wait_reason"`
	}
	jobPath := "/api/v1/jobs/" + waiting.Blocks[0].Jobs[0].ID
	e.Do("GET", jobPath, nil, &asAdmin)
	// A deployment's job is its project members' to see (deployment
	// details are private by default).
	e.DoAs("", "GET", jobPath, nil, &asAnon, http.StatusUnauthorized)
	if !strings.Contains(asAdmin.WaitReason, "deployment target production") {
		t.Errorf("the admin's wait reason = %q, want the target's queue", asAdmin.WaitReason)
	}
	prod = waitPromoted(t, e, masterCI.ID, "Production", 4) // auto, wendy's refused, p1, p2
	var d1, d2 ci.Pipeline
	e.Do("GET", "/api/v1/pipelines/"+p1.ID, nil, &d1)
	e.Do("GET", "/api/v1/pipelines/"+p2.ID, nil, &d2)
	if d1.Name != "Deploy us" || d2.Name != "Deploy eu" || d1.PromotedBy != "alice" {
		t.Errorf("promoted pipelines %q (by %s), %q", d1.Name, d1.PromotedBy, d2.Name)
	}
	if d2.StartedAt.Before(d1.DoneAt) {
		t.Errorf("deployments overlapped: second started %v, first done %v", d2.StartedAt, d1.DoneAt)
	}
	if log := e.Log(d1.Blocks[0].Jobs[0].ID); !strings.Contains(log, "region=us note=[first]") {
		t.Errorf("first deployment log:\n%s", log)
	}
	if log := e.Log(d2.Blocks[0].Jobs[0].ID); !strings.Contains(log, "region=eu note=[second]") {
		t.Errorf("second deployment log:\n%s", log)
	}

	// Rerunning a deployment deploys again: the target's rules apply.
	e.DoAs(writer, "POST", "/api/v1/pipelines/"+d1.ID+"/rerun-failed", nil, nil, http.StatusForbidden)
	e.DoAs(admin, "POST", "/api/v1/pipelines/"+d1.ID+"/rerun-failed", nil, nil, http.StatusConflict) // it passed

	// A pull request: its auto-promotion to staging is refused, and so is
	// a manual one.
	base := repo.Git("rev-parse", "main")
	head := repo.Git("rev-parse", "feature")
	body := githubPR("opened", 7, "Add a feature", base, "feature", head, "acme/app", repo.URL())
	code, msg := hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body)
	if code != http.StatusCreated {
		t.Fatalf("pull_request opened: %d %s", code, msg)
	}
	prWF := e.WaitWorkflow(workflowOf(t, msg), 60*time.Second)
	prCI := prWF.Pipelines[0]
	if prCI.Result != ci.ResultPassed {
		t.Fatalf("pull request CI: %s %s\n%s", prCI.Result, prCI.Reason, e.Log(prCI.Blocks[0].Jobs[0].ID))
	}
	refused := waitPromoted(t, e, prCI.ID, "Staging", 1)
	if r := refused.Runs[0]; r.Refused != "pull requests may not deploy to staging" || r.PipelineID != "" {
		t.Errorf("pull request auto-promotion = %+v", r)
	}
	if _, msg := promote(admin, prCI.ID, "Staging", nil, http.StatusForbidden); msg != "pull requests may not deploy to staging" {
		t.Errorf("pull request manual promotion: %q", msg)
	}
	if w := e.WaitWorkflow(prWF.ID, 10*time.Second); len(w.Pipelines) != 1 {
		t.Errorf("the pull request's workflow has %d pipelines, want 1", len(w.Pipelines))
	}

	// History per target, newest first.
	var hist []struct {
		Promotion, SHA, Branch, Trigger string
		PipelineID                      string `json:"pipeline_id"`
		PromotedBy                      string `json:"promoted_by"`
		Refused                         string
		Result                          ci.Result
		WorkflowNumber                  int `json:"workflow_number"`
		Parameters                      map[string]string
	}
	e.DoAs(writer, "GET", "/api/v1/projects/app/targets/production/history", nil, &hist)
	if len(hist) != 4 || hist[0].PipelineID != p2.ID || hist[3].PipelineID != autoProd.ID ||
		hist[3].PromotedBy != "auto-promotion" || hist[0].PromotedBy != "alice" || hist[0].Branch != "master" ||
		hist[0].SHA == "" || hist[1].Parameters["REGION"] != "us" || hist[3].Result != ci.ResultPassed ||
		hist[2].PromotedBy != "wendy" || !strings.Contains(hist[2].Refused, "user wendy may not deploy to production") {
		t.Errorf("production history = %+v", hist)
	}
	hist = nil
	e.Do("GET", "/api/v1/projects/app/targets/staging/history", nil, &hist)
	if len(hist) != 3 || hist[0].Refused != "pull requests may not deploy to staging" || hist[0].Trigger != "manual" ||
		hist[1].Refused != "pull requests may not deploy to staging" || hist[1].Trigger != "auto" || hist[2].Result != ci.ResultPassed {
		t.Errorf("staging history (a deployment, a refused auto-promotion, a refused promotion by hand) = %+v", hist)
	}
}

// promoteMessage posts a promotion expected to fail and returns the
// status and the error's message.
func promoteMessage(t *testing.T, e *testenv.Env, token, pipelineID string, body map[string]any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.URL+"/api/v1/pipelines/"+pipelineID+"/promote", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Message string }
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Message
}
