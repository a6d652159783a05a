// Package jobenv builds what every job receives: its environment
// (docs/semaphore.md §5), the SEMAPHORE_* system and git variables in
// Semaphore's precedence order (system < secrets < YAML variables), and,
// with Build, the whole jobspec.Job an agent runs for a compiled plan job.
// It is pure, so `baton run` and the server build identical jobs.
package jobenv

import (
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/jobspec"
)

// Context describes one job of one pipeline of one workflow.
type Context struct {
	ProjectName, ProjectID string
	OrganizationURL        string
	OrganizationID         string

	WorkflowID     string
	WorkflowNumber int
	// Trigger is "hook", "api", "manual" or "schedule".
	Trigger     string
	TriggeredBy string
	Rerun       bool

	PipelineID   string
	PipelineName string
	// PromotedBy is "" for an initial pipeline, a login, or "auto-promotion".
	PromotedBy    string
	PipelineRerun bool

	BlockName  string
	JobID      string
	JobName    string
	JobCreated time.Time
	// JobType is "pipeline_job", "debug_job" or "project_debug_job".
	JobType string

	MachineType, OSImage string
	// Container is true when the job runs in a container.
	Container bool

	Git Git
}

// Git describes the commit being built.
type Git struct {
	Provider string // github, gitlab, gitea, git
	URL      string
	RepoName string
	// Dir is where checkout puts the repository; default RepoName.
	Dir     string
	Slug    string
	SHA     string
	RefType string // branch, tag, pull-request
	Branch  string // pushed branch; for a PR the base branch
	Tag     string
	// Pull request fields.
	PRNumber, PRName, PRBranch, PRSHA, PRSlug string
	CommitRange                               string
	CommitAuthor, Committer                   string
}

// Ref returns the git ref of the build (docs/semaphore.md §5): refs/heads/B, refs/tags/T
// or refs/semaphoreci/<sha> for a pull request's merge commit.
func (g Git) Ref() string {
	switch g.RefType {
	case "tag":
		return "refs/tags/" + g.Tag
	case "pull-request":
		return "refs/semaphoreci/" + g.SHA
	}
	return "refs/heads/" + g.Branch
}

// System returns the system variables of a job, in export order.
func System(c Context) []jobspec.Var {
	b := func(v bool) string { return strconv.FormatBool(v) }
	jobType := c.JobType
	if jobType == "" {
		jobType = "pipeline_job"
	}
	envType := "VM"
	if c.Container {
		envType = "container"
	}
	vs := []jobspec.Var{
		{Name: "CI", Value: "true"},
		{Name: "SEMAPHORE", Value: "true"},
		{Name: "TERM", Value: "xterm"},
		{Name: "PAGER", Value: "cat"},
		{Name: "BATON", Value: "true"},
		{Name: "SEMAPHORE_PROJECT_NAME", Value: c.ProjectName},
		{Name: "SEMAPHORE_PROJECT_ID", Value: c.ProjectID},
		{Name: "SEMAPHORE_ORGANIZATION_URL", Value: c.OrganizationURL},
		{Name: "SEMAPHORE_ORGANIZATION_ID", Value: c.OrganizationID},
		{Name: "SEMAPHORE_JOB_ID", Value: c.JobID},
		{Name: "SEMAPHORE_JOB_NAME", Value: c.JobName},
		{Name: "SEMAPHORE_JOB_CREATION_TIME", Value: strconv.FormatInt(c.JobCreated.Unix(), 10)},
		{Name: "SEMAPHORE_JOB_TYPE", Value: jobType},
		{Name: "SEMAPHORE_JOB_RESULT", Value: "none"},
		{Name: "SEMAPHORE_AGENT_MACHINE_TYPE", Value: c.MachineType},
		{Name: "SEMAPHORE_AGENT_MACHINE_OS_IMAGE", Value: c.OSImage},
		{Name: "SEMAPHORE_AGENT_MACHINE_ENVIRONMENT_TYPE", Value: envType},
		{Name: "SEMAPHORE_WORKFLOW_ID", Value: c.WorkflowID},
		{Name: "SEMAPHORE_WORKFLOW_NUMBER", Value: strconv.Itoa(c.WorkflowNumber)},
		{Name: "SEMAPHORE_WORKFLOW_RERUN", Value: b(c.Rerun)},
		{Name: "SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK", Value: b(c.Trigger == "hook" || c.Trigger == "")},
		{Name: "SEMAPHORE_WORKFLOW_TRIGGERED_BY_API", Value: b(c.Trigger == "api")},
		{Name: "SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE", Value: b(c.Trigger == "schedule")},
		{Name: "SEMAPHORE_WORKFLOW_TRIGGERED_BY_MANUAL_RUN", Value: b(c.Trigger == "manual")},
		{Name: "SEMAPHORE_WORKFLOW_TRIGGERED_BY", Value: c.TriggeredBy},
		{Name: "SEMAPHORE_WORKFLOW_HOOK_SOURCE", Value: orDefault(c.Git.Provider, "git")},
		{Name: "SEMAPHORE_PIPELINE_ID", Value: c.PipelineID},
		{Name: "SEMAPHORE_PIPELINE_NAME", Value: c.PipelineName},
		{Name: "SEMAPHORE_PIPELINE_ARTEFACT_ID", Value: c.PipelineID},
		{Name: "SEMAPHORE_PIPELINE_RERUN", Value: b(c.PipelineRerun)},
		{Name: "SEMAPHORE_PIPELINE_PROMOTION", Value: b(c.PromotedBy != "")},
		{Name: "SEMAPHORE_PIPELINE_PROMOTED_BY", Value: c.PromotedBy},
		{Name: "SEMAPHORE_BLOCK_NAME", Value: c.BlockName},
	}
	return append(vs, gitVars(c.Git)...)
}

func gitVars(g Git) []jobspec.Var {
	dir := g.Dir
	if dir == "" {
		dir = g.RepoName
	}
	vs := []jobspec.Var{
		{Name: "SEMAPHORE_GIT_PROVIDER", Value: orDefault(g.Provider, "git")},
		{Name: "SEMAPHORE_GIT_URL", Value: g.URL},
		{Name: "SEMAPHORE_GIT_REPO_NAME", Value: g.RepoName},
		{Name: "SEMAPHORE_GIT_DIR", Value: dir},
		{Name: "SEMAPHORE_GIT_REPO_SLUG", Value: g.Slug},
		{Name: "SEMAPHORE_GIT_SHA", Value: g.SHA},
		{Name: "SEMAPHORE_GIT_REF", Value: g.Ref()},
		{Name: "SEMAPHORE_GIT_REF_TYPE", Value: orDefault(g.RefType, "branch")},
		{Name: "SEMAPHORE_GIT_COMMIT_RANGE", Value: g.CommitRange},
		{Name: "SEMAPHORE_GIT_COMMIT_AUTHOR", Value: g.CommitAuthor},
		{Name: "SEMAPHORE_GIT_COMMITTER", Value: g.Committer},
	}
	switch g.RefType {
	case "tag":
		// Semaphore sets the branch variable to the tag's ref (docs/semaphore.md §5 ⚠).
		vs = append(vs, jobspec.Var{Name: "SEMAPHORE_GIT_BRANCH", Value: "refs/tags/" + g.Tag}, jobspec.Var{Name: "SEMAPHORE_GIT_TAG_NAME", Value: g.Tag})
	case "pull-request":
		vs = append(vs,
			jobspec.Var{Name: "SEMAPHORE_GIT_BRANCH", Value: g.Branch},
			jobspec.Var{Name: "SEMAPHORE_GIT_WORKING_BRANCH", Value: g.PRBranch},
			jobspec.Var{Name: "SEMAPHORE_GIT_PR_NUMBER", Value: g.PRNumber},
			jobspec.Var{Name: "SEMAPHORE_GIT_PR_NAME", Value: g.PRName},
			jobspec.Var{Name: "SEMAPHORE_GIT_PR_BRANCH", Value: g.PRBranch},
			jobspec.Var{Name: "SEMAPHORE_GIT_PR_SHA", Value: g.PRSHA},
			jobspec.Var{Name: "SEMAPHORE_GIT_PR_SLUG", Value: g.PRSlug},
		)
	default:
		vs = append(vs, jobspec.Var{Name: "SEMAPHORE_GIT_BRANCH", Value: g.Branch}, jobspec.Var{Name: "SEMAPHORE_GIT_WORKING_BRANCH", Value: g.Branch})
	}
	return vs
}

// Merge concatenates variable lists in precedence order (later lists win)
// and drops earlier duplicates, keeping the position of the last one.
func Merge(lists ...[]jobspec.Var) []jobspec.Var {
	last := map[string]int{}
	var all []jobspec.Var
	for _, l := range lists {
		all = append(all, l...)
	}
	for i, v := range all {
		last[v.Name] = i
	}
	out := make([]jobspec.Var, 0, len(last))
	for i, v := range all {
		if last[v.Name] == i {
			out = append(out, v)
		}
	}
	return out
}

// Valid reports whether name can be exported by bash.
func Valid(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return !strings.HasPrefix(name, "BASH_FUNC_")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
