package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/artifact"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/store"
)

// Artifacts: what jobs pushed with `artifact push` (internal/artifact),
// read by whoever may read the project's logs (project-read):
//
//	GET /api/v1/jobs/{id}/artifacts                a job's, as JSON []apiv1.Artifact
//	GET /api/v1/workflows/{id}/artifacts           a workflow's
//	GET /api/v1/projects/{project}/artifacts       the project's
//	GET .../artifacts/{path...}                    one file's content
//
// A job, workflow or project the caller cannot read, and a path that is
// not there, answer 404 alike.

func (a *API) artifactRoutes() []route {
	return []route{
		{"GET /api/v1/jobs/{id}/artifacts", projectRead, a.listArtifacts},
		{"GET /api/v1/jobs/{id}/artifacts/{path...}", projectRead, a.getArtifact},
		{"GET /api/v1/workflows/{id}/artifacts", projectRead, a.listArtifacts},
		{"GET /api/v1/workflows/{id}/artifacts/{path...}", projectRead, a.getArtifact},
		{"GET /api/v1/projects/{project}/artifacts", projectRead, a.listArtifacts},
		{"GET /api/v1/projects/{project}/artifacts/{path...}", projectRead, a.getArtifact},
		{"GET /api/v1/projects/{project}/artifact-retention", projectRead, a.getRetention},
		{"PUT /api/v1/projects/{project}/artifact-retention", projectAdmin, a.setRetention},
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

func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request, c *caller) error {
	project, scope, id, err := a.artifactOwner(r, c)
	if err != nil {
		return err
	}
	if a.cfg.Artifacts == nil {
		return writeJSON(w, http.StatusOK, []apiv1.Artifact{})
	}
	list, err := a.cfg.Artifacts.List(r.Context(), project, scope, id)
	if err != nil {
		return fmt.Errorf("list artifacts: %w", err)
	}
	return writeJSON(w, http.StatusOK, each(list, artifactView))
}

func (a *API) getArtifact(w http.ResponseWriter, r *http.Request, c *caller) error {
	project, scope, id, err := a.artifactOwner(r, c)
	if err != nil {
		return err
	}
	notFound := fmt.Errorf("%w: artifact %q", errNotFound, r.PathValue("path"))
	if a.cfg.Artifacts == nil {
		return notFound
	}
	rc, e, err := a.cfg.Artifacts.Open(r.Context(), project, scope, id, r.PathValue("path"))
	if errors.Is(err, jobsvc.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("open artifact: %w", err)
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(e.Size, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(e.Path)))
	w.Header().Set("Last-Modified", e.CreatedAt.Format(http.TimeFormat))
	if r.Method != http.MethodHead {
		io.Copy(w, rc) // a failure half-way cuts the download short of Content-Length
	}
	return nil
}

func retentionView(rules []store.RetentionRule) apiv1.RetentionView {
	v := apiv1.RetentionView{Rules: []apiv1.RetentionRuleView{}}
	for _, r := range rules {
		v.Rules = append(v.Rules, apiv1.RetentionRuleView{Scope: r.Scope, Glob: r.Glob, Age: r.MaxAge.String(), AgeSeconds: int64(r.MaxAge / time.Second)})
	}
	return v
}

func (a *API) getRetention(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	rules, err := a.cfg.Store.ArtifactRetention(r.Context(), p.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retentionView(rules))
}

func (a *API) setRetention(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	var body struct {
		Rules []struct {
			Scope string          `json:"scope"`
			Glob  string          `json:"glob"`
			Age   json.RawMessage `json:"age"`
		} `json:"rules"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if len(body.Rules) > artifact.MaxRetentionRules {
		return fmt.Errorf("%w: at most %d retention rules", errBadRequest, artifact.MaxRetentionRules)
	}
	var rules []store.RetentionRule
	for i, br := range body.Rules {
		var age string
		if err := json.Unmarshal(br.Age, &age); err != nil {
			return fmt.Errorf("%w: rule %d: age must be a string such as \"7d\" or \"36h\"", errBadRequest, i+1)
		}
		d, err := artifact.ParseAge(age)
		if err != nil {
			return fmt.Errorf("%w: rule %d: %v", errBadRequest, i+1, err)
		}
		rule := artifact.RetentionRule{Scope: br.Scope, Glob: br.Glob, MaxAge: d}
		if err := rule.Validate(); err != nil {
			return fmt.Errorf("%w: rule %d: %v", errBadRequest, i+1, err)
		}
		rules = append(rules, store.RetentionRule{Scope: rule.Scope, Glob: rule.Glob, MaxAge: d.Truncate(time.Second)})
	}
	var detail []string
	for _, rule := range rules {
		detail = append(detail, rule.Scope+":"+rule.Glob+":"+rule.MaxAge.String())
	}
	err = a.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error {
		if err := tx.SetArtifactRetention(p.ID, rules); err != nil {
			return err
		}
		return audit.Record(r.Context(), tx, audit.Event{Action: audit.ProjectChanged, Target: p.Name, ProjectID: p.ID,
			Detail: "artifact retention: " + strings.Join(detail, " "), At: a.cfg.Now()})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retentionView(rules))
}
