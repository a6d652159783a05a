package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"

	"github.com/batonci/baton/internal/artifact"
	"github.com/batonci/baton/internal/jobsvc"
)

// Artifacts: what jobs pushed with `artifact push` (internal/artifact),
// read by whoever may read the project's logs (project-read):
//
//	GET /api/v1/jobs/{id}/artifacts                a job's, as JSON []ArtifactView
//	GET /api/v1/workflows/{id}/artifacts           a workflow's
//	GET /api/v1/projects/{project}/artifacts       the project's
//	GET .../artifacts/{path...}                    one file's content
//
// A job, workflow or project the caller cannot read, and a path that is
// not there, answer 404 alike.

// ArtifactView is one stored artifact file: its path in its scope, its
// size in bytes, its scope (job, workflow or project) and when it was
// stored.
type ArtifactView = artifact.Entry

func (a *API) artifactRoutes() []route {
	return []route{
		{"GET /api/v1/jobs/{id}/artifacts", projectRead, a.listArtifacts},
		{"GET /api/v1/jobs/{id}/artifacts/{path...}", projectRead, a.getArtifact},
		{"GET /api/v1/workflows/{id}/artifacts", projectRead, a.listArtifacts},
		{"GET /api/v1/workflows/{id}/artifacts/{path...}", projectRead, a.getArtifact},
		{"GET /api/v1/projects/{project}/artifacts", projectRead, a.listArtifacts},
		{"GET /api/v1/projects/{project}/artifacts/{path...}", projectRead, a.getArtifact},
	}
}

// artifactOwner returns the project, scope and owner ID of the request's
// artifacts, checking the caller may read them.
func (a *API) artifactOwner(r *http.Request, c *caller) (projectID, scope, id string, err error) {
	switch {
	case r.PathValue("project") != "":
		p, err := a.project(r, c, r.PathValue("project"))
		if err != nil {
			return "", "", "", err
		}
		return p.ID, artifact.ScopeProject, p.ID, nil
	case pathHas(r, "/api/v1/workflows/"):
		wf, p, err := a.workflow(r, c)
		if err != nil {
			return "", "", "", err
		}
		return p.ID, artifact.ScopeWorkflow, wf.ID, nil
	default:
		j, err := a.job(r, c)
		if err != nil {
			return "", "", "", err
		}
		return j.ProjectID, artifact.ScopeJob, j.ID, nil
	}
}

func pathHas(r *http.Request, prefix string) bool {
	return len(r.URL.Path) >= len(prefix) && r.URL.Path[:len(prefix)] == prefix
}

func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request, c *caller) {
	project, scope, id, err := a.artifactOwner(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	if a.cfg.Artifacts == nil {
		writeJSON(w, http.StatusOK, []ArtifactView{})
		return
	}
	list, err := a.cfg.Artifacts.List(r.Context(), project, scope, id)
	if err != nil {
		writeError(w, fmt.Errorf("list artifacts: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *API) getArtifact(w http.ResponseWriter, r *http.Request, c *caller) {
	project, scope, id, err := a.artifactOwner(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	notFound := fmt.Errorf("%w: artifact %q", errNotFound, r.PathValue("path"))
	if a.cfg.Artifacts == nil {
		writeError(w, notFound)
		return
	}
	rc, e, err := a.cfg.Artifacts.Open(r.Context(), project, scope, id, r.PathValue("path"))
	if errors.Is(err, jobsvc.ErrNotFound) {
		writeError(w, notFound)
		return
	}
	if err != nil {
		writeError(w, fmt.Errorf("open artifact: %w", err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(e.Size, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(e.Path)))
	w.Header().Set("Last-Modified", e.CreatedAt.Format(http.TimeFormat))
	if r.Method == http.MethodHead {
		return
	}
	io.Copy(w, rc) // a failure half-way cuts the download short of Content-Length
}
