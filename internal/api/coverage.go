package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/coverage"
	"github.com/batonci/baton/internal/coveragereports"
	"github.com/batonci/baton/internal/store"
)

// Code coverage: what jobs published with `coverage publish`, a
// pipeline's (its jobs' merged) with its change from the default
// branch's last pipeline, and a branch's trend. They are read like test
// reports: anyone who can read the project (anonymous visitors of a
// public one); private projects answer 404 to outsiders, and a public
// project's deployments are left out for people without a role in it.

func (a *API) coverageRoutes() []route {
	return []route{
		{"GET /api/v1/pipelines/{id}/coverage", projectRead, a.pipelineCoverage},
		{"GET /api/v1/projects/{project}/coverage", projectRead, a.coverageTrend},
	}
}

// MaxCoverageTrend is how many pipelines a trend holds at most;
// DefaultCoverageTrend when not asked.
const (
	MaxCoverageTrend     = 100
	DefaultCoverageTrend = 30
)

func (a *API) coverage() (*coveragereports.Service, error) {
	if a.cfg.Coverage == nil {
		return nil, errors.New("this server keeps no coverage")
	}
	return a.cfg.Coverage, nil
}

// percent rounds a percentage to two decimals.
func percent(lines, covered int64) float64 {
	return math.Round(coverage.Totals{Lines: lines, Covered: covered}.Percent()*100) / 100
}

func (a *API) pipelineCoverage(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.cfg.Store.GetPipeline(r.Context(), r.PathValue("id"))
	var p *ci.Project
	if err == nil {
		p, err = a.readableProject(r, c, pl.ProjectID)
	}
	if err != nil {
		return fmt.Errorf("%w: pipeline %q", errNotFound, r.PathValue("id"))
	}
	cs, err := a.coverage()
	if err != nil {
		return fmt.Errorf("%w: %w", errNotFound, err)
	}
	pc, err := cs.PipelineCoverage(r.Context(), pl.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no job of pipeline %s published coverage", errNotFound, pl.ID)
	}
	if err != nil {
		return err
	}
	v := apiv1.CoverageView{PipelineID: pl.ID, Format: string(pc.Format), Files: pc.Files, Lines: pc.Lines, Covered: pc.Covered,
		Percent: percent(pc.Lines, pc.Covered), Final: pc.Final, Jobs: []apiv1.JobCoverageView{}}
	for _, j := range pc.Jobs {
		v.Jobs = append(v.Jobs, apiv1.JobCoverageView{JobID: j.JobID, Name: j.JobName, Format: j.Format, Files: j.Files,
			Lines: j.Lines, Covered: j.Covered, Percent: percent(j.Lines, j.Covered)})
	}
	base, err := a.coveragePoints(r.Context(), c, p, p.DefaultBranch, pl.CreatedAt, 1, pl.ID)
	if err != nil {
		return err
	}
	if len(base) == 1 {
		v.Base = &base[0]
		change := math.Round((pc.Percent()-coverage.Totals{Lines: base[0].Lines, Covered: base[0].Covered}.Percent())*100) / 100
		v.Change = &change
	}
	return writeJSON(w, http.StatusOK, v)
}

// coveragePoints returns the coverage of p's last limit pipelines on
// branch that c may see, newest first: created before before (if set),
// other than skip.
func (a *API) coveragePoints(ctx context.Context, c *caller, p *ci.Project, branch string, before time.Time, limit int, skip string) ([]apiv1.CoveragePoint, error) {
	out := []apiv1.CoveragePoint{}
	// A few more than asked, for the deployments c may not see.
	for page := limit + 10; ; page *= 4 {
		recs, err := a.cfg.Store.CoverageTrend(ctx, p.ID, branch, before, page)
		if err != nil {
			return nil, err
		}
		out = out[:0]
		for _, rec := range recs {
			if rec.PipelineID == skip {
				continue
			}
			if p.Public && !p.DeploymentDetailsPublic {
				pl, err := a.cfg.Store.GetPipeline(ctx, rec.PipelineID)
				if err != nil || !c.seesDeployment(p, pl) {
					continue // a deployment's coverage is its members'
				}
			}
			out = append(out, apiv1.CoveragePoint{PipelineID: rec.PipelineID, WorkflowID: rec.WorkflowID, Branch: rec.Branch, SHA: rec.SHA,
				Lines: rec.Lines, Covered: rec.Covered, Percent: percent(rec.Lines, rec.Covered), At: rec.CreatedAt})
			if len(out) == limit {
				return out, nil
			}
		}
		if len(recs) < page || page >= 10*MaxCoverageTrend {
			return out, nil
		}
	}
}

func (a *API) coverageTrend(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	branch := r.URL.Query().Get("branch")
	if branch == "" {
		branch = p.DefaultBranch
	}
	limit := DefaultCoverageTrend
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxCoverageTrend {
			return fmt.Errorf("%w: limit must be 1 to %d", errBadRequest, MaxCoverageTrend)
		}
		limit = n
	}
	points, err := a.coveragePoints(r.Context(), c, p, branch, time.Time{}, limit, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.CoverageTrendView{Project: p.Name, Branch: branch, Pipelines: points})
}
