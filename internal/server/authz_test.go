package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/coverage"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testreport"
)

// The kinds of caller the authorisation table is checked with.
const (
	anonymous    = "anonymous"
	noRole       = "no-role"
	reader       = "read"
	writer       = "write"
	projectAdmin = "project-admin"
	orgAdmin     = "org-admin"
	// creator has no role anywhere but may create projects.
	creator = "creator"
)

var callers = []string{anonymous, noRole, reader, writer, projectAdmin, orgAdmin, creator}

// authzFixture is a server with a public and a private project, each with
// a workflow, and a user of each kind.
type authzFixture struct {
	e        *testenv.Env
	repo     *testenv.Repo
	tokens   map[string]string // caller → API token
	users    map[string]*ci.User
	projects map[bool]*projectFixture // public → project
	n        int
}

type projectFixture struct {
	name, workflow, pipeline, job string
}

func newAuthzFixture(t *testing.T) *authzFixture {
	e := testenv.Start(t, testenv.Options{})
	f := &authzFixture{e: e, tokens: map[string]string{orgAdmin: e.Token}, users: map[string]*ci.User{}, projects: map[bool]*projectFixture{}}
	f.repo = testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	db := e.Server.Store
	for _, public := range []bool{true, false} {
		name := map[bool]string{true: "pub", false: "priv"}[public]
		createProject(t, e, name, f.repo, map[string]any{"public": public, "webhook_secret": "s3cret"})
		pf := &projectFixture{name: name, workflow: run(t, e, name, "main")}
		e.Eventually(30*time.Second, func() bool {
			var w testenv.Workflow
			e.Do("GET", "/api/v1/workflows/"+pf.workflow, nil, &w)
			if len(w.Pipelines) == 0 || len(w.Pipelines[0].Blocks) == 0 || len(w.Pipelines[0].Blocks[0].Jobs) == 0 {
				return false
			}
			pf.pipeline, pf.job = w.Pipelines[0].ID, w.Pipelines[0].Blocks[0].Jobs[0].ID
			return true
		}, "jobs of %s", name)
		f.projects[public] = pf
		// An artifact in each scope, for the artifact downloads.
		proj, err := e.Server.Store.GetProject(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		for scope, id := range map[string]string{"job": pf.job, "workflow": pf.workflow, "project": proj.ID} {
			key := "artifacts/" + proj.ID + "/" + scope + "/" + id + "/a.txt"
			if _, err := e.Server.Blobs.Put(t.Context(), key, strings.NewReader("artifact\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := db.Tx(t.Context(), func(tx *store.Tx) error {
		for _, who := range []string{noRole, reader, writer, projectAdmin, creator, "spare"} {
			u := &ci.User{ID: ids.New(), Login: who, CanCreateProjects: who == creator}
			if err := tx.CreateUser(u, ""); err != nil {
				return err
			}
			f.users[who] = u
			tok, hash := auth.NewToken("bat_")
			if err := tx.CreateToken(&store.Token{UserID: u.ID, Name: "test", Hash: hash, Kind: store.TokenAPI}); err != nil {
				return err
			}
			f.tokens[who] = tok
		}
		for _, pf := range f.projects {
			p, err := tx.GetProject(pf.name)
			if err != nil {
				return err
			}
			for who, role := range map[string]string{reader: "read", writer: "write", projectAdmin: "admin"} {
				if err := tx.SetMember(&store.Member{ProjectID: p.ID, UserID: f.users[who].ID, Role: role}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// request is one call of a route.
type request struct {
	method, path string
	body         any
}

// unique returns a new name for things a request creates.
func (f *authzFixture) unique(prefix string) string {
	f.n++
	return fmt.Sprintf("%s%d", prefix, f.n)
}

// request builds a call of the route pattern by who on project pf (nil for
// routes outside projects), preparing what it acts on so that an allowed
// call succeeds (or fails for a reason other than access).
func (f *authzFixture) request(t *testing.T, pattern, who string, pf *projectFixture) request {
	t.Helper()
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	path = strings.TrimSuffix(path, "{$}")
	if pf == nil {
		pf = f.projects[true]
	}
	// Path parameters name the fixture's things.
	for _, kv := range [][2]string{
		{"/workflows/{id}", "/workflows/" + pf.workflow},
		{"/pipelines/{id}", "/pipelines/" + pf.pipeline},
		{"/jobs/{id}", "/jobs/" + pf.job},
		{"{project}", pf.name},
		{"{login}", "spare"},
		{"{name}", "S"},
		{"{path...}", "a.txt"},
	} {
		path = strings.ReplaceAll(path, kv[0], kv[1])
	}
	req := request{method: method, path: path}
	if strings.Contains(pattern, "/tests") || strings.Contains(pattern, "/flaky/") {
		// The fixture's job published a report with a flaky test.
		req.path = strings.ReplaceAll(req.path, "{test}", f.publishTests(t, pf))
	}
	if strings.Contains(pattern, "/coverage") {
		f.publishCoverage(t, pf) // the fixture's job published coverage
	}
	switch pattern {
	case "POST /api/v1/projects":
		// A remote URL: a local one is for organisation admins only.
		req.body = map[string]any{"name": f.unique("new"), "repo_url": "https://git.invalid/team/app.git"}
	case "PATCH /api/v1/users/{login}":
		req.body = map[string]any{"can_create_projects": true}
	case "PATCH /api/v1/projects/{project}", "POST /api/v1/projects/{project}/workflows",
		"POST /api/v1/agent-tokens", "POST /api/v1/tokens":
		req.body = map[string]any{}
	case "PUT /api/v1/projects/{project}/members/{login}":
		req.body = map[string]any{"role": "read"}
	case "POST /api/v1/users":
		req.body = map[string]any{"login": f.unique("user"), "password": "a password"}
	case "POST /api/v1/projects/{project}/deliveries/{id}/redeliver":
		proj, err := f.e.Server.Store.GetProject(t.Context(), pf.name)
		if err != nil {
			t.Fatal(err)
		}
		d := &store.Delivery{ProjectID: proj.ID, Event: "ping", Payload: []byte(`{"zen":"hi"}`),
			Headers: map[string]string{"X-GitHub-Event": "ping"}}
		f.write(t, func(tx *store.Tx) error { return tx.RecordDelivery(d) })
		req.path = strings.ReplaceAll(req.path, "{id}", d.ID)
	case "DELETE /api/v1/projects/{project}":
		// A project of its own with the fixture project's visibility and
		// members, so that an allowed call deletes neither fixture.
		victim := &ci.Project{Name: f.unique("victim"), RepoURL: f.repo.URL(), Public: pf == f.projects[true]}
		f.write(t, func(tx *store.Tx) error {
			if err := tx.CreateProject(victim); err != nil {
				return err
			}
			for who, role := range map[string]string{reader: "read", writer: "write", projectAdmin: "admin"} {
				if err := tx.SetMember(&store.Member{ProjectID: victim.ID, UserID: f.users[who].ID, Role: role}); err != nil {
					return err
				}
			}
			return nil
		})
		req.path = "/api/v1/projects/" + victim.Name
	case "DELETE /api/v1/users/{login}":
		victim := f.unique("victim")
		f.write(t, func(tx *store.Tx) error { return tx.CreateUser(&ci.User{Login: victim}, "") })
		req.path = "/api/v1/users/" + victim
	case "DELETE /api/v1/tokens/{id}":
		id := "no-such-token"
		if u := f.users[who]; u != nil {
			tok := &store.Token{UserID: u.ID, Name: "to revoke", Hash: f.unique("hash"), Kind: store.TokenAPI}
			f.write(t, func(tx *store.Tx) error { return tx.CreateToken(tok) })
			id = tok.ID
		}
		req.path = "/api/v1/tokens/" + id
	case "DELETE /api/v1/agent-tokens/{id}":
		tok := &store.Token{Name: "to revoke", Hash: f.unique("agent-hash"), Kind: store.TokenAgent}
		f.write(t, func(tx *store.Tx) error { return tx.CreateToken(tok) })
		req.path = "/api/v1/agent-tokens/" + tok.ID
	case "POST /login":
		// Not a sign-in attempt (400): the rate limiter stays out of it.
		req.body = "login=&password="
	case "POST /hooks/{project}":
		req.body = map[string]any{"ref": "refs/heads/main"}
	}
	if strings.HasSuffix(pattern, "/secrets") && method == "POST" {
		req.body = map[string]any{"name": f.unique("S"), "env_vars": []map[string]string{{"name": "A", "value": "x"}}}
	}
	if strings.Contains(pattern, "/targets/{name}") {
		// The deployment target exists: an allowed call must not get 404.
		f.e.Do("POST", "/api/v1/projects/"+pf.name+"/targets", map[string]any{"name": "S"}, nil, http.StatusCreated, http.StatusConflict)
		if method == "PATCH" {
			req.body = map[string]any{"description": "changed"}
		}
	}
	if pattern == "POST /api/v1/notifications" {
		req.body = map[string]any{"name": f.unique("N"), "webhook_endpoint": "http://127.0.0.1:9/hook"}
	}
	if strings.Contains(pattern, "/notifications/{name}") {
		// The notification exists: an allowed call must not get 404.
		f.e.Do("POST", "/api/v1/notifications", map[string]any{"name": "S", "webhook_endpoint": "http://127.0.0.1:9/hook"}, nil, http.StatusCreated, http.StatusConflict)
		if method == "PATCH" {
			req.body = map[string]any{"results": []string{"failed"}}
		}
	}
	if pattern == "POST /api/v1/libraries" {
		req.body = map[string]any{"name": f.unique("L"), "repo_url": f.repo.URL()}
	}
	if strings.Contains(pattern, "/libraries/{name}") {
		// The library exists (an allowed call must not get 404), with the
		// file the path names.
		f.e.Do("POST", "/api/v1/libraries", map[string]any{"name": "S", "repo_url": f.repo.URL()}, nil, http.StatusCreated, http.StatusConflict)
		req.path = strings.ReplaceAll(req.path, "/files/a.txt", "/files/.semaphore/semaphore.yml")
		if method == "PATCH" {
			req.body = map[string]any{"branch": "main"}
		}
	}
	if strings.HasSuffix(pattern, "/schedules") && method == "POST" {
		req.body = map[string]any{"name": f.unique("S"), "cron": "0 3 * * *", "branch": "main"}
	}
	if strings.Contains(pattern, "/schedules/{name}") {
		// The schedule exists: an allowed call must not get 404.
		f.e.Do("POST", "/api/v1/projects/"+pf.name+"/schedules", map[string]any{"name": "S", "cron": "0 3 * * *", "branch": "main"}, nil, http.StatusCreated, http.StatusConflict)
		switch method {
		case "PATCH":
			req.body = map[string]any{"cron": "0 4 * * *"}
		case "POST":
			req.body = map[string]any{}
		}
	}
	if strings.Contains(pattern, "/secrets/{name}") {
		// The secret exists: an allowed call must not get 404.
		coll := path[:strings.Index(path, "/secrets/")+len("/secrets")]
		if !strings.HasPrefix(coll, "/api/") {
			// A page's form: the API's collection it acts on.
			coll = "/api/v1" + strings.TrimPrefix(coll, "/settings")
		}
		f.e.Do("POST", coll, map[string]any{"name": "S", "env_vars": []map[string]string{{"name": "A", "value": "x"}}}, nil, http.StatusCreated, http.StatusConflict)
		if method == "PUT" {
			req.body = map[string]any{"description": "changed"}
		}
	}
	return req
}

func (f *authzFixture) write(t *testing.T, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := f.e.Server.Store.Tx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// do makes the request as who and returns the status and body.
func (f *authzFixture) do(t *testing.T, req request, who string) (int, string) {
	t.Helper()
	var body io.Reader
	ctype := "application/json"
	switch b := req.body.(type) {
	case nil:
	case string:
		body, ctype = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		data, _ := json.Marshal(b)
		body = bytes.NewReader(data)
	}
	r, _ := http.NewRequest(req.method, f.e.URL+req.path, body)
	if body != nil {
		r.Header.Set("Content-Type", ctype)
	}
	if tok := f.tokens[who]; tok != "" {
		r.Header.Set("Authorization", "Token "+tok)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(data)
}

// roleOf is who's role in a project, as the table defines it.
func roleOf(who string, public bool) auth.Role {
	r := map[string]auth.Role{reader: auth.Read, writer: auth.Write, projectAdmin: auth.Admin, orgAdmin: auth.Admin}[who]
	if public && r < auth.Read {
		r = auth.Read
	}
	return r
}

// allowed means any status but a denial; denied statuses are exact.
const allowed = 0

// expect returns the status rule gives who: allowed, or the denial.
func expect(rule, who string, public bool) int {
	signedIn := who != anonymous
	switch rule {
	case "anyone":
		return allowed
	case "signed-in", "self":
		if !signedIn {
			return http.StatusUnauthorized
		}
		return allowed
	case "org-admin":
		switch {
		case !signedIn:
			return http.StatusUnauthorized
		case who != orgAdmin:
			return http.StatusForbidden
		}
		return allowed
	case "project-creator":
		switch {
		case !signedIn:
			return http.StatusUnauthorized
		case who != orgAdmin && who != creator:
			return http.StatusForbidden
		}
		return allowed
	case "hook-signature":
		// User credentials do not open it: an unsigned delivery to a
		// public project is 401; to a private one it gets the 404 of a
		// project that does not exist.
		if !public {
			return http.StatusNotFound
		}
		return http.StatusUnauthorized
	case "project-read", "project-write", "project-admin":
		need := map[string]auth.Role{"project-read": auth.Read, "project-write": auth.Write, "project-admin": auth.Admin}[rule]
		role := roleOf(who, public)
		switch {
		case role.Allows(need):
			return allowed
		case !role.Allows(auth.Read):
			return http.StatusNotFound
		case !signedIn:
			return http.StatusUnauthorized
		}
		return http.StatusForbidden
	}
	return -1
}

// TestAuthorizationTable checks the one authorisation table: every route
// the server answers has a rule, and every route, called by every kind of
// caller on a public and on a private project, is allowed or denied as its
// rule says: 404 for a private project the caller cannot see, 401 for an
// anonymous caller without the right, 403 for a signed-in one.
//
// The agent protocol (/agent/) is authenticated by agent tokens in
// internal/dispatch, which has its own tests; here it is only checked
// that users' API tokens do not open it.
func TestAuthorizationTable(t *testing.T) {
	t.Parallel()
	f := newAuthzFixture(t)
	rules := f.e.Server.Rules()
	byPattern := map[string]string{}
	for _, r := range rules {
		if _, dup := byPattern[r.Pattern]; dup {
			t.Errorf("route %q is in the table twice", r.Pattern)
		}
		byPattern[r.Pattern] = r.Access
		if r.Access == "" {
			t.Errorf("route %q has no access rule", r.Pattern)
		}
		scoped := strings.Contains(r.Pattern, "{project}") || strings.Contains(r.Pattern, "/workflows/{id}") ||
			strings.Contains(r.Pattern, "/pipelines/{id}") || strings.Contains(r.Pattern, "/jobs/{id}")
		if r.API && scoped && !strings.HasPrefix(r.Access, "project-") {
			t.Errorf("route %q acts in a project but its rule is %q, not a project rule", r.Pattern, r.Access)
		}
	}
	routes := f.e.Server.Routes()
	for _, p := range routes {
		if _, ok := byPattern[p]; !ok {
			t.Errorf("the server answers %q, which the authorisation table does not list: add it with a rule (internal/api)", p)
		}
	}
	for p := range byPattern {
		if !slices.Contains(routes, p) {
			t.Errorf("the authorisation table lists %q, which the server does not answer", p)
		}
	}

	for _, r := range rules {
		if r.Access == "agent-token" {
			continue
		}
		scoped := strings.HasPrefix(r.Access, "project-")
		for _, public := range []bool{true, false} {
			if !scoped && !public {
				continue // the project does not matter
			}
			var pf *projectFixture
			if scoped || strings.Contains(r.Pattern, "{project}") {
				pf = f.projects[public]
			}
			for _, who := range callers {
				name := fmt.Sprintf("%s/%s", r.Pattern, who)
				if scoped || pf != nil {
					name += "/" + pf.name
				}
				req := f.request(t, r.Pattern, who, pf)
				got, body := f.do(t, req, who)
				want := expect(r.Access, who, public)
				denials := []int{http.StatusUnauthorized, http.StatusForbidden}
				if scoped {
					denials = append(denials, http.StatusNotFound)
				}
				switch {
				case want == allowed && slices.Contains(denials, got):
					t.Errorf("%s (%s %s, rule %s): status %d, want allowed: %s", name, req.method, req.path, r.Access, got, body)
				case want != allowed && got != want:
					t.Errorf("%s (%s %s, rule %s): status %d, want %d: %s", name, req.method, req.path, r.Access, got, want, body)
				}
			}
		}
	}

	// A repository on the server's disk is for organisation admins only,
	// when a project is created and when its URL is changed.
	for _, tc := range []struct {
		who, method, path, url string
		want                   int
	}{
		{orgAdmin, "POST", "/api/v1/projects", "file://" + f.repo.Dir, http.StatusCreated},
		{orgAdmin, "POST", "/api/v1/projects", f.repo.Dir, http.StatusCreated},
		{creator, "POST", "/api/v1/projects", "file://" + f.repo.Dir, http.StatusForbidden},
		{creator, "POST", "/api/v1/projects", f.repo.Dir, http.StatusForbidden},
		{creator, "POST", "/api/v1/projects", "ext::sh -c id", http.StatusForbidden},
		{creator, "POST", "/api/v1/projects", "ftp://git.invalid/app", http.StatusBadRequest},
		{creator, "POST", "/api/v1/projects", "git@git.invalid:team/app.git", http.StatusCreated},
		{noRole, "POST", "/api/v1/projects", "https://git.invalid/app.git", http.StatusForbidden},
		{anonymous, "POST", "/api/v1/projects", "https://git.invalid/app.git", http.StatusUnauthorized},
		{projectAdmin, "PATCH", "/api/v1/projects/priv", "file:///", http.StatusForbidden},
		{projectAdmin, "PATCH", "/api/v1/projects/priv", "/etc", http.StatusForbidden},
		{orgAdmin, "PATCH", "/api/v1/projects/priv", f.repo.URL(), http.StatusOK},
	} {
		body := map[string]any{"repo_url": tc.url}
		if tc.method == "POST" {
			body["name"] = f.unique("url")
		}
		got, msg := f.do(t, request{method: tc.method, path: tc.path, body: body}, tc.who)
		if got != tc.want {
			t.Errorf("%s %s with repo_url %q as %s: status %d, want %d: %s", tc.method, tc.path, tc.url, tc.who, got, tc.want, msg)
		}
		if got == http.StatusForbidden && tc.who == creator && !strings.Contains(msg, "only be used by organisation admins") {
			t.Errorf("%s %s with repo_url %q as %s: the refusal does not name the rule: %s", tc.method, tc.path, tc.url, tc.who, msg)
		}
	}

	// An organisation secret's project policy is the organisation admins'
	// to set; a project admin can neither widen it nor give a project
	// secret one.
	policy := f.unique("P")
	env := []map[string]string{{"name": "A", "value": "xxxx"}}
	for _, tc := range []struct {
		who, method, path string
		body              map[string]any
		want              int
	}{
		{orgAdmin, "POST", "/api/v1/secrets", map[string]any{"name": policy, "env_vars": env, "project_access": "allowed", "projects": []string{"pub"}}, http.StatusCreated},
		{projectAdmin, "PUT", "/api/v1/secrets/" + policy, map[string]any{"project_access": "all"}, http.StatusForbidden},
		{creator, "PUT", "/api/v1/secrets/" + policy, map[string]any{"project_access": "all"}, http.StatusForbidden},
		{projectAdmin, "POST", "/api/v1/projects/priv/secrets", map[string]any{"name": policy, "env_vars": env, "project_access": "all"}, http.StatusBadRequest},
		{orgAdmin, "PUT", "/api/v1/secrets/" + policy, map[string]any{"project_access": "allowed", "projects": []string{"no-such-project"}}, http.StatusBadRequest},
		{orgAdmin, "PUT", "/api/v1/secrets/" + policy, map[string]any{"project_access": "some"}, http.StatusBadRequest},
		{orgAdmin, "PUT", "/api/v1/secrets/" + policy, map[string]any{"project_access": "none"}, http.StatusOK},
	} {
		got, msg := f.do(t, request{method: tc.method, path: tc.path, body: tc.body}, tc.who)
		if got != tc.want {
			t.Errorf("%s %s %v as %s: status %d, want %d: %s", tc.method, tc.path, tc.body, tc.who, got, tc.want, msg)
		}
	}

	// Users' API tokens do not open the agent protocol.
	for _, who := range callers {
		got, _ := f.do(t, request{method: "POST", path: "/agent/v1/register", body: map[string]any{"name": "x"}}, who)
		if got != http.StatusUnauthorized && got != http.StatusForbidden {
			t.Errorf("POST /agent/v1/register as %s: status %d, want 401 or 403", who, got)
		}
		for _, path := range []string{"/agent/v1/poll", "/agent/v1/jobs/" + f.projects[false].job + "/finish", "/agent/v1/disconnect"} {
			if got, _ := f.do(t, request{method: "POST", path: path, body: map[string]any{"result": "passed"}}, who); got != http.StatusUnauthorized {
				t.Errorf("POST %s as %s: status %d, want 401", path, who, got)
			}
		}
	}
	// An agent token only registers agents: everything else needs the
	// credential of the agent a job is assigned to.
	f.tokens["agent-token"] = f.e.AgentToken
	for _, path := range []string{"/agent/v1/poll", "/agent/v1/jobs/" + f.projects[false].job + "/logs", "/agent/v1/jobs/" + f.projects[false].job + "/finish", "/agent/v1/disconnect"} {
		if got, body := f.do(t, request{method: "POST", path: path, body: map[string]any{"seq": 0, "result": "passed"}}, "agent-token"); got != http.StatusUnauthorized || !strings.Contains(body, "only registers") {
			t.Errorf("POST %s with an agent token: status %d, want 401 saying it only registers: %s", path, got, body)
		}
	}
}

// publishTests gives pf's job a test report in which one test failed and
// passed, and returns that test's id.
func (f *authzFixture) publishTests(t *testing.T, pf *projectFixture) string {
	t.Helper()
	j, err := f.e.Server.Store.GetJob(t.Context(), pf.job)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := testreport.Decode(strings.NewReader(`{"testResults":[{"name":"unit","suites":[{"name":"s","tests":[{"name":"t","state":"failed"},{"name":"t","state":"passed"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Server.Tests.PutJob(t.Context(), j, testreport.Received{Result: rep}); err != nil {
		t.Fatal(err)
	}
	return rep.TestResults[0].Suites[0].Tests[0].ID
}

// publishCoverage gives pf's job (and so its pipeline) code coverage.
func (f *authzFixture) publishCoverage(t *testing.T, pf *projectFixture) {
	t.Helper()
	j, err := f.e.Server.Store.GetJob(t.Context(), pf.job)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := coverage.Parse("c.out", []byte("mode: set\na.go:1.1,2.2 1 1\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Server.Coverage.PutJob(t.Context(), j, rep); err != nil {
		t.Fatal(err)
	}
}
