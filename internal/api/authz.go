package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/httpedge"
	"github.com/batonci/baton/internal/store"
)

// The authorisation table.
//
// Every route the server answers has exactly one access rule: the API's
// routes in table() (api.go), the routes other packages serve in
// outsideRoutes(). guard enforces the rule before a handler runs, so a
// handler never decides who may call it. TestAuthorizationTable (in
// internal/server) drives every route with every kind of caller on a
// public and a private project, and fails when the server has a route the
// table does not list.
//
// Project rules find the project from the path: {project} (name or ID),
// or the workflow, pipeline or job named by /workflows/{id},
// /pipelines/{id} or /jobs/{id}. A caller's role in a project is:
// org admins: admin in every project; members: their role; on a public
// project everyone (anonymous included) has at least read. Then:
//   - a project the caller cannot read answers 404, whatever the rule, so
//     that private projects do not leak;
//   - a readable project without the role answers 401 to anonymous
//     callers and 403 to signed-in ones.
//
// Deployment details (seesDeployment) are the one rule beyond the roles:
// in a public project, a pipeline promoted to a deployment target is shown
// in full only to callers with a role in the project (members and
// organisation admins), unless the project's deployment details are
// public. Everyone else sees its promotion's name, when it ran and its
// result (deploymentSummary), and the routes of its jobs (the job, its
// log and its live stream, its commands, artifacts and test reports) and
// of its promotions answer 401 to anonymous callers and 403 to signed-in
// ones, whatever serves them: the API, the pages, the badges, the CLI.

// access says who may call a route: the rule of one row of the table.
type access int

const (
	// unset is a row without a rule: refused with 403, and the table
	// test fails.
	unset access = iota
	// anyone may call the route, signed in or not (the handler may still
	// filter what it shows, as GET /api/v1/projects does).
	anyone
	// signedIn needs any signed-in user.
	signedIn
	// self needs a signed-in user and acts on the caller's own things
	// (their API tokens).
	self
	// projectRead needs read access to the route's project: it is public,
	// or the caller has a role in it.
	projectRead
	// projectWrite needs the write role: run, stop, rebuild, rerun,
	// promote, debug.
	projectWrite
	// projectAdmin needs the project's admin role: settings, members,
	// secrets.
	projectAdmin
	// orgAdmin needs an organisation admin (ci.User.Admin).
	orgAdmin
	// projectCreator needs an organisation admin or a user an admin
	// allowed to create projects (ci.User.CanCreateProjects).
	projectCreator
	// hookSignature routes are authenticated by the HMAC signature of the
	// delivery with the project's webhook secret, not by a user.
	hookSignature
	// agentToken routes are the agent protocol (/agent/v1), authenticated
	// with agent tokens by internal/dispatch; users' tokens are refused.
	agentToken
)

var accessNames = [...]string{
	unset: "", anyone: "anyone", signedIn: "signed-in", self: "self",
	projectRead: "project-read", projectWrite: "project-write", projectAdmin: "project-admin",
	orgAdmin: "org-admin", projectCreator: "project-creator", hookSignature: "hook-signature", agentToken: "agent-token",
}

// String is the rule's name in docs and tests.
func (ac access) String() string {
	if int(ac) < len(accessNames) {
		return accessNames[ac]
	}
	return ""
}

// route is one row of the authorisation table.
type route struct {
	pattern string
	access  access
	handler handlerFunc
}

// outsideRoutes are the routes other packages serve, with their rules, so
// that the table covers the whole server.
func outsideRoutes() []route {
	return []route{
		{"GET /{$}", anyone, nil},              // web: the landing page
		{"GET /login", anyone, nil},            // web: the sign-in page
		{"POST /login", anyone, nil},           // web: sign in (rate-limited)
		{"POST /logout", anyone, nil},          // web: sign out
		{"GET /static/{file...}", anyone, nil}, // web: stylesheet and scripts
		// The pages below read and write through the API in-process, which
		// enforces the same rules; write forms check the role first.
		{"POST /projects", projectCreator, nil},                                // web: the "New project" form
		{"GET /projects/{project}", projectRead, nil},                          // web: project page
		{"POST /projects/{project}/run", projectWrite, nil},                    // web: the Run button
		{"GET /projects/{project}/deployments", projectWrite, nil},             // web: deployment targets and history
		{"POST /projects/{project}/targets", projectAdmin, nil},                // web: create a deployment target
		{"POST /projects/{project}/targets/{name}", projectAdmin, nil},         // web: change a target's rules and secret
		{"POST /projects/{project}/targets/{name}/delete", projectAdmin, nil},  // web: delete a target
		{"GET /projects/{project}/schedules", projectRead, nil},                // web: schedules, next and last runs
		{"POST /projects/{project}/schedules/{name}/run", projectWrite, nil},   // web: a schedule's Run form
		{"GET /projects/{project}/settings", projectAdmin, nil},                // web: project settings and members
		{"POST /projects/{project}/settings", projectAdmin, nil},               // web: save the settings
		{"POST /projects/{project}/members", projectAdmin, nil},                // web: add a member or change a role
		{"POST /projects/{project}/members/{login}/remove", projectAdmin, nil}, // web: remove a member
		{"POST /projects/{project}/delete", projectAdmin, nil},                 // web: delete the project (its name typed again)
		{"GET /projects/{project}/secrets", projectWrite, nil},                 // web: the project's secrets (names only)
		{"POST /projects/{project}/secrets", projectAdmin, nil},                // web: add or replace a secret
		{"POST /projects/{project}/secrets/{name}/remove", projectAdmin, nil},  // web: remove a secret
		{"GET /settings/users", orgAdmin, nil},                                 // web: users
		{"POST /settings/users", orgAdmin, nil},                                // web: add a user
		{"POST /settings/users/{login}", orgAdmin, nil},                        // web: may the user create projects
		{"POST /settings/users/{login}/remove", orgAdmin, nil},                 // web: remove a user (login typed again)
		{"GET /settings/agent-tokens", orgAdmin, nil},                          // web: agent tokens
		{"POST /settings/agent-tokens", orgAdmin, nil},                         // web: create one, shown once
		{"POST /settings/agent-tokens/{id}/revoke", orgAdmin, nil},             // web: revoke one
		{"GET /settings/secrets", orgAdmin, nil},                               // web: organisation secrets (names only)
		{"POST /settings/secrets", orgAdmin, nil},                              // web: add or replace one
		{"POST /settings/secrets/{name}/remove", orgAdmin, nil},                // web: remove one
		{"GET /settings/notifications", orgAdmin, nil},                         // web: notifications and their deliveries
		{"POST /settings/notifications/{name}/test", orgAdmin, nil},            // web: send a test message
		{"POST /settings/notifications/{name}/delete", orgAdmin, nil},          // web: delete one (name typed again)
		{"GET /workflows/{id}", projectRead, nil},                              // web: workflow graph
		{"GET /workflows/{id}/timing", projectRead, nil},                       // web: waterfall, slowest commands
		{"GET /workflows/{id}/tests", projectRead, nil},                        // web: the workflow's test reports
		{"GET /projects/{project}/flaky", projectRead, nil},                    // web: flaky tests
		{"POST /projects/{project}/flaky/{test}/resolve", projectWrite, nil},   // web: mark one resolved
		{"POST /workflows/{id}/stop", projectWrite, nil},                       // web: stop button
		{"POST /workflows/{id}/rebuild", projectWrite, nil},                    // web: rebuild button
		{"POST /pipelines/{id}/stop", projectWrite, nil},                       // web: stop a pipeline
		{"POST /pipelines/{id}/rerun-failed", projectWrite, nil},               // web: rerun failed jobs
		{"POST /pipelines/{id}/promote", projectWrite, nil},                    // web: promote form
		{"GET /agents", signedIn, nil},                                         // web: agents and queue
		{"GET /libraries", signedIn, nil},                                      // web: script libraries
		{"GET /libraries/{name}", signedIn, nil},                               // web: a library's files and uses
		{"GET /libraries/{name}/files/{path...}", signedIn, nil},               // web: a file's content and history
		{"GET /settings/tokens", self, nil},                                    // web: own API tokens
		{"POST /settings/tokens", self, nil},                                   // web: create a token
		{"POST /settings/tokens/{id}/revoke", self, nil},                       // web: revoke a token
		{"GET /settings/keys", self, nil},                                      // web: own SSH keys
		{"POST /settings/keys", self, nil},                                     // web: add a key
		{"POST /settings/keys/{id}/remove", self, nil},                         // web: remove a key
		{"GET /badges/{file}", anyone, nil},
		{"GET /badges/{project}/coverage.svg", anyone, nil},       // web: the coverage badge; 404 for unreadable projects
		{"GET /badges/{project}/branches/{file...}", anyone, nil}, // web: Semaphore's form of a branch's badge                        // web: PROJECT.svg; 404 for unreadable projects
		{"GET /jobs/{id}", projectRead, nil},                      // web: the job page and its log
		{"POST /jobs/{id}/stop", projectWrite, nil},               // web: the job's stop button
		{"GET /metrics", anyone, nil},                             // server: counts only, no names
		{"POST /hooks/{project}", hookSignature, nil},             // trigger: signed deliveries
		{"/agent/", agentToken, nil},                              // dispatch: the agent protocol
	}
}

// Rule is a row of the authorisation table.
type Rule struct {
	// Pattern is the route's http.ServeMux pattern.
	Pattern string
	// Access names the rule: anyone, signed-in, self, project-read,
	// project-write, project-admin, org-admin, project-creator,
	// hook-signature or agent-token; "" when the row has none.
	Access string
	// API reports whether the API serves the route (the others are
	// served by the web pages, the trigger, the metrics or the dispatcher).
	API bool
}

// Rules returns the whole authorisation table.
func (a *API) Rules() []Rule {
	var out []Rule
	for _, rt := range a.table() {
		out = append(out, Rule{Pattern: rt.pattern, Access: rt.access.String(), API: true})
	}
	for _, rt := range outsideRoutes() {
		out = append(out, Rule{Pattern: rt.pattern, Access: rt.access.String()})
	}
	return out
}

// Routes lists the patterns of the API's route table.
func (a *API) Routes() []string {
	var out []string
	for _, rt := range a.table() {
		out = append(out, rt.pattern)
	}
	return out
}

// Patterns returns every pattern registered on the API's mux, however it
// was registered, so tests can check that the table covers them all.
func (a *API) Patterns() []string { return slices.Clone(a.mux.patterns) }

// patternMux is an http.ServeMux that remembers its patterns.
type patternMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern.
func (m *patternMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h for pattern.
func (m *patternMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (a *API) routes() {
	for _, rt := range a.table() {
		a.mux.HandleFunc(rt.pattern, a.guard(rt))
	}
	// The catch-all is not a route: it only answers 404 in JSON.
	a.mux.ServeMux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, fmt.Errorf("%w: no such endpoint %s %s", errNotFound, r.Method, r.URL.Path))
	})
}

// guard authenticates the request, enforces the route's rule, and calls
// its handler; the one error any of them returns is written by
// writeError.
func (a *API) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.serve(w, r, rt); err != nil {
			a.writeError(w, r, err)
		}
	}
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt route) error {
	c, err := a.authenticate(r)
	if err != nil {
		return err
	}
	r = r.WithContext(audit.WithRequest(r.Context(), c.login(), clientIP(r)))
	if err := a.authorize(r, c, rt); err != nil {
		return err
	}
	return rt.handler(w, r, c)
}

// authorize applies the rule of rt to c.
func (a *API) authorize(r *http.Request, c *caller, rt route) error {
	switch rt.access {
	case anyone:
		return nil
	case signedIn, self:
		if c.user == nil {
			return errUnauthorized
		}
		return nil
	case orgAdmin:
		if c.user == nil {
			return errUnauthorized
		}
		if !c.user.Admin {
			return fmt.Errorf("%w: only organisation admins may do this", errForbidden)
		}
		return nil
	case projectCreator:
		if c.user == nil {
			return errUnauthorized
		}
		if !c.user.Admin && !c.user.CanCreateProjects {
			return errCannotCreateProjects
		}
		return nil
	case projectRead, projectWrite, projectAdmin:
		p, err := a.routeProject(r, rt.pattern)
		if err != nil {
			return err
		}
		need := map[access]auth.Role{projectRead: auth.Read, projectWrite: auth.Write, projectAdmin: auth.Admin}[rt.access]
		role := c.role(p)
		switch {
		case role.Allows(need):
			return a.deploymentRoute(r, c, p, rt.pattern)
		case !role.Allows(auth.Read):
			return routeNotFound(r, rt.pattern)
		case c.user == nil:
			return errUnauthorized
		default:
			return fmt.Errorf("%w: this needs the %s role in project %s", errForbidden, need, p.Name)
		}
	}
	return fmt.Errorf("%w: route %q has no access rule", errForbidden, rt.pattern)
}

// routeProject finds the project a route's path names.
func (a *API) routeProject(r *http.Request, pattern string) (*ci.Project, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	notFound := routeNotFound(r, pattern)
	var projectID string
	switch {
	case strings.Contains(pattern, "/projects/{project}"):
		projectID = r.PathValue("project")
	case strings.Contains(pattern, "/workflows/{id}"):
		wf, err := a.cfg.Store.GetWorkflow(ctx, id)
		if err != nil {
			return nil, notFound
		}
		projectID = wf.ProjectID
	case strings.Contains(pattern, "/pipelines/{id}"):
		pl, err := a.cfg.Store.GetPipeline(ctx, id)
		if err != nil {
			return nil, notFound
		}
		projectID = pl.ProjectID
	case strings.Contains(pattern, "/jobs/{id}"):
		j, err := a.cfg.Store.GetJob(ctx, id)
		if err != nil {
			return nil, notFound
		}
		projectID = j.ProjectID
	default:
		return nil, fmt.Errorf("route %q has a project rule but names no project", pattern)
	}
	p, err := a.cfg.Store.GetProject(ctx, projectID)
	if err != nil {
		return nil, notFound
	}
	return p, nil
}

// seesDeployment reports whether c may see the details of pipeline pl of
// project p: its jobs, logs, parameters, artifacts, test reports and
// deployment target. Only a pipeline promoted to a deployment target in a
// public project whose deployment details are private is hidden, and only
// from callers without a role in the project. This is the one check; every
// route and view of a pipeline or a job goes through it.
func (c *caller) seesDeployment(p *ci.Project, pl *ci.Pipeline) bool {
	if pl == nil || pl.DeploymentTarget == "" || !p.Public || p.DeploymentDetailsPublic {
		return true
	}
	return c.memberRole(p).Allows(auth.Read)
}

// memberRole is c's own role in p: admin for organisation admins, a
// member's role, nothing for anyone else (a public project's read access
// for everyone does not count).
func (c *caller) memberRole(p *ci.Project) auth.Role {
	switch {
	case c.user == nil:
		return auth.NoRole
	case c.user.Admin:
		return auth.Admin
	}
	return c.roles[p.ID]
}

// errDeploymentDetails refuses a deployment's details to a caller without
// a role in its project.
func errDeploymentDetails(c *caller, p *ci.Project) error {
	if c.user == nil {
		return fmt.Errorf("%w: the details of project %s's deployments are shown to its members only; sign in", errUnauthorized, p.Name)
	}
	return fmt.Errorf("%w: the details of project %s's deployments are shown to its members only", errForbidden, p.Name)
}

// deploymentRoute applies seesDeployment to a route of a job (every one)
// or of a pipeline's promotions; the pipeline itself and the workflow
// are shown, summarised (deploymentSummary).
func (a *API) deploymentRoute(r *http.Request, c *caller, p *ci.Project, pattern string) error {
	if !p.Public || p.DeploymentDetailsPublic || c.memberRole(p).Allows(auth.Read) {
		return nil
	}
	var pipelineID string
	switch {
	case strings.Contains(pattern, "/jobs/{id}"):
		j, err := a.cfg.Store.GetJob(r.Context(), r.PathValue("id"))
		if err != nil {
			return routeNotFound(r, pattern)
		}
		pipelineID = j.PipelineID
	case strings.Contains(pattern, "/pipelines/{id}/"):
		pipelineID = r.PathValue("id")
	default:
		return nil
	}
	pl, err := a.cfg.Store.GetPipeline(r.Context(), pipelineID)
	if err != nil {
		return routeNotFound(r, pattern)
	}
	if !c.seesDeployment(p, pl) {
		return errDeploymentDetails(c, p)
	}
	return nil
}

// deploymentSummary returns pl as c may see it: itself, or for a hidden
// deployment its promotion's name, state, result and times only.
func deploymentSummary(c *caller, p *ci.Project, pl *ci.Pipeline) *ci.Pipeline {
	if c.seesDeployment(p, pl) {
		return pl
	}
	return &ci.Pipeline{ID: pl.ID, WorkflowID: pl.WorkflowID, ProjectID: pl.ProjectID, Name: pl.Promotion,
		State: pl.State, Result: pl.Result, Reason: pl.Reason, PromotionOf: pl.PromotionOf, Promotion: pl.Promotion,
		CreatedAt: pl.CreatedAt, StartedAt: pl.StartedAt, DoneAt: pl.DoneAt, DetailsHidden: true}
}

// routeNotFound is the answer for a route whose project the caller may
// not read, or whose object does not exist: the same either way, naming
// what the path names (`not found: job "ID"`).
func routeNotFound(r *http.Request, pattern string) error {
	for _, what := range []string{"workflow", "pipeline", "job"} {
		if strings.Contains(pattern, "/"+what+"s/{id}") {
			return fmt.Errorf("%w: %s %q", errNotFound, what, r.PathValue("id"))
		}
	}
	return fmt.Errorf("%w: project %q", errNotFound, r.PathValue("project"))
}

// caller is who makes a request; user is nil for anonymous requests.
type caller struct {
	user *ci.User
	// roles are a non-admin user's roles by project ID.
	roles map[string]auth.Role
	// session is set when a session cookie authenticated the request.
	session *store.Session
}

// login is the caller's login, "" for anonymous callers.
func (c *caller) login() string {
	if c.user == nil {
		return ""
	}
	return c.user.Login
}

// role is the caller's role in p: admin for organisation admins, at least
// read in a public project.
func (c *caller) role(p *ci.Project) auth.Role {
	r := auth.NoRole
	switch {
	case c.user == nil:
	case c.user.Admin:
		r = auth.Admin
	default:
		r = c.roles[p.ID]
	}
	if p.Public && r < auth.Read {
		r = auth.Read
	}
	return r
}

// canRead reports whether c may see p.
func (c *caller) canRead(p *ci.Project) bool { return c.role(p).Allows(auth.Read) }

// errCannotCreateProjects refuses a project to a user who may not create
// one.
var errCannotCreateProjects = fmt.Errorf("%w: creating projects is for organisation admins and users an admin allowed to (baton user update LOGIN --can-create-projects)", errForbidden)

var (
	errUnauthorized = errors.New("authentication required: send Authorization: Token <token>")
	errNotFound     = errors.New("not found")
	errForbidden    = errors.New("forbidden")
	errConflict     = errors.New("conflict")
	errBadRequest   = errors.New("bad request")
)

// safeMethod reports whether a method changes nothing, so that a
// cookie-authenticated request needs no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// CSRFHeader carries the session's CSRF token on state-changing requests
// authenticated by a session cookie (GET /api/v1/me returns the token).
const CSRFHeader = "X-CSRF-Token"

// authenticate resolves the request's API token or session cookie. A
// request with neither, or with a session that expired, is anonymous; a
// request with a bad token is refused, and so is a state-changing request
// authenticated by a cookie without the session's CSRF token.
func (a *API) authenticate(r *http.Request) (*caller, error) {
	ctx := r.Context()
	c := &caller{}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Token ")
		if !ok {
			tok, ok = strings.CutPrefix(h, "Bearer ")
		}
		if !ok || tok == "" {
			return nil, errUnauthorized
		}
		t, err := a.cfg.Store.TokenByHash(ctx, auth.HashToken(tok))
		if err != nil || t.Kind != store.TokenAPI {
			return nil, fmt.Errorf("%w (invalid or revoked token)", errUnauthorized)
		}
		_ = a.cfg.Store.NoteTokenUse(ctx, t, a.cfg.Now())
		if c.user, err = a.cfg.Store.GetUserByID(ctx, t.UserID); err != nil {
			return nil, fmt.Errorf("%w (the token's user no longer exists)", errUnauthorized)
		}
	} else if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
		s, err := a.cfg.Store.SessionByHash(ctx, auth.HashToken(ck.Value), a.cfg.Now())
		if err != nil {
			return c, nil
		}
		u, err := a.cfg.Store.GetUserByID(ctx, s.UserID)
		if err != nil {
			return c, nil
		}
		if !safeMethod(r.Method) {
			got := r.Header.Get(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken)) != 1 {
				return nil, fmt.Errorf("%w: a request signed in by cookie needs the session's %s header", errForbidden, CSRFHeader)
			}
		}
		c.user, c.session = u, s
	}
	if c.user != nil && !c.user.Admin {
		roles, err := a.cfg.Store.UserRoles(ctx, c.user.ID)
		if err != nil {
			return nil, err
		}
		c.roles = make(map[string]auth.Role, len(roles))
		for id, name := range roles {
			c.roles[id], _ = auth.ParseRole(name)
		}
	}
	return c, nil
}

// clientIP is the address the request came from: X-Forwarded-For counts
// only from a trusted proxy (internal/httpedge), else a client could
// forge it to escape the sign-in rate limit.
func clientIP(r *http.Request) string { return httpedge.ClientAddr(r) }
