package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/batonci/baton/internal/apiv1"
)

// The endpoints most callers need, typed. Any other endpoint is a Do with
// the apiv1 type of its body and answer.

// Me is the signed-in user (GET /api/v1/me).
func (c *Client) Me(ctx context.Context) (*apiv1.User, error) {
	var u apiv1.User
	return &u, c.Do(ctx, http.MethodGet, "/api/v1/me", nil, &u)
}

// CreateProject creates a project (POST /api/v1/projects).
func (c *Client) CreateProject(ctx context.Context, req apiv1.ProjectRequest) (*apiv1.Project, error) {
	var p apiv1.Project
	return &p, c.Do(ctx, http.MethodPost, "/api/v1/projects", req, &p)
}

// Project reads a project by name or ID (GET /api/v1/projects/{project}).
func (c *Client) Project(ctx context.Context, project string) (*apiv1.Project, error) {
	var p apiv1.Project
	return &p, c.Do(ctx, http.MethodGet, "/api/v1/projects/"+url.PathEscape(project), nil, &p)
}

// RunWorkflow starts a workflow of a project by hand (POST
// /api/v1/projects/{project}/workflows).
func (c *Client) RunWorkflow(ctx context.Context, project string, req apiv1.RunRequest) (*apiv1.Workflow, error) {
	var w apiv1.Workflow
	return &w, c.Do(ctx, http.MethodPost, "/api/v1/projects/"+url.PathEscape(project)+"/workflows", req, &w)
}

// Workflow reads a workflow with its pipelines, blocks and jobs (GET
// /api/v1/workflows/{id}).
func (c *Client) Workflow(ctx context.Context, id string) (*apiv1.WorkflowView, error) {
	var w apiv1.WorkflowView
	return &w, c.Do(ctx, http.MethodGet, "/api/v1/workflows/"+url.PathEscape(id), nil, &w)
}

// Pipeline reads a pipeline with its blocks and jobs (GET
// /api/v1/pipelines/{id}).
func (c *Client) Pipeline(ctx context.Context, id string) (*apiv1.Pipeline, error) {
	var p apiv1.Pipeline
	return &p, c.Do(ctx, http.MethodGet, "/api/v1/pipelines/"+url.PathEscape(id), nil, &p)
}

// Job reads a job (GET /api/v1/jobs/{id}).
func (c *Client) Job(ctx context.Context, id string) (*apiv1.JobView, error) {
	var j apiv1.JobView
	return &j, c.Do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
}

// JobLog opens a job's log (GET /api/v1/jobs/{id}/log) in format
// ("text", "events", "lines"; "" for the API's default); the caller reads
// and closes the answer.
func (c *Client) JobLog(ctx context.Context, id, format string) (*http.Response, error) {
	path := "/api/v1/jobs/" + url.PathEscape(id) + "/log"
	if format != "" {
		path += "?format=" + url.QueryEscape(format)
	}
	return c.Stream(ctx, path)
}
