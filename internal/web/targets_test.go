package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/vault"
)

// testTargetForms: project admins create, change and delete deployment
// targets on the Deployments page (rules and secret); writers see no
// forms and are refused, as are readers, outsiders and visitors; the
// forms need the CSRF token, bad rules are refused with the reason, and
// the secret's values are on no page.
func testTargetForms(t *testing.T, s *site) {
	s.e.Do("PUT", "/api/v1/projects/priv/members/creator", map[string]any{"role": "admin"}, nil)
	defer s.e.Do("DELETE", "/api/v1/projects/priv/members/creator", nil, nil)
	const value, fileValue, newValue = "dk-value-Zx81q", "kube-body-Pp20w", "nv-value-Rt55k"
	withCSRF := func(who string, v url.Values) url.Values {
		out := url.Values{"csrf": {s.csrf(who)}}
		for k, vs := range v {
			out[k] = vs
		}
		return out
	}
	noValues := func(who, body string) {
		t.Helper()
		for _, v := range []string{value, fileValue, newValue} {
			if strings.Contains(body, v) {
				t.Errorf("%s: a page shows a target secret's value", who)
			}
		}
	}
	getTarget := func(name string) *vault.TargetMeta {
		var m vault.TargetMeta
		s.e.Do("GET", "/api/v1/projects/priv/targets/"+name, nil, &m)
		return &m
	}

	if p := s.get(t, "writer", "/projects/priv/deployments"); p.status != 200 || strings.Contains(p.body, "Create target") || strings.Contains(p.body, "/targets") {
		t.Errorf("writer: status %d, or the page has the admin forms", p.status)
	}
	p := s.get(t, "creator", "/projects/priv/deployments")
	if p.status != 200 || !strings.Contains(p.body, "Create target") || !strings.Contains(p.body, `action="/projects/priv/targets"`) {
		t.Fatalf("admin: status %d, or no create form", p.status)
	}
	wellFormed(t, "deployments (admin, no targets)", p.body)

	create := url.Values{"name": {"web-prod"}, "description": {"Production"}, "users": {"writer, creator"}, "roles": {"admin"},
		"branches": {"main\n/^release-[0-9]{1,3}$/"}, "tags": {"/^v.*/"}, "allow_pull_requests": {"no"},
		"env": {"DEPLOY_KEY=" + value}, "file_path": {"/home/semaphore/.kube/config"}, "file_content": {fileValue}}
	for _, tc := range []struct {
		who, project string
		form         url.Values
		want         int
	}{
		{"anonymous", "pub", create, http.StatusUnauthorized},
		{"outsider", "priv", withCSRF("outsider", create), http.StatusNotFound},
		{"reader", "priv", withCSRF("reader", create), http.StatusForbidden},
		{"writer", "priv", withCSRF("writer", create), http.StatusForbidden},
		{"creator", "priv", create, http.StatusForbidden}, // no CSRF token
	} {
		if p := s.post(t, tc.who, "/projects/"+tc.project+"/targets", tc.form); p.status != tc.want {
			t.Errorf("%s creates a target in %s: status %d, want %d", tc.who, tc.project, p.status, tc.want)
		}
	}
	var none []*vault.TargetMeta
	s.e.Do("GET", "/api/v1/projects/priv/targets", nil, &none)
	s.e.Do("GET", "/api/v1/projects/pub/targets", nil, &none)
	if len(none) != 0 {
		t.Fatalf("a refused form created a target: %v", none)
	}

	if p := s.post(t, "creator", "/projects/priv/targets", withCSRF("creator", create)); p.status != http.StatusSeeOther {
		t.Fatalf("create target: status %d: %.300s", p.status, p.body)
	}
	m := getTarget("web-prod")
	if m.Description != "Production" || !slices.Equal(m.Users, []string{"writer", "creator"}) || !slices.Equal(m.Roles, []string{"admin"}) ||
		!slices.Equal(m.Branches, []string{"main", "/^release-[0-9]{1,3}$/"}) || !slices.Equal(m.Tags, []string{"/^v.*/"}) || m.AllowPRs ||
		!slices.Equal(m.EnvVars, []string{"DEPLOY_KEY"}) || !slices.Equal(m.Files, []string{"/home/semaphore/.kube/config"}) {
		t.Errorf("created target: %+v", m)
	}
	page := s.get(t, "creator", "/projects/priv/deployments?done=target-saved").body
	for _, want := range []string{"Deployment target saved.", `<h2 id="target-web-prod">web-prod</h2>`, "DEPLOY_KEY", "/home/semaphore/.kube/config",
		`action="/projects/priv/targets/web-prod"`, `action="/projects/priv/targets/web-prod/delete"`, `value="writer, creator"`, "/^release-[0-9]{1,3}$/"} {
		if !strings.Contains(page, want) {
			t.Errorf("the admin's deployments page lacks %q", want)
		}
	}
	wellFormed(t, "deployments (admin)", page)
	noValues("creator", page)
	wp := s.get(t, "writer", "/projects/priv/deployments").body
	if !strings.Contains(wp, "web-prod") || strings.Contains(wp, "DEPLOY_KEY") || strings.Contains(wp, "/targets/web-prod") {
		t.Error("the writer's page lacks the target, or shows its secret's names or the forms")
	}
	noValues("writer", wp)

	// Refusals with the reason, next to the form, and nothing changed.
	if p := s.post(t, "creator", "/projects/priv/targets", withCSRF("creator", create)); p.status != http.StatusConflict || !strings.Contains(p.body, `id="target-error"`) || !strings.Contains(p.body, "already has") {
		t.Errorf("duplicate target: status %d", p.status)
	}
	bad := withCSRF("creator", url.Values{"branches": {"/[unclosed/"}})
	if p := s.post(t, "creator", "/projects/priv/targets/web-prod", bad); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="target-error-web-prod"`) || !strings.Contains(p.body, "regular expression") {
		t.Errorf("bad branch pattern: status %d", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/targets/web-prod", withCSRF("creator", url.Values{"roles": {"read"}})); p.status != http.StatusBadRequest || !strings.Contains(p.body, "admin and write") {
		t.Errorf("role read: status %d", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/targets", withCSRF("creator", url.Values{"name": {"x"}, "env": {"no equals"}})); p.status != http.StatusBadRequest || !strings.Contains(p.body, "line 1") {
		t.Errorf("malformed variables: status %d", p.status)
	}
	if m := getTarget("web-prod"); len(m.Branches) != 2 || len(m.Roles) != 1 {
		t.Errorf("a refused change changed the target: %+v", m)
	}

	// Change: the rules are replaced, one variable added and one removed,
	// the file kept.
	change := url.Values{"description": {"Production cluster"}, "users": {""}, "roles": {"write", "admin"}, "branches": {"main"},
		"allow_pull_requests": {"yes"}, "env": {"NEW_KEY=" + newValue}, "remove_env": {"DEPLOY_KEY"}}
	for _, who := range []string{"writer", "reader"} {
		if p := s.post(t, who, "/projects/priv/targets/web-prod", withCSRF(who, change)); p.status != http.StatusForbidden {
			t.Errorf("%s changes the target: status %d, want 403", who, p.status)
		}
	}
	if p := s.post(t, "creator", "/projects/priv/targets/web-prod", change); p.status != http.StatusForbidden {
		t.Errorf("change without CSRF token: status %d, want 403", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/targets/web-prod", withCSRF("creator", change)); p.status != http.StatusSeeOther {
		t.Fatalf("change target: status %d: %.300s", p.status, p.body)
	}
	m = getTarget("web-prod")
	if m.Description != "Production cluster" || len(m.Users) != 0 || !slices.Equal(m.Roles, []string{"write", "admin"}) ||
		!slices.Equal(m.Branches, []string{"main"}) || len(m.Tags) != 0 || !m.AllowPRs ||
		!slices.Equal(m.EnvVars, []string{"NEW_KEY"}) || !slices.Equal(m.Files, []string{"/home/semaphore/.kube/config"}) {
		t.Errorf("changed target: %+v", m)
	}
	if p := s.post(t, "creator", "/projects/priv/targets/nothere", withCSRF("creator", change)); p.status != http.StatusNotFound {
		t.Errorf("change a missing target: status %d, want 404", p.status)
	}
	noValues("creator", s.get(t, "creator", "/projects/priv/deployments").body)

	// Delete.
	if p := s.post(t, "writer", "/projects/priv/targets/web-prod/delete", withCSRF("writer", nil)); p.status != http.StatusForbidden {
		t.Errorf("a writer deletes the target: status %d, want 403", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/targets/web-prod/delete", nil); p.status != http.StatusForbidden {
		t.Errorf("delete without CSRF token: status %d, want 403", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/targets/web-prod/delete", withCSRF("creator", nil)); p.status != http.StatusSeeOther {
		t.Fatalf("delete target: status %d: %.300s", p.status, p.body)
	}
	if p := s.get(t, "creator", "/projects/priv/deployments"); strings.Contains(p.body, "target-web-prod") {
		t.Error("a deleted target is still listed")
	}
}

// testOrgSecretPolicy: the organisation secrets form sets which projects
// may use a secret (all, the projects named, none), as `baton secret
// create --projects` does, and refuses a malformed policy with the reason.
func testOrgSecretPolicy(t *testing.T, s *site) {
	withCSRF := func(v url.Values) url.Values {
		v.Set("csrf", s.csrf("orgadmin"))
		return v
	}
	policy := func() (string, []string) {
		t.Helper()
		var views []apiv1.SecretView
		s.e.Do("GET", "/api/v1/secrets", nil, &views)
		for _, v := range views {
			if v.SecretMeta != nil && v.Name == "org-policy" {
				return v.ProjectAccess, v.Projects
			}
		}
		t.Fatal("org-policy is not listed")
		return "", nil
	}
	defer s.e.Do("DELETE", "/api/v1/secrets/org-policy", nil, nil)
	if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF(url.Values{"name": {"org-policy"}, "env": {"K=v-policy-Qa1"}, "project_access": {"allowed"}, "projects": {"pub, priv"}})); p.status != http.StatusSeeOther {
		t.Fatalf("save with projects: status %d: %.300s", p.status, p.body)
	}
	if access, projects := policy(); access != "allowed" || !slices.Equal(projects, []string{"priv", "pub"}) {
		t.Errorf("policy %s %v, want allowed [priv pub]", access, projects)
	}
	page := s.get(t, "orgadmin", "/settings/secrets").body
	if !strings.Contains(page, "<td>priv, pub</td>") || !strings.Contains(page, `name="project_access"`) {
		t.Error("the organisation secrets page does not show the secret's projects or the policy field")
	}
	wellFormed(t, "organisation secrets", page)
	if p := s.get(t, "creator", "/projects/priv/secrets"); strings.Contains(p.body, `name="project_access"`) {
		t.Error("a project's secrets form has the organisation policy field")
	}
	// Names only, with "keep": only those projects.
	if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF(url.Values{"name": {"org-policy"}, "projects": {"pub"}})); p.status != http.StatusSeeOther {
		t.Fatalf("change projects: status %d: %.300s", p.status, p.body)
	}
	if access, projects := policy(); access != "allowed" || !slices.Equal(projects, []string{"pub"}) {
		t.Errorf("policy %s %v, want allowed [pub]", access, projects)
	}
	// Keep: the policy stays.
	if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF(url.Values{"name": {"org-policy"}, "env": {"K2=v2-policy-Lk88"}})); p.status != http.StatusSeeOther {
		t.Fatalf("change variables: status %d", p.status)
	}
	if access, _ := policy(); access != "allowed" {
		t.Errorf("saving without a policy changed it to %s", access)
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"project_access": {"allowed"}}, "name the projects"},
		{url.Values{"project_access": {"none"}, "projects": {"pub"}}, "leave the names empty"},
		{url.Values{"project_access": {"some"}}, "choose all, none"},
		{url.Values{"projects": {"no-such-project"}}, "no-such-project"},
	} {
		tc.form.Set("name", "org-policy")
		if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF(tc.form)); p.status != http.StatusBadRequest || !strings.Contains(p.body, tc.want) {
			t.Errorf("%v: status %d, want 400 saying %q", tc.form, p.status, tc.want)
		}
	}
	if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF(url.Values{"name": {"org-policy"}, "project_access": {"none"}})); p.status != http.StatusSeeOther {
		t.Fatalf("policy none: status %d", p.status)
	}
	if access, _ := policy(); access != "none" {
		t.Errorf("policy %s, want none", access)
	}
	if !strings.Contains(s.get(t, "orgadmin", "/settings/secrets").body, "<td>none</td>") {
		t.Error("the page does not say no project may use the secret")
	}
	if p := s.post(t, "orgadmin", "/settings/secrets", withCSRF(url.Values{"name": {"org-policy"}, "project_access": {"all"}})); p.status != http.StatusSeeOther {
		t.Fatalf("policy all: status %d", p.status)
	}
	if access, _ := policy(); access != "all" {
		t.Errorf("policy %s, want all", access)
	}
}

// testCacheSizeSetting: the project settings form sets the project's
// cache size budget (a size with a unit; 0 the default; empty keeps it),
// refuses a malformed size with the reason, and only for admins.
func testCacheSizeSetting(t *testing.T, s *site) {
	s.e.Do("PUT", "/api/v1/projects/priv/members/creator", map[string]any{"role": "admin"}, nil)
	defer s.e.Do("DELETE", "/api/v1/projects/priv/members/creator", nil, nil)
	proj, err := s.e.Server.Store.GetProject(t.Context(), "priv")
	if err != nil {
		t.Fatal(err)
	}
	budget := func() int64 {
		t.Helper()
		n, err := s.e.Server.Store.CacheBudget(t.Context(), proj.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	form := func(who, size string) url.Values {
		return url.Values{"csrf": {s.csrf(who)}, "default_branch": {"main"}, "pipeline_file": {".semaphore/semaphore.yml"}, "visibility": {"private"}, "cache_size": {size}}
	}
	if p := s.get(t, "creator", "/projects/priv/settings"); !strings.Contains(p.body, `name="cache_size"`) {
		t.Error("the settings page has no cache size field")
	}
	before := budget()
	if p := s.post(t, "writer", "/projects/priv/settings", form("writer", "1GiB")); p.status != http.StatusForbidden {
		t.Errorf("a writer sets the cache size: status %d, want 403", p.status)
	}
	if p := s.post(t, "creator", "/projects/priv/settings", form("creator", "2GiB")); p.status != http.StatusSeeOther {
		t.Fatalf("set cache size: status %d: %.300s", p.status, p.body)
	}
	if n := budget(); n != 2<<30 {
		t.Errorf("budget %d after 2GiB (before %d)", n, before)
	}
	if p := s.post(t, "creator", "/projects/priv/settings", form("creator", "")); p.status != http.StatusSeeOther || budget() != 2<<30 {
		t.Errorf("an empty cache size: status %d, budget %d, want it kept", p.status, budget())
	}
	for _, bad := range []string{"lots", "5 parsecs", "-1GB"} {
		p := s.post(t, "creator", "/projects/priv/settings", form("creator", bad))
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Cache size:") || !strings.Contains(p.body, `value="`+bad+`"`) {
			t.Errorf("cache size %q: status %d, want 400 with the reason and the value kept", bad, p.status)
		}
	}
	if budget() != 2<<30 {
		t.Error("a refused size changed the budget")
	}
	if p := s.post(t, "creator", "/projects/priv/settings", form("creator", "500MB")); p.status != http.StatusSeeOther || budget() != 500e6 {
		t.Errorf("500MB: status %d, budget %d", p.status, budget())
	}
	if p := s.post(t, "creator", "/projects/priv/settings", form("creator", "0")); p.status != http.StatusSeeOther || budget() == 500e6 {
		t.Errorf("0: status %d, budget %d, want the default", p.status, budget())
	}
}

// testTargetRuleFromTheForm: a branch rule set with the Deployments page's
// form decides a promotion from the workflow page: refused with the
// reason while the rule names another branch, allowed once the form
// names the workflow's branch.
func testTargetRuleFromTheForm(t *testing.T, s *site) {
	pipeline := promotingPipeline[:strings.Index(promotingPipeline, "promotions:")] +
		"promotions:\n  - name: Ship\n    pipeline_file: deploy.yml\n    deployment_target: prod\n"
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": pipeline, ".semaphore/deploy.yml": deployPipeline})
	s.e.Do("POST", "/api/v1/projects", map[string]any{"name": "ruled", "repo_url": repo.URL(), "default_branch": "main"}, nil, http.StatusCreated)
	s.e.Do("PUT", "/api/v1/projects/ruled/members/creator", map[string]any{"role": "admin"}, nil)
	s.e.Do("PUT", "/api/v1/projects/ruled/members/writer", map[string]any{"role": "write"}, nil)
	rule := func(branch string) url.Values {
		return url.Values{"csrf": {s.csrf("creator")}, "roles": {"write"}, "branches": {branch}}
	}
	create := rule("release")
	create.Set("name", "prod")
	if p := s.post(t, "creator", "/projects/ruled/targets", create); p.status != http.StatusSeeOther {
		t.Fatalf("create target: status %d: %.300s", p.status, p.body)
	}
	var wf ci.Workflow
	s.e.Do("POST", "/api/v1/projects/ruled/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
	pl := s.e.WaitWorkflow(wf.ID, 30*time.Second).Pipelines[0].ID
	promote := url.Values{"csrf": {s.csrf("writer")}, "name": {"Ship"}}
	if p := s.post(t, "writer", "/pipelines/"+pl+"/promote", promote); p.status == http.StatusSeeOther || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, "release") {
		t.Errorf("promotion from main to a release-only target: status %d, want a refusal naming the rule: %.500s", p.status, p.body)
	}
	if p := s.post(t, "creator", "/projects/ruled/targets/prod", rule("main")); p.status != http.StatusSeeOther {
		t.Fatalf("change the rule: status %d: %.300s", p.status, p.body)
	}
	if p := s.post(t, "writer", "/pipelines/"+pl+"/promote", promote); p.status != http.StatusSeeOther {
		t.Errorf("promotion from main once the rule names main: status %d: %.300s", p.status, p.body)
	}
}
