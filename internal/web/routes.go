package web

import "net/http"

// routes registers every page. Each route has a row in the API's
// authorisation table (api.outsideRoutes); the pages get their data from
// the API, which enforces it, and write forms check the write role first
// (requireWrite) so that they are refused alike whatever they call.
func (w *Web) routes() {
	w.handle("GET /static/{file...}", w.serveStatic)
	w.handle("GET /{$}", w.home)
	w.handle("GET /login", w.loginForm)
	w.handle("POST /login", w.login)
	w.handle("POST /logout", w.logout)
	w.handle("POST /projects", w.createProject)
	w.handle("GET /projects/{project}", w.project)
	w.handle("POST /projects/{project}/run", w.runWorkflow)
	w.handle("GET /projects/{project}/deployments", w.deployments)
	w.handle("GET /projects/{project}/schedules", w.schedules)
	w.handle("POST /projects/{project}/schedules/{name}/run", w.runSchedule)
	w.handle("GET /workflows/{id}", w.workflow)
	w.handle("GET /workflows/{id}/timing", w.timing)
	w.handle("GET /workflows/{id}/tests", w.tests)
	w.handle("POST /workflows/{id}/stop", w.workflowAction("workflows", "stop"))
	w.handle("POST /workflows/{id}/rebuild", w.workflowAction("workflows", "rebuild"))
	w.handle("POST /pipelines/{id}/stop", w.workflowAction("pipelines", "stop"))
	w.handle("POST /pipelines/{id}/rerun-failed", w.workflowAction("pipelines", "rerun-failed"))
	w.handle("POST /pipelines/{id}/promote", w.promote)
	w.handle("GET /jobs/{id}", w.job)
	w.handle("POST /jobs/{id}/stop", w.stopJob)
	w.handle("GET /agents", w.agents)
	w.handle("GET /settings/tokens", w.tokens)
	w.handle("POST /settings/tokens", w.createToken)
	w.handle("POST /settings/tokens/{id}/revoke", w.revokeToken)
	w.handle("GET /settings/keys", w.keys)
	w.handle("POST /settings/keys", w.addKey)
	w.handle("POST /settings/keys/{id}/remove", w.removeKey)
	w.handle("GET /badges/{file}", w.badge)
	w.handle("GET /badges/{project}/branches/{file...}", w.badge)
	w.mux.Handle("/", http.HandlerFunc(w.notFound))
}
