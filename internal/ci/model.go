package ci

import (
	"encoding/json"
	"time"

	"github.com/batonci/baton/internal/repourl"
)

// The objects of the CI service (docs/semaphore.md §0): an organisation has projects; a
// project has workflows, one per git event or manual run; a workflow has
// pipelines (the initial one, then promotions); a pipeline has blocks; a
// block has jobs. IDs are UUID strings.

// Project is a repository Baton builds.
type Project struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	RepoURL string `json:"repo_url"`
	// DefaultBranch is the trunk (change_in's default, badges).
	DefaultBranch string `json:"default_branch"`
	// PipelineFile is the initial pipeline, default .semaphore/semaphore.yml.
	PipelineFile string `json:"pipeline_file"`
	Public       bool   `json:"public"`
	// DeploymentDetailsPublic shows a public project's deployments (the
	// pipelines promoted to a deployment target: their jobs, logs,
	// parameters, artifacts and targets) to everyone; by default only
	// people with a role in the project see them.
	DeploymentDetailsPublic bool `json:"deployment_details_public"`
	// PollInterval is how often the repository is polled; 0 disables it.
	PollInterval time.Duration `json:"poll_interval"`
	// WebhookSecret signs push webhooks (HMAC-SHA256); never serialised.
	WebhookSecret string `json:"-"`
	// Forge is the git host: "github", "gitlab", "gitea", or "" for a
	// plain git repository (webhooks then use GitHub's push format).
	Forge string `json:"forge,omitempty"`
	// ForgeURL is the forge's API base URL ("" for the SaaS default).
	ForgeURL string `json:"forge_url,omitempty"`
	// ForgeRepo is the repository on the forge ("owner/name", or a GitLab
	// project path or ID), for commit statuses.
	ForgeRepo string `json:"forge_repo,omitempty"`
	// ForgeToken is the forge API token, sealed (internal/secret) by the
	// vault; never serialised.
	ForgeToken string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
}

// MarshalJSON writes the project with the credentials of its repository
// URL hidden (https://***@host/...), so that no answer, page or command
// output that shows a project shows them.
func (p Project) MarshalJSON() ([]byte, error) {
	type plain Project
	p.RepoURL = repourl.Redact(p.RepoURL)
	return json.Marshal(plain(p))
}

// Trigger says what created a workflow.
type Trigger string

// The triggers.
const (
	TriggerPush    Trigger = "push" // branch or tag push seen by a webhook or polling
	TriggerPR      Trigger = "pull_request"
	TriggerManual  Trigger = "manual"  // CLI, API or UI "Run"
	TriggerRebuild Trigger = "rebuild" // a rebuild of another workflow
)

// Workflow is one git event (or manual run) on one commit.
type Workflow struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	// Number counts the project's workflows from 1.
	Number  int     `json:"number"`
	Trigger Trigger `json:"trigger"`
	// RefType is "branch", "tag" or "pull-request"; exactly one of Branch,
	// Tag and PR is the event's label (Branch is the base branch of a PR).
	RefType  string `json:"ref_type"`
	Branch   string `json:"branch,omitempty"`
	Tag      string `json:"tag,omitempty"`
	PR       string `json:"pr,omitempty"`
	PRBranch string `json:"pr_branch,omitempty"`
	// PRSHA is a pull request's head commit (SHA is the merge commit),
	// PRName its title and PRSlug its head repository (owner/name).
	PRSHA  string `json:"pr_sha,omitempty"`
	PRName string `json:"pr_name,omitempty"`
	PRSlug string `json:"pr_slug,omitempty"`
	// PRHeadURL is where a fork's head commit is fetched from; "" when
	// the head is in the project's repository.
	PRHeadURL string `json:"pr_head_url,omitempty"`
	// PRFork marks a pull request whose head is in another repository (a
	// fork): its jobs get only the secrets that allow forks, and no cache
	// writes (docs/semaphore.md §4.4).
	PRFork bool `json:"pr_fork,omitempty"`
	// RefVerified is the ref (refs/heads/B or refs/tags/T) whose head
	// the server saw to be SHA when the workflow was created (or that a
	// signed webhook pushed); "" when nothing vouches for the label (a
	// manual run of a commit that was not the head). Deployment targets'
	// branch and tag rules check it.
	RefVerified string `json:"ref_verified,omitempty"`
	SHA         string `json:"sha"`
	CommitRange string `json:"commit_range,omitempty"`
	Message     string `json:"commit_message,omitempty"`
	Author      string `json:"commit_author,omitempty"`
	TriggeredBy string `json:"triggered_by,omitempty"`
	RerunOf     string `json:"rerun_of,omitempty"`
	// Schedule names the schedule that started the workflow (trigger
	// "schedule").
	Schedule string `json:"schedule,omitempty"`
	// Parameters are the parameter values the workflow ran with: exported
	// in every job and substituted into ${{parameters.NAME}}.
	Parameters map[string]string `json:"parameters,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	// State and Result summarise the workflow's pipelines (derived).
	State  State  `json:"state"`
	Result Result `json:"result,omitempty"`
}

// Pipeline is one pipeline file evaluated for one workflow.
type Pipeline struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	ProjectID  string `json:"project_id"`
	Name       string `json:"name"`
	File       string `json:"file"`
	State      State  `json:"state"`
	Result     Result `json:"result,omitempty"`
	Reason     Reason `json:"result_reason,omitempty"`
	// Queue is the queue's name; QueueScope "project" or "organization";
	// Parallel true when processing is parallel (no queueing).
	Queue      string `json:"queue"`
	QueueScope string `json:"queue_scope"`
	Parallel   bool   `json:"queue_parallel,omitempty"`
	// AutoCancel and FailFast are "stop", "cancel" or "" (docs/semaphore.md §1.10).
	AutoCancel string `json:"auto_cancel,omitempty"`
	FailFast   string `json:"fail_fast,omitempty"`
	// TimeLimit bounds the pipeline's running time.
	TimeLimit time.Duration `json:"execution_time_limit"`
	// Graph is the compiled plan (plan.Graph as JSON); empty when invalid.
	Graph json.RawMessage `json:"-"`
	// Diagnostics holds the positioned errors of an invalid pipeline file,
	// one "file:line:col: message" per line.
	Diagnostics string `json:"diagnostics,omitempty"`
	// Problems are the same errors positioned, or the warnings of a
	// valid file (what Baton accepts that Semaphore reads differently).
	// Pipelines stored before problems were kept have only Diagnostics.
	Problems []Diagnostic `json:"problems,omitempty"`
	// PromotionOf is the pipeline this one was promoted from.
	PromotionOf  string    `json:"promotion_of,omitempty"`
	PromotedBy   string    `json:"promoted_by,omitempty"`
	PartialRerun string    `json:"partial_rerun_of,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	DoneAt       time.Time `json:"done_at,omitzero"`

	// Promotion is the name of the promotion that created this pipeline
	// and DeploymentTarget the target it deploys to, if any.
	Promotion        string `json:"promotion,omitempty"`
	DeploymentTarget string `json:"deployment_target,omitempty"`
	// DetailsHidden marks a deployment shown without its details (to
	// someone without a role in its public project): its name, when it
	// ran and its result only.
	DetailsHidden bool `json:"details_hidden,omitempty"`

	// Blocks are filled when a pipeline is read with its blocks.
	Blocks []*Block `json:"blocks,omitempty"`
}

// Diagnostic is one positioned problem of a pipeline file. Line and
// Column count from 1; both are 0 when the problem has no position.
type Diagnostic struct {
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
}

// Severity says whether a diagnostic stops a pipeline from running.
type Severity string

// The severities.
const (
	// SeverityError makes a pipeline file invalid: it does not run.
	SeverityError Severity = "error"
	// SeverityWarning is a problem the pipeline runs despite.
	SeverityWarning Severity = "warning"
)

// Block is one block of a pipeline.
type Block struct {
	ID           string        `json:"id"`
	PipelineID   string        `json:"pipeline_id"`
	Index        int           `json:"index"`
	Name         string        `json:"name"`
	Dependencies []string      `json:"dependencies"`
	State        State         `json:"state"`
	Result       Result        `json:"result,omitempty"`
	Reason       Reason        `json:"result_reason,omitempty"`
	Skipped      bool          `json:"skipped,omitempty"`
	TimeLimit    time.Duration `json:"execution_time_limit,omitempty"`
	FailFast     string        `json:"fail_fast,omitempty"`
	StartedAt    time.Time     `json:"started_at,omitzero"`
	DoneAt       time.Time     `json:"done_at,omitzero"`
	// AfterPipeline marks the after_pipeline pseudo-block.
	AfterPipeline bool   `json:"after_pipeline,omitempty"`
	Jobs          []*Job `json:"jobs,omitempty"`
}

// Job is one job of a block.
type Job struct {
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id"`
	BlockID    string `json:"block_id"`
	ProjectID  string `json:"project_id"`
	Index      int    `json:"index"`
	Name       string `json:"name"`
	State      State  `json:"state"`
	Result     Result `json:"result,omitempty"`
	Reason     Reason `json:"result_reason,omitempty"`
	// MachineType selects the agents that may run the job.
	MachineType string `json:"machine_type"`
	Priority    int    `json:"priority"`
	// Spec is the job to run (jobspec.Job as JSON, without secret values).
	Spec json.RawMessage `json:"-"`
	// NeedsDocker is set for a job that runs in containers
	// (agent.containers): only agents with the docker executor take it.
	NeedsDocker bool `json:"needs_docker,omitempty"`
	// AgentID is the agent running or that ran the job.
	AgentID string `json:"agent_id,omitempty"`
	// WaitReason says why a pending or queued job is not running.
	WaitReason string `json:"wait_reason,omitempty"`
	// StopRequested is set when a user or a strategy asked it to stop.
	StopRequested bool          `json:"stop_requested,omitempty"`
	StopReason    Reason        `json:"-"`
	TimeLimit     time.Duration `json:"execution_time_limit,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	QueuedAt      time.Time     `json:"queued_at,omitzero"`
	StartedAt     time.Time     `json:"started_at,omitzero"`
	DoneAt        time.Time     `json:"done_at,omitzero"`
}

// AgentState says whether an agent is usable.
type AgentState string

// The agent states.
const (
	AgentConnected AgentState = "connected"
	AgentDraining  AgentState = "draining" // finishing its jobs, takes no new ones
	AgentLost      AgentState = "lost"     // stopped heartbeating
	AgentGone      AgentState = "disconnected"
)

// Agent is a worker that runs jobs.
type Agent struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Slots    int        `json:"slots"`
	Version  string     `json:"version,omitempty"`
	Hostname string     `json:"hostname,omitempty"`
	State    AgentState `json:"state"`
	// Executors lists what the agent can run jobs with ("shell", "docker").
	Executors []string `json:"executors,omitempty"`
	// Images lists the container images the agent holds (reported by
	// Docker agents in their polls).
	Images []string `json:"images,omitempty"`
	// ImagePruning is what the agent removed to keep its jobs' images
	// within its disk budget since it started; nil if nothing.
	ImagePruning *ImagePruning `json:"image_pruning,omitempty"`
	LastSeen     time.Time     `json:"last_seen"`
	CreatedAt    time.Time     `json:"created_at"`
	// Running lists the IDs of the jobs it runs (filled on reads).
	Running []string `json:"running_jobs,omitempty"`
}

// ImagePruning is what an agent removed over its image disk budget.
type ImagePruning struct {
	Removed int       `json:"removed"` // images removed
	Bytes   int64     `json:"bytes"`   // their sizes, in bytes
	LastAt  time.Time `json:"last_at"` // when the last one went
	// Last lists the images the last eviction removed.
	Last []string `json:"last,omitempty"`
}

// User is a person or the admin of a single-machine install.
type User struct {
	ID    string `json:"id"`
	Login string `json:"login"`
	Admin bool   `json:"admin"`
	// CanCreateProjects lets a user who is not an organisation admin
	// create projects (and administer the projects they create).
	CanCreateProjects bool      `json:"can_create_projects"`
	CreatedAt         time.Time `json:"created_at"`
}
