package web_test

import (
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/web"
)

// The pages are tested against a real server (testenv: real SQLite, a real
// agent running real jobs from a real git repository), through HTTP, as
// the kinds of visitor the pages tell apart.

// pipeline has blocks in three columns: Build; Test and Lint after it;
// Ship after both.
const pipeline = `version: v1.0
name: Main
agent:
  machine:
    type: %s
blocks:
  - name: Build
    dependencies: []
    task:
      jobs:
        - name: Compile
          commands:
            - echo compiling
            - sleep 0.3
  - name: Test
    dependencies: [Build]
    task:
      jobs:
        - name: Unit
          commands:
            - echo testing
            - %s
  - name: Lint
    dependencies: [Build]
    task:
      jobs:
        - name: Vet
          commands:
            - echo vetting
  - name: Ship
    dependencies: [Test, Lint]
    task:
      jobs:
        - name: Package
          commands:
            - echo shipping
`

const password = "correct horse battery"

// secretName is a project secret's name, which visitors must never see.
const secretName = "DEPLOY_KEY_SECRET"

// site is a server with projects in every state and a visitor of each
// kind.
type site struct {
	e    *testenv.Env
	repo *testenv.Repo
	// workflows by name: pub-main (passed), pub-bad (failed), pub-slow
	// (running: no agent of its type; a warning), pub-broken (invalid file),
	// priv-main.
	wf map[string]string
	// tokens and sessions by visitor: writer (write role in both
	// projects), reader (read role in priv), outsider (no role), creator
	// (no role, may create projects).
	tokens   map[string]string
	sessions map[string]*visitor
}

// visitor is a browser: a cookie jar with a signed-in session.
type visitor struct {
	client *http.Client
	csrf   string
}

func newSite(t *testing.T) *site {
	t.Helper()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "worker-1", "e1-standard-2", 4)
	s := &site{e: e, wf: map[string]string{}, tokens: map[string]string{}, sessions: map[string]*visitor{}}
	s.repo = testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(pipeline, "e1-standard-2", "true")})
	s.repo.Git("checkout", "-q", "-b", "bad")
	s.repo.Commit("Break the tests", map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(pipeline, "e1-standard-2", "false")})
	s.repo.Git("checkout", "-q", "-b", "slow", "main")
	// Its file repeats a key, which Baton reads as Semaphore does, with a
	// warning.
	s.repo.Commit("Wait for a machine", map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(pipeline, "e1-nowhere", "true") + "name: Repeated\n"})
	s.repo.Git("checkout", "-q", "-b", "broken", "main")
	s.repo.Commit("Break the file", map[string]string{".semaphore/semaphore.yml": "version: v1.0\nname: Broken\nblocks:\n  - name: A\n    task:\n      jobs: 3\n"})
	s.repo.Git("checkout", "-q", "main")

	for _, p := range []struct {
		name   string
		public bool
	}{{"pub", true}, {"priv", false}} {
		e.Do("POST", "/api/v1/projects", map[string]any{"name": p.name, "repo_url": s.repo.URL(), "default_branch": "main", "public": p.public}, nil, http.StatusCreated)
		e.Do("POST", "/api/v1/projects/"+p.name+"/secrets", map[string]any{"name": secretName, "env_vars": []map[string]string{{"name": "SECRET_VAR_NAME", "value": "hunter2"}}}, nil, http.StatusCreated)
	}
	run := func(project, branch string) string {
		var wf ci.Workflow
		e.Do("POST", "/api/v1/projects/"+project+"/workflows", map[string]any{"branch": branch}, &wf, http.StatusCreated)
		return wf.ID
	}
	s.wf["pub-main"] = run("pub", "main")
	s.wf["pub-bad"] = run("pub", "bad")
	s.wf["pub-slow"] = run("pub", "slow")
	s.wf["pub-broken"] = run("pub", "broken")
	s.wf["priv-main"] = run("priv", "main")
	for _, name := range []string{"pub-main", "pub-bad", "pub-broken", "priv-main"} {
		e.WaitWorkflow(s.wf[name], 30*time.Second)
	}

	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]map[string]string{"writer": {"pub": "write", "priv": "write"}, "reader": {"priv": "read"}, "outsider": {}, "creator": {}, "orgadmin": {}}
	err = e.Server.Store.Tx(t.Context(), func(tx *store.Tx) error {
		for who, rs := range roles {
			u := &ci.User{Login: who, CanCreateProjects: who == "creator", Admin: who == "orgadmin"}
			if err := tx.CreateUser(u, hash); err != nil {
				return err
			}
			tok, tokHash := auth.NewToken("bat_")
			if err := tx.CreateToken(&store.Token{UserID: u.ID, Name: "test", Hash: tokHash, Kind: store.TokenAPI}); err != nil {
				return err
			}
			s.tokens[who] = tok
			for project, role := range rs {
				p, err := tx.GetProject(project)
				if err != nil {
					return err
				}
				if err := tx.SetMember(&store.Member{ProjectID: p.ID, UserID: u.ID, Role: role}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for who := range roles {
		s.sessions[who] = s.signIn(t, who)
	}
	return s
}

// signIn signs in through the sign-in form, as a browser does.
func (s *site) signIn(t *testing.T, login string) *visitor {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	v := &visitor{client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := v.client.PostForm(s.e.URL+"/login", url.Values{"login": {login}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d", login, resp.StatusCode)
	}
	var me apiv1.MeView
	req, _ := http.NewRequest("GET", s.e.URL+"/api/v1/me", nil)
	resp, err = v.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := jsonUnmarshal(data, &me); err != nil || me.CSRFToken == "" {
		t.Fatalf("me as %s: %v %s", login, err, data)
	}
	v.csrf = me.CSRFToken
	return v
}

// page is an answer.
type page struct {
	status int
	header http.Header
	body   string
}

// get fetches a page as who: "anonymous", or a visitor signed in by
// session cookie.
func (s *site) get(t *testing.T, who, path string) page {
	t.Helper()
	req, _ := http.NewRequest("GET", s.e.URL+path, nil)
	return s.send(t, who, req)
}

func (s *site) send(t *testing.T, who string, req *http.Request) page {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if v := s.sessions[who]; v != nil {
		client = v.client
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		checkNoInlineCode(t, req.URL.Path, resp.Header, string(data))
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

var (
	inlineStyle   = regexp.MustCompile(`\sstyle="|<style[\s>]`)
	inlineHandler = regexp.MustCompile(`\son[a-z]+="`)
	scriptTag     = regexp.MustCompile(`<script[^>]*>`)
)

// checkNoInlineCode checks a page sends the Content-Security-Policy and
// has nothing it would block: no inline script (a JSON data block is
// data), no style attribute or element, no event handler attribute.
func checkNoInlineCode(t *testing.T, path string, h http.Header, body string) {
	t.Helper()
	if got := h.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
		t.Errorf("%s: Content-Security-Policy %q, want %q", path, got, web.ContentSecurityPolicy)
	}
	for _, tag := range scriptTag.FindAllString(body, -1) {
		if !strings.Contains(tag, " src=") && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("%s: inline script %s", path, tag)
		}
	}
	if m := inlineStyle.FindString(body); m != "" {
		t.Errorf("%s: inline style %q", path, m)
	}
	if m := inlineHandler.FindString(body); m != "" {
		t.Errorf("%s: inline event handler %q", path, m)
	}
}

// post sends a form as who; csrf "" leaves the field out.
func (s *site) post(t *testing.T, who, path string, form url.Values, extra ...string) page {
	t.Helper()
	req, _ := http.NewRequest("POST", s.e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	return s.send(t, who, req)
}

func (s *site) csrf(who string) string {
	if v := s.sessions[who]; v != nil {
		return v.csrf
	}
	return ""
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// wellFormed checks that body's elements nest properly: every end tag
// closes the innermost open element (void elements need none).
func wellFormed(t *testing.T, name, body string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: not well formed: %v", name, err)
			return
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if !slices.Contains(xml.HTMLAutoClose, strings.ToLower(el.Name.Local)) {
				stack = append(stack, el.Name.Local)
			}
		case xml.EndElement:
			if slices.Contains(xml.HTMLAutoClose, strings.ToLower(el.Name.Local)) {
				continue
			}
			if len(stack) == 0 || stack[len(stack)-1] != el.Name.Local {
				t.Errorf("%s: </%s> closes %v", name, el.Name.Local, stack)
				return
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		t.Errorf("%s: unclosed elements %v", name, stack)
	}
}

var csrfField = regexp.MustCompile(`name="csrf"`)

// TestPages drives every page as every kind of visitor on one site.
func TestPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	t.Run("Permissions", func(t *testing.T) { testPermissions(t, s) })
	t.Run("Badges", func(t *testing.T) { testBadges(t, s) })
	t.Run("FormsNeedCSRFAndWriteRole", func(t *testing.T) { testForms(t, s) })
	t.Run("WorkflowGraph", func(t *testing.T) { testWorkflowGraph(t, s) })
	t.Run("Timing", func(t *testing.T) { testTiming(t, s) })
	t.Run("ProjectPage", func(t *testing.T) { testProjectPage(t, s) })
	t.Run("CreateProject", func(t *testing.T) { testCreateProject(t, s) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, s) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, s) })
	t.Run("Agents", func(t *testing.T) { testAgents(t, s) })
	t.Run("Static", func(t *testing.T) { testStatic(t, s) })
	t.Run("Promotions", func(t *testing.T) { testPromotions(t, s) })
	t.Run("Deployments", func(t *testing.T) { testDeployments(t, s) })
	t.Run("Schedules", func(t *testing.T) { testSchedules(t, s) })
	t.Run("AdminPages", func(t *testing.T) { testAdminPages(t, s) })
	t.Run("TargetForms", func(t *testing.T) { testTargetForms(t, s) })
	t.Run("OrgSecretPolicy", func(t *testing.T) { testOrgSecretPolicy(t, s) })
	t.Run("CacheSizeSetting", func(t *testing.T) { testCacheSizeSetting(t, s) })
	t.Run("TargetRuleFromTheForm", func(t *testing.T) { testTargetRuleFromTheForm(t, s) })
	t.Run("SignOut", func(t *testing.T) { testSignOut(t, s) })
}

// testPermissions: what each visitor gets on each page, and that write
// buttons, settings and secret names appear only where they may.
func testPermissions(t *testing.T, s *site) {
	pubWF, privWF := "/workflows/"+s.wf["pub-main"], "/workflows/"+s.wf["priv-main"]
	for _, tc := range []struct {
		who, path string
		status    int
		has, not  []string
	}{
		{"anonymous", "/", 200, []string{`href="/projects/pub"`, "Sign in"}, []string{`href="/projects/priv"`, "New project", `name="csrf"`}},
		{"anonymous", "/projects/pub", 200, []string{"Workflow history", "Break the tests", "/badges/pub.svg"}, []string{"Run a workflow", `action="/projects/pub/run"`}},
		{"anonymous", "/projects/priv", 404, nil, []string{"priv.svg"}},
		{"anonymous", "/projects/nope", 404, nil, nil},
		{"anonymous", pubWF, 200, []string{"Compile", "/jobs/"}, []string{"Rebuild", "rerun-failed", "/promote"}},
		{"anonymous", privWF, 404, nil, []string{"Compile"}},
		{"anonymous", pubWF + "/timing", 200, []string{"Waterfall", "Slowest commands"}, []string{"Exporting environment variables"}},
		{"anonymous", privWF + "/timing", 404, nil, nil},
		{"anonymous", "/agents", 401, []string{`action="/login"`, `name="next" value="/agents"`}, []string{"worker-1"}},
		{"anonymous", "/settings/tokens", 401, []string{`action="/login"`}, nil},
		{"anonymous", "/settings/keys", 401, []string{`action="/login"`}, nil},
		{"anonymous", "/no/such/page", 404, nil, nil},
		{"outsider", "/", 200, []string{`href="/projects/pub"`}, []string{`href="/projects/priv"`, "New project"}},
		{"creator", "/", 200, []string{`href="/projects/pub"`, "New project"}, []string{`href="/projects/priv"`}},
		{"outsider", "/projects/priv", 404, nil, nil},
		{"outsider", privWF, 404, nil, nil},
		{"outsider", "/projects/pub", 200, nil, []string{"Run a workflow"}},
		{"outsider", pubWF, 200, nil, []string{"Rebuild"}},
		{"outsider", "/agents", 200, []string{"e1-standard-2"}, []string{"worker-1"}},
		{"orgadmin", "/agents", 200, []string{"worker-1", "e1-standard-2"}, nil},
		{"reader", "/projects/priv", 200, []string{"Workflow history"}, []string{"Run a workflow"}},
		{"reader", privWF, 200, []string{"Compile"}, []string{"Rebuild"}},
		{"writer", "/", 200, []string{`href="/projects/priv"`, `href="/projects/pub"`}, nil},
		{"writer", "/projects/pub", 200, []string{"Run a workflow", `action="/projects/pub/run"`, `name="csrf"`}, nil},
		{"writer", "/projects/priv", 200, []string{"Run a workflow"}, nil},
		{"writer", pubWF, 200, []string{"Rebuild", `action="/workflows/` + s.wf["pub-main"] + `/rebuild"`}, nil},
		{"writer", "/workflows/" + s.wf["pub-bad"], 200, []string{"Rerun failed jobs"}, nil},
	} {
		name := tc.who + " GET " + tc.path
		p := s.get(t, tc.who, tc.path)
		if p.status != tc.status {
			t.Errorf("%s: status %d, want %d", name, p.status, tc.status)
			continue
		}
		for _, want := range tc.has {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s: page lacks %q", name, want)
			}
		}
		for _, bad := range tc.not {
			if strings.Contains(p.body, bad) {
				t.Errorf("%s: page shows %q", name, bad)
			}
		}
		if strings.Contains(p.body, secretName) || strings.Contains(p.body, "SECRET_VAR_NAME") {
			t.Errorf("%s: page shows a secret's name", name)
		}
		if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if !strings.Contains(p.body, `<html lang="en">`) || !strings.Contains(p.body, `<main id="main">`) {
			t.Errorf("%s: not a full page with a main landmark", name)
		}
		wellFormed(t, name, p.body)
	}
}

// testBadges: each status, the headers, revalidation, and no leak of
// private or unknown projects.
func testBadges(t *testing.T, s *site) {
	for _, tc := range []struct {
		query, status, colour string
	}{
		{"", "passed", "#4c1"},
		{"?branch=main", "passed", "#4c1"},
		{"?branch=bad", "failed", "#e05d44"},
		{"?branch=slow", "running", "#dfb317"},
		{"?branch=never-built", "unknown", "#9f9f9f"},
	} {
		for _, who := range []string{"anonymous", "outsider"} {
			p := s.get(t, who, "/badges/pub.svg"+tc.query)
			if p.status != 200 {
				t.Fatalf("badge %s as %s: status %d", tc.query, who, p.status)
			}
			if !strings.Contains(p.body, ">"+tc.status+"</text>") || !strings.Contains(p.body, `fill="`+tc.colour+`"`) || !strings.Contains(p.body, ">pub</text>") {
				t.Errorf("badge %s: want %s in %s: %s", tc.query, tc.status, tc.colour, p.body)
			}
			if !strings.Contains(p.body, `aria-label="pub: `+tc.status+`"`) {
				t.Errorf("badge %s: no accessible label", tc.query)
			}
			if got := p.header.Get("Content-Type"); got != "image/svg+xml" {
				t.Errorf("badge Content-Type %q", got)
			}
			if got := p.header.Get("Cache-Control"); got != "no-cache, max-age=0" {
				t.Errorf("badge Cache-Control %q", got)
			}
			etag := p.header.Get("ETag")
			if etag == "" {
				t.Fatal("badge without ETag")
			}
			req, _ := http.NewRequest("GET", s.e.URL+"/badges/pub.svg"+tc.query, nil)
			req.Header.Set("If-None-Match", etag)
			if again := s.send(t, who, req); again.status != http.StatusNotModified || again.body != "" {
				t.Errorf("badge with If-None-Match: status %d, want 304", again.status)
			}
			wellFormed(t, "badge", p.body)
		}
	}
	// Private and unknown projects answer the same 404 to outsiders.
	var bodies []string
	for _, tc := range []struct{ who, path string }{{"anonymous", "/badges/priv.svg"}, {"outsider", "/badges/priv.svg"}, {"anonymous", "/badges/nope.svg"}, {"anonymous", "/badges/pub"}} {
		p := s.get(t, tc.who, tc.path)
		if p.status != http.StatusNotFound {
			t.Errorf("%s as %s: status %d, want 404", tc.path, tc.who, p.status)
		}
		bodies = append(bodies, p.body)
	}
	if bodies[0] != bodies[2] {
		t.Errorf("a private project's badge answers %q, an unknown one %q", bodies[0], bodies[2])
	}
	if p := s.get(t, "reader", "/badges/priv.svg"); p.status != 200 || !strings.Contains(p.body, "passed") {
		t.Errorf("a member's private badge: status %d", p.status)
	}
	// Semaphore's path form names the branch in the path.
	for path, want := range map[string]string{"/badges/pub/branches/bad.svg": "failed", "/badges/pub/branches/main.svg": "passed", "/badges/pub/branches/no/such.svg": "unknown"} {
		if p := s.get(t, "anonymous", path); p.status != 200 || !strings.Contains(p.body, ">"+want+"</text>") {
			t.Errorf("%s: status %d, want %s", path, p.status, want)
		}
	}
	for _, path := range []string{"/badges/priv/branches/main.svg", "/badges/pub/branches/main"} {
		if p := s.get(t, "anonymous", path); p.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, p.status)
		}
	}
}

// testForms: a no-JavaScript form post works with the session's token,
// and is refused without it, with a wrong one, cross-site, and without the
// write role.
func testForms(t *testing.T, s *site) {
	run := func(csrf string) url.Values { return url.Values{"csrf": {csrf}, "branch": {"main"}} }
	for _, tc := range []struct {
		name, who string
		form      url.Values
		headers   []string
		status    int
	}{
		{"no token", "writer", url.Values{"branch": {"main"}}, nil, http.StatusForbidden},
		{"wrong token", "writer", run("not-the-token"), nil, http.StatusForbidden},
		{"another session's token", "writer", run(s.csrf("outsider")), nil, http.StatusForbidden},
		{"cross-site", "writer", run(s.csrf("writer")), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"reader", "reader", run(s.csrf("reader")), nil, http.StatusForbidden},
		{"outsider on a public project", "outsider", run(s.csrf("outsider")), nil, http.StatusForbidden},
		{"anonymous", "anonymous", url.Values{"branch": {"main"}}, nil, http.StatusUnauthorized},
	} {
		project := "pub"
		if tc.who == "reader" {
			project = "priv"
		}
		if p := s.post(t, tc.who, "/projects/"+project+"/run", tc.form, tc.headers...); p.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, p.status, tc.status)
		}
	}
	if p := s.post(t, "outsider", "/projects/priv/run", run(s.csrf("outsider"))); p.status != http.StatusNotFound {
		t.Errorf("outsider runs a private project: status %d, want 404", p.status)
	}

	// The writer runs, and lands on the new workflow.
	p := s.post(t, "writer", "/projects/pub/run", run(s.csrf("writer")))
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/workflows/") {
		t.Fatalf("run: status %d, Location %q", p.status, loc)
	}
	id := strings.TrimPrefix(loc, "/workflows/")
	var wf testenv.Workflow
	s.e.Do("GET", "/api/v1/workflows/"+id, nil, &wf)
	if wf.Branch != "main" || wf.TriggeredBy != "writer" {
		t.Errorf("run made workflow %+v, want main by writer", wf.Workflow)
	}
	s.e.WaitWorkflow(id, 30*time.Second)

	// Stop, rebuild and rerun-failed go through the same checks.
	for _, tc := range []struct {
		path, who, csrf string
		status          int
	}{
		{"/workflows/" + id + "/rebuild", "outsider", s.csrf("outsider"), http.StatusForbidden},
		{"/workflows/" + id + "/rebuild", "writer", "", http.StatusForbidden},
		{"/workflows/" + s.wf["priv-main"] + "/stop", "outsider", s.csrf("outsider"), http.StatusNotFound},
		{"/workflows/" + id + "/rebuild", "anonymous", "", http.StatusUnauthorized},
		{"/workflows/" + id + "/rebuild", "writer", s.csrf("writer"), http.StatusSeeOther},
	} {
		p := s.post(t, tc.who, tc.path, url.Values{"csrf": {tc.csrf}})
		if p.status != tc.status {
			t.Errorf("%s as %s: status %d, want %d", tc.path, tc.who, p.status, tc.status)
		}
		if p.status == http.StatusSeeOther {
			loc := p.header.Get("Location")
			if !strings.HasPrefix(loc, "/workflows/") || strings.HasPrefix(loc, "/workflows/"+id) {
				t.Errorf("rebuild went to %q, want the new workflow", loc)
			}
			s.e.WaitWorkflow(strings.TrimSuffix(strings.TrimPrefix(strings.Split(loc, "?")[0], "/workflows/"), "/"), 30*time.Second)
		}
	}

	// Rerun failed on the failed workflow's pipeline.
	var bad testenv.Workflow
	s.e.Do("GET", "/api/v1/workflows/"+s.wf["pub-bad"], nil, &bad)
	p = s.post(t, "writer", "/pipelines/"+bad.Pipelines[0].ID+"/rerun-failed", url.Values{"csrf": {s.csrf("writer")}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=rerun-failed") {
		t.Errorf("rerun failed: status %d, Location %q", p.status, p.header.Get("Location"))
	}
	if f := s.get(t, "writer", p.header.Get("Location")); !strings.Contains(f.body, "Rerunning the failed jobs.") {
		t.Error("rerun failed: no notice on the workflow page")
	}
}

// testWorkflowGraph: blocks in columns by dependency depth, jobs with
// states and durations, and an invalid file's diagnostics with positions.
func testWorkflowGraph(t *testing.T, s *site) {
	p := s.get(t, "anonymous", "/workflows/"+s.wf["pub-main"])
	cols := strings.Split(p.body, `class="column"`)
	if len(cols) != 4 {
		t.Fatalf("%d columns, want 3", len(cols)-1)
	}
	for i, want := range [][]string{{"Build"}, {"Test", "Lint"}, {"Ship"}} {
		for _, b := range want {
			if !strings.Contains(cols[i+1], "<h3>"+b+"</h3>") {
				t.Errorf("column %d lacks block %s", i, b)
			}
		}
	}
	if !strings.Contains(p.body, `<span class="pill pill-passed">passed</span>`) {
		t.Error("no passed pill")
	}
	if strings.Contains(p.body, "workflow.js") || strings.Contains(p.body, `http-equiv="refresh"`) {
		t.Error("a finished workflow still follows itself")
	}
	if !regexp.MustCompile(`\d+(ms|s)</span>`).MatchString(p.body) {
		t.Error("no job duration")
	}

	// A running workflow follows itself: script, and a refresh without it.
	p = s.get(t, "anonymous", "/workflows/"+s.wf["pub-slow"])
	if !strings.Contains(p.body, "workflow.js") || !strings.Contains(p.body, `<noscript><meta http-equiv="refresh"`) {
		t.Error("a running workflow does not follow itself")
	}
	if !strings.Contains(p.body, "pill-queued") && !strings.Contains(p.body, "pill-pending") {
		t.Error("the waiting job is not shown as queued")
	}
	// Its file's warning is shown positioned, and only there.
	if !strings.Contains(p.body, `class="notice warn pipeline-warnings"`) ||
		!regexp.MustCompile(`<code>\.semaphore/semaphore\.yml:\d+:1</code>[^<]*<span[^>]*>[^<]*</span> duplicate key &#34;name&#34;`).MatchString(p.body) {
		t.Errorf("no positioned warning on the page of a workflow whose file repeats a key")
	}
	if m := s.get(t, "anonymous", "/workflows/"+s.wf["pub-main"]); strings.Contains(m.body, "pipeline-warnings") {
		t.Error("a warning on the page of a workflow whose file has none")
	}
	frag := s.get(t, "anonymous", "/workflows/"+s.wf["pub-slow"]+"?fragment=graph")
	if frag.status != 200 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `class="graph"`) {
		t.Errorf("graph fragment: status %d: %.200s", frag.status, frag.body)
	}
	if f := s.get(t, "anonymous", "/workflows/"+s.wf["priv-main"]+"?fragment=graph"); f.status != 404 {
		t.Errorf("private fragment: status %d", f.status)
	}
	// The writer can stop it; others see no button.
	if w := s.get(t, "writer", "/workflows/"+s.wf["pub-slow"]); !strings.Contains(w.body, `/stop"`) {
		t.Error("the writer sees no Stop button on a running workflow")
	}

	p = s.get(t, "anonymous", "/workflows/"+s.wf["pub-broken"])
	if !strings.Contains(p.body, "The pipeline file is invalid.") || !regexp.MustCompile(`<code>[^<]*semaphore.yml:\d+:\d+</code>`).MatchString(p.body) {
		t.Errorf("no positioned diagnostics on the invalid workflow's page")
	}
}

// testTiming: the waterfall shows queued and running bars, and the
// slowest commands link to their place in the job's log.
func testTiming(t *testing.T, s *site) {
	p := s.get(t, "anonymous", "/workflows/"+s.wf["pub-main"]+"/timing")
	if !strings.Contains(p.body, `class="bar run s-passed at-`) || !strings.Contains(p.body, `class="bar wait at-`) {
		t.Error("waterfall lacks running or queued bars")
	}
	// The axis: evenly spaced round ticks from 0s to the axis's end.
	ticks := regexp.MustCompile(`<span class="tick at-(\d+)[^"]*">([^<]+)</span>`).FindAllStringSubmatch(p.body, -1)
	if len(ticks) < 2 || ticks[0][1] != "0" || ticks[len(ticks)-1][1] != "200" || !strings.HasPrefix(ticks[0][2], "0") {
		t.Errorf("axis ticks %v, want them from 0 at the left to the right end", ticks)
	}
	rows := regexp.MustCompile(`<a href="/jobs/([^"#]+)#cmd-(\d+)"><code>([^<]*)</code>`).FindAllStringSubmatch(p.body, -1)
	if len(rows) == 0 {
		t.Fatalf("no slowest commands")
	}
	if rows[0][3] != "sleep 0.3" {
		t.Errorf("slowest command is %q, want sleep 0.3", rows[0][3])
	}
	if len(rows) > 20 {
		t.Errorf("%d slowest commands, want at most 20", len(rows))
	}
}

// testProjectPage: refs with their latest workflow, history paging, the
// badge snippet.
func testProjectPage(t *testing.T, s *site) {
	p := s.get(t, "anonymous", "/projects/pub")
	for _, want := range []string{"branch</span> main", "branch</span> bad", "branch</span> slow", "Break the tests", "[![pub](http://", "/badges/pub.svg)](http://"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("project page lacks %q", want)
		}
	}
	if !strings.Contains(p.body, "<time datetime=") {
		t.Error("no <time> element")
	}
	// Page through the history 20 at a time: make enough workflows.
	for range 21 {
		s.e.Do("POST", "/api/v1/projects/priv/workflows", map[string]any{"branch": "slow"}, nil, http.StatusCreated)
	}
	p = s.get(t, "reader", "/projects/priv")
	older := regexp.MustCompile(`href="\?before=([^"]+)">Older`).FindStringSubmatch(p.body)
	if older == nil {
		t.Fatal("no link to older workflows")
	}
	next := s.get(t, "reader", "/projects/priv?before="+older[1])
	_, older2, _ := strings.Cut(next.body, "Workflow history")
	if next.status != 200 || !strings.Contains(older2, ">#1</a>") || !strings.Contains(older2, ">#2</a>") || strings.Contains(older2, ">#3</a>") {
		t.Errorf("older page: status %d, want #2 and #1 only: %s", next.status, older2)
	}
	// Stop them, so the agents page's queue stays short.
	var hist apiv1.HistoryView
	s.e.Do("GET", "/api/v1/projects/priv/history?limit=50", nil, &hist)
	for _, w := range hist.Workflows {
		if w.State != apiv1.StateDone {
			s.e.Do("POST", "/api/v1/workflows/"+w.ID+"/stop", nil, nil)
		}
	}
}

// testCreateProject: the form creates a project for the users who may,
// or shows why not.
func testCreateProject(t *testing.T, s *site) {
	const remote = "https://ada:t0ken-in-url@git.invalid/team/app.git"
	form := url.Values{"csrf": {s.csrf("outsider")}, "name": {"made-in-ui"}, "repo_url": {remote}, "visibility": {"private"}, "pipeline_file": {".semaphore/semaphore.yml"}, "poll_interval": {"0"}}
	if p := s.post(t, "outsider", "/projects", form); p.status != http.StatusForbidden || !strings.Contains(p.body, "creating projects is for organisation admins") {
		t.Errorf("create by a user who may not: status %d, want 403 naming the rule", p.status)
	}
	// A local repository is for organisation admins only.
	form.Set("csrf", s.csrf("creator"))
	form.Set("repo_url", s.repo.URL())
	if p := s.post(t, "creator", "/projects", form); p.status != http.StatusForbidden || !strings.Contains(p.body, "only be used by organisation admins") {
		t.Errorf("create with a file:// URL by a creator: status %d, want 403 naming the rule", p.status)
	}
	form.Set("repo_url", remote)
	p := s.post(t, "creator", "/projects", form)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/projects/made-in-ui?done=created" {
		t.Fatalf("create: status %d, Location %q", p.status, p.header.Get("Location"))
	}
	var proj ci.Project
	s.e.Do("GET", "/api/v1/projects/made-in-ui", nil, &proj)
	if proj.Public || proj.RepoURL != "https://***@git.invalid/team/app.git" || proj.PollInterval != 0 {
		t.Errorf("created %+v", proj)
	}
	if p := s.get(t, "creator", "/projects/made-in-ui"); p.status != 200 || strings.Contains(p.body, "t0ken-in-url") || !strings.Contains(p.body, "https://***@git.invalid/team/app.git") {
		t.Errorf("project page: status %d, want 200 with the URL's credentials hidden", p.status)
	}
	if p := s.get(t, "anonymous", "/projects/made-in-ui"); p.status != 404 {
		t.Errorf("the new private project answers %d to visitors", p.status)
	}
	form.Set("name", "")
	p = s.post(t, "creator", "/projects", form)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, "git.invalid/team/app.git") {
		t.Errorf("invalid project: status %d, want 400 with an alert and the values kept", p.status)
	}
	if p := s.post(t, "anonymous", "/projects", form); p.status != http.StatusUnauthorized {
		t.Errorf("anonymous create: status %d", p.status)
	}
}

// testTokens: create a token (shown once), list, revoke.
func testTokens(t *testing.T, s *site) {
	p := s.post(t, "outsider", "/settings/tokens", url.Values{"csrf": {s.csrf("outsider")}, "name": {"laptop"}})
	tok := regexp.MustCompile(`id="new-token" readonly value="([^"]+)"`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || tok == nil {
		t.Fatalf("create token: status %d", p.status)
	}
	var me apiv1.MeView
	s.e.DoAs(tok[1], "GET", "/api/v1/me", nil, &me)
	if me.Login != "outsider" {
		t.Errorf("the new token acts as %q", me.Login)
	}
	list := s.get(t, "outsider", "/settings/tokens")
	if strings.Contains(list.body, tok[1]) || !strings.Contains(list.body, "laptop") {
		t.Error("the token list shows the secret again, or lacks the token")
	}
	id := regexp.MustCompile(`action="/settings/tokens/([^"]+)/revoke"><input type="hidden" name="csrf" value="[^"]+"><button type="submit" class="danger small" aria-label="Revoke laptop"`).FindStringSubmatch(list.body)
	if id == nil {
		t.Fatal("no revoke form for the token")
	}
	if p := s.post(t, "writer", "/settings/tokens/"+id[1]+"/revoke", url.Values{"csrf": {s.csrf("writer")}}); p.status != http.StatusNotFound {
		t.Errorf("another user revokes the token: status %d, want 404", p.status)
	}
	if p := s.post(t, "outsider", "/settings/tokens/"+id[1]+"/revoke", url.Values{"csrf": {s.csrf("outsider")}}); p.status != http.StatusSeeOther {
		t.Errorf("revoke: status %d", p.status)
	}
	s.e.DoAs(tok[1], "GET", "/api/v1/me", nil, nil, http.StatusUnauthorized)
}

// testKeys: the SSH keys page lists, adds and removes keys, or says they
// are unavailable when the server has no keys API.
func testKeys(t *testing.T, s *site) {
	p := s.get(t, "outsider", "/settings/keys")
	if p.status != 200 {
		t.Fatalf("keys page: status %d", p.status)
	}
	if strings.Contains(p.body, "not available on this server") {
		t.Log("the keys API is not there: the page says so")
		return
	}
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@example"
	r := s.post(t, "outsider", "/settings/keys", url.Values{"csrf": {s.csrf("outsider")}, "name": {"laptop"}, "public_key": {key}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add key: status %d: %.300s", r.status, r.body)
	}
	list := s.get(t, "outsider", "/settings/keys")
	m := regexp.MustCompile(`action="/settings/keys/([^"]+)/remove"`).FindStringSubmatch(list.body)
	if m == nil || !strings.Contains(list.body, "SHA256:") {
		t.Fatal("the key is not listed with its fingerprint")
	}
	if r := s.post(t, "outsider", "/settings/keys", url.Values{"csrf": {s.csrf("outsider")}, "name": {"bad"}, "public_key": {"not a key"}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, `role="alert"`) {
		t.Errorf("invalid key: status %d", r.status)
	}
	if r := s.post(t, "outsider", "/settings/keys/"+m[1]+"/remove", url.Values{"csrf": {s.csrf("outsider")}}); r.status != http.StatusSeeOther {
		t.Errorf("remove key: status %d", r.status)
	}
}

// testAgents: the connected agent and the waiting job with its reason.
func testAgents(t *testing.T, s *site) {
	p := s.get(t, "writer", "/agents")
	for _, want := range []string{"e1-standard-2", "Waiting jobs", "e1-nowhere"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("agents page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "worker-1") {
		t.Error("a writer sees the agent's name; only organisation admins do")
	}
	admin := s.get(t, "orgadmin", "/agents")
	for _, want := range []string{"worker-1", "e1-standard-2", "connected"} {
		if !strings.Contains(admin.body, want) {
			t.Errorf("the organisation admin's agents page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?i)no connected agent|no agent`).MatchString(p.body) {
		t.Error("the waiting job has no reason")
	}
}

// testStatic: assets are versioned and cached for long.
func testStatic(t *testing.T, s *site) {
	home := s.get(t, "anonymous", "/")
	m := regexp.MustCompile(`href="(/static/style\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(home.body)
	if m == nil {
		t.Fatal("no versioned stylesheet link")
	}
	p := s.get(t, "anonymous", m[1])
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") || !strings.Contains(p.header.Get("Cache-Control"), "max-age=31536000") {
		t.Errorf("stylesheet: status %d, %q, %q", p.status, p.header.Get("Content-Type"), p.header.Get("Cache-Control"))
	}
	// Pages and assets are gzipped for clients that accept it.
	for _, path := range []string{"/", m[1]} {
		req, _ := http.NewRequest("GET", s.e.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		p := s.send(t, "anonymous", req)
		zr, err := gzip.NewReader(strings.NewReader(p.body))
		if p.header.Get("Content-Encoding") != "gzip" || err != nil {
			t.Errorf("%s with Accept-Encoding gzip: Content-Encoding %q, %v", path, p.header.Get("Content-Encoding"), err)
			continue
		}
		if plain, err := io.ReadAll(zr); err != nil || len(plain) <= len(p.body) {
			t.Errorf("%s: gzip body of %d bytes unpacks to %d (%v)", path, len(p.body), len(plain), err)
		}
	}
	if p := s.get(t, "anonymous", "/static/style.css"); p.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("unversioned stylesheet: Cache-Control %q", p.header.Get("Cache-Control"))
	}
	for _, path := range []string{"/static/../web.go", "/static/%2e%2e/web.go", "/static/..%2fweb.go"} {
		if p := s.get(t, "anonymous", path); p.status == 200 || strings.Contains(p.body, "package web") {
			t.Errorf("%s: status %d", path, p.status)
		}
	}
}

// testSignOut: the header's sign-out form ends the session.
func testSignOut(t *testing.T, s *site) {
	s.sessions["leaving"] = s.signIn(t, "outsider")
	p := s.get(t, "leaving", "/")
	if !strings.Contains(p.body, `action="/logout"`) || !strings.Contains(p.body, "<summary>outsider</summary>") {
		t.Fatal("no sign-out form for a signed-in user")
	}
	if p := s.post(t, "leaving", "/logout", url.Values{"csrf": {s.csrf("leaving")}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: status %d", p.status)
	}
	if p := s.get(t, "leaving", "/agents"); p.status != http.StatusUnauthorized {
		t.Errorf("after signing out: status %d, want 401", p.status)
	}
}
