// Package jobenv builds the environment every job receives (docs/semaphore.md §5): the
// SEMAPHORE_* system and git variables, in Semaphore's precedence order
// (system < secrets < YAML variables). It is pure, so the local runner and
// the server build identical environments.
package jobenv

import (
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable.
type Var struct {
	Name  string
	Value string
}

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
func System(c Context) []Var {
	b := func(v bool) string { return strconv.FormatBool(v) }
	jobType := c.JobType
	if jobType == "" {
		jobType = "pipeline_job"
	}
	envType := "VM"
	if c.Container {
		envType = "container"
	}
	vs := []Var{
		{"CI", "true"},
		{"SEMAPHORE", "true"},
		{"TERM", "xterm"},
		{"PAGER", "cat"},
		{"BATON", "true"},
		{"SEMAPHORE_PROJECT_NAME", c.ProjectName},
		{"SEMAPHORE_PROJECT_ID", c.ProjectID},
		{"SEMAPHORE_ORGANIZATION_URL", c.OrganizationURL},
		{"SEMAPHORE_ORGANIZATION_ID", c.OrganizationID},
		{"SEMAPHORE_JOB_ID", c.JobID},
		{"SEMAPHORE_JOB_NAME", c.JobName},
		{"SEMAPHORE_JOB_CREATION_TIME", strconv.FormatInt(c.JobCreated.Unix(), 10)},
		{"SEMAPHORE_JOB_TYPE", jobType},
		{"SEMAPHORE_JOB_RESULT", "none"},
		{"SEMAPHORE_AGENT_MACHINE_TYPE", c.MachineType},
		{"SEMAPHORE_AGENT_MACHINE_OS_IMAGE", c.OSImage},
		{"SEMAPHORE_AGENT_MACHINE_ENVIRONMENT_TYPE", envType},
		{"SEMAPHORE_WORKFLOW_ID", c.WorkflowID},
		{"SEMAPHORE_WORKFLOW_NUMBER", strconv.Itoa(c.WorkflowNumber)},
		{"SEMAPHORE_WORKFLOW_RERUN", b(c.Rerun)},
		{"SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK", b(c.Trigger == "hook" || c.Trigger == "")},
		{"SEMAPHORE_WORKFLOW_TRIGGERED_BY_API", b(c.Trigger == "api")},
		{"SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE", b(c.Trigger == "schedule")},
		{"SEMAPHORE_WORKFLOW_TRIGGERED_BY_MANUAL_RUN", b(c.Trigger == "manual")},
		{"SEMAPHORE_WORKFLOW_TRIGGERED_BY", c.TriggeredBy},
		{"SEMAPHORE_WORKFLOW_HOOK_SOURCE", orDefault(c.Git.Provider, "git")},
		{"SEMAPHORE_PIPELINE_ID", c.PipelineID},
		{"SEMAPHORE_PIPELINE_NAME", c.PipelineName},
		{"SEMAPHORE_PIPELINE_ARTEFACT_ID", c.PipelineID},
		{"SEMAPHORE_PIPELINE_RERUN", b(c.PipelineRerun)},
		{"SEMAPHORE_PIPELINE_PROMOTION", b(c.PromotedBy != "")},
		{"SEMAPHORE_PIPELINE_PROMOTED_BY", c.PromotedBy},
		{"SEMAPHORE_BLOCK_NAME", c.BlockName},
	}
	return append(vs, gitVars(c.Git)...)
}

func gitVars(g Git) []Var {
	dir := g.Dir
	if dir == "" {
		dir = g.RepoName
	}
	vs := []Var{
		{"SEMAPHORE_GIT_PROVIDER", orDefault(g.Provider, "git")},
		{"SEMAPHORE_GIT_URL", g.URL},
		{"SEMAPHORE_GIT_REPO_NAME", g.RepoName},
		{"SEMAPHORE_GIT_DIR", dir},
		{"SEMAPHORE_GIT_REPO_SLUG", g.Slug},
		{"SEMAPHORE_GIT_SHA", g.SHA},
		{"SEMAPHORE_GIT_REF", g.Ref()},
		{"SEMAPHORE_GIT_REF_TYPE", orDefault(g.RefType, "branch")},
		{"SEMAPHORE_GIT_COMMIT_RANGE", g.CommitRange},
		{"SEMAPHORE_GIT_COMMIT_AUTHOR", g.CommitAuthor},
		{"SEMAPHORE_GIT_COMMITTER", g.Committer},
	}
	switch g.RefType {
	case "tag":
		// Semaphore sets the branch variable to the tag's ref (docs/semaphore.md §5 ⚠).
		vs = append(vs, Var{"SEMAPHORE_GIT_BRANCH", "refs/tags/" + g.Tag}, Var{"SEMAPHORE_GIT_TAG_NAME", g.Tag})
	case "pull-request":
		vs = append(vs,
			Var{"SEMAPHORE_GIT_BRANCH", g.Branch},
			Var{"SEMAPHORE_GIT_WORKING_BRANCH", g.PRBranch},
			Var{"SEMAPHORE_GIT_PR_NUMBER", g.PRNumber},
			Var{"SEMAPHORE_GIT_PR_NAME", g.PRName},
			Var{"SEMAPHORE_GIT_PR_BRANCH", g.PRBranch},
			Var{"SEMAPHORE_GIT_PR_SHA", g.PRSHA},
			Var{"SEMAPHORE_GIT_PR_SLUG", g.PRSlug},
		)
	default:
		vs = append(vs, Var{"SEMAPHORE_GIT_BRANCH", g.Branch}, Var{"SEMAPHORE_GIT_WORKING_BRANCH", g.Branch})
	}
	return vs
}

// Merge concatenates variable lists in precedence order (later lists win)
// and drops earlier duplicates, keeping the position of the last one.
func Merge(lists ...[]Var) []Var {
	last := map[string]int{}
	var all []Var
	for _, l := range lists {
		all = append(all, l...)
	}
	for i, v := range all {
		last[v.Name] = i
	}
	out := make([]Var, 0, len(last))
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
