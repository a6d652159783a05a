// Package plan compiles a parsed pipeline and the git event it runs for into
// a job graph: implicit dependencies, skip/run decisions, matrix and
// parallelism expansion, global_job_config merging, environment order,
// time limits, queue, fail-fast and auto-cancel strategies.
//
// It is pure: change_in needs the list of files changed in a git range, and
// the caller provides it through Input.ChangedFiles.
package plan

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/batonci/baton/internal/jobspec"
)

// Event is the git event a pipeline is planned for.
type Event struct {
	// RefType is "branch", "tag" or "pull-request".
	RefType string `json:"ref_type"`
	// Branch is the pushed branch, or for a pull request its base branch.
	Branch string `json:"branch,omitempty"`
	// Tag is the tag name for tag builds.
	Tag string `json:"tag,omitempty"`
	// PR describes the pull request for pull-request builds.
	PR *PullRequest `json:"pull_request,omitempty"`
	// SHA is the commit being built.
	SHA string `json:"sha"`
	// CommitRange is the pushed range "<first>...<last>", empty when unknown.
	CommitRange string `json:"commit_range,omitempty"`
	// DefaultBranch is the project's default branch, used by change_in.
	DefaultBranch string `json:"default_branch,omitempty"`
}

// PullRequest describes a pull request build.
type PullRequest struct {
	Number     string `json:"number"`
	Name       string `json:"name,omitempty"`
	HeadBranch string `json:"head_branch"`
	HeadSHA    string `json:"head_sha,omitempty"`
	HeadSlug   string `json:"head_slug,omitempty"`
	FromFork   bool   `json:"from_fork,omitempty"`
}

// Label is the branch name, tag name or pull request number: what the
// default queue is named after.
func (e Event) Label() string {
	switch e.RefType {
	case "tag":
		return e.Tag
	case "pull-request":
		if e.PR != nil {
			return e.PR.Number
		}
	}
	return e.Branch
}

// Graph is a compiled pipeline: what will run, in which order, with what.
type Graph struct {
	Name string `json:"name"`
	File string `json:"file"`
	// Blocks are in definition order.
	Blocks []*Block `json:"blocks"`
	// AfterPipeline holds the jobs run once the pipeline is done, if any.
	AfterPipeline *Block `json:"after_pipeline,omitempty"`
	// TimeLimit bounds the whole pipeline (default one hour).
	TimeLimit Duration `json:"execution_time_limit"`
	// FailFast is "stop", "cancel" or "" (docs/semaphore.md §1.10).
	FailFast string `json:"fail_fast,omitempty"`
	// AutoCancel is "stop", "cancel" or "" (docs/semaphore.md §1.10).
	AutoCancel string       `json:"auto_cancel,omitempty"`
	Queue      Queue        `json:"queue"`
	Promotions []*Promotion `json:"promotions,omitempty"`
	// Params are the parameter values the pipeline was planned with.
	Params map[string]string `json:"parameters,omitempty"`
}

// Block is one node of the graph.
type Block struct {
	Name string `json:"name"`
	// Dependencies are the names of the blocks that must pass first.
	Dependencies []string `json:"dependencies"`
	// Skipped is true when a skip/run condition decided the block does not
	// run; it then counts as passed (docs/semaphore.md §1.4).
	Skipped    bool     `json:"skipped,omitempty"`
	SkipReason string   `json:"skip_reason,omitempty"`
	TimeLimit  Duration `json:"execution_time_limit,omitempty"`
	FailFast   string   `json:"fail_fast,omitempty"`
	Jobs       []*Job   `json:"jobs"`
}

// Job is one expanded job.
type Job struct {
	// Name is the final name: matrix and parallelism add a suffix.
	Name     string   `json:"name"`
	Block    string   `json:"block"`
	Commands []string `json:"commands"`
	Epilogue Epilogue `json:"epilogue"`
	// Env holds the YAML variables in export order (parameters, global,
	// task, job, matrix); a later name wins.
	Env []jobspec.Var `json:"env_vars"`
	// Secrets are the names of the secrets to inject, in order.
	Secrets   []string `json:"secrets,omitempty"`
	Agent     Agent    `json:"agent"`
	TimeLimit Duration `json:"execution_time_limit,omitempty"`
	Priority  int      `json:"priority"`
	// Index and Count are set for parallelism jobs (1-based index).
	Index int `json:"index,omitempty"`
	Count int `json:"count,omitempty"`
}

// Epilogue holds a job's epilogue command lists.
type Epilogue struct {
	Always []string `json:"always,omitempty"`
	OnPass []string `json:"on_pass,omitempty"`
	OnFail []string `json:"on_fail,omitempty"`
}

// Agent says where a job runs.
type Agent struct {
	MachineType      string      `json:"machine_type"`
	OSImage          string      `json:"os_image,omitempty"`
	Containers       []Container `json:"containers,omitempty"`
	ImagePullSecrets []string    `json:"image_pull_secrets,omitempty"`
}

// Container is one container of a job; the first is the main one.
type Container struct {
	Name       string        `json:"name"`
	Image      string        `json:"image"`
	Command    string        `json:"command,omitempty"`
	Entrypoint string        `json:"entrypoint,omitempty"`
	User       string        `json:"user,omitempty"`
	Env        []jobspec.Var `json:"env_vars,omitempty"`
	Secrets    []string      `json:"secrets,omitempty"`
}

// Queue is the queue the pipeline joins (docs/semaphore.md §1.9).
type Queue struct {
	Name       string `json:"name"`
	Scope      string `json:"scope"`
	Processing string `json:"processing"`
}

// Promotion is a promotion declared by the pipeline. Whether it fires
// automatically depends on the result; see AutoPromote.
type Promotion struct {
	Name             string `json:"name"`
	PipelineFile     string `json:"pipeline_file"`
	DeploymentTarget string `json:"deployment_target,omitempty"`
	// Condition is the auto_promote.when expression (after parameter
	// substitution), empty when the promotion is manual or uses the legacy
	// auto_promote_on rules.
	Condition string `json:"auto_promote_when,omitempty"`
	// Legacy holds auto_promote_on rules.
	Legacy []LegacyRule `json:"auto_promote_on,omitempty"`
	// Parameters are the promotion's declared parameters (docs/semaphore.md §3.2).
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Parameter is a declared promotion parameter (docs/semaphore.md §3.2).
type Parameter struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	// Options, when not empty, are the only values allowed.
	Options []string `json:"options,omitempty"`
	// DefaultValue is used when no value is given.
	DefaultValue string `json:"default_value,omitempty"`
}

// LegacyRule is one auto_promote_on rule.
type LegacyRule struct {
	Result       string   `json:"result"`
	ResultReason string   `json:"result_reason,omitempty"`
	Branch       []string `json:"branch,omitempty"`
}

// LegacyRulesText renders auto_promote_on rules for people.
func LegacyRulesText(rules []LegacyRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		s := "result " + r.Result
		if r.ResultReason != "" {
			s += ", reason " + r.ResultReason
		}
		if len(r.Branch) > 0 {
			s += ", branch " + strings.Join(r.Branch, " or ")
		}
		parts[i] = s
	}
	return "auto_promote_on: " + strings.Join(parts, "; ")
}

// Duration is a time.Duration that marshals to JSON as a string like "1h0m0s".
type Duration time.Duration

// MarshalJSON renders d as Go duration text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
