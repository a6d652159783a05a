package apiv1

import (
	"time"
)

// State is where a pipeline, block or job is in its lifecycle.
type State string

// The states, in order.
const (
	StatePending  State = "pending"
	StateQueued   State = "queued"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateDone     State = "done"
)

// Result is how a pipeline, block or job ended ("" until it is done).
type Result string

// The results.
const (
	ResultNone     Result = ""
	ResultPassed   Result = "passed"
	ResultFailed   Result = "failed"
	ResultStopped  Result = "stopped"
	ResultCanceled Result = "canceled"
)

// Reason explains a result that is not self-explanatory ("test" when a
// command failed, "malformed" for an invalid pipeline file, ...).
type Reason string

// The reasons.
const (
	ReasonNone        Reason = ""
	ReasonTest        Reason = "test"         // a command failed
	ReasonMalformed   Reason = "malformed"    // the pipeline definition is invalid
	ReasonStuck       Reason = "stuck"        // nothing could make progress
	ReasonInternal    Reason = "internal"     // Baton itself failed
	ReasonUser        Reason = "user"         // a user stopped it
	ReasonStrategy    Reason = "strategy"     // auto_cancel stopped or canceled it
	ReasonFastFailing Reason = "fast_failing" // fail_fast stopped or canceled it
	ReasonDeleted     Reason = "deleted"      // its project was deleted
	ReasonTimeout     Reason = "timeout"      // execution_time_limit reached
	ReasonSkipped     Reason = "skipped"      // a condition skipped it
	ReasonDependency  Reason = "dependency"   // a block it depends on did not pass
	ReasonAgentLost   Reason = "agent_lost"   // the agent running it stopped answering
)

// Project is a repository Baton builds. RepoURL never carries
// credentials.
type Project struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	RepoURL       string `json:"repo_url"`
	DefaultBranch string `json:"default_branch"`
	PipelineFile  string `json:"pipeline_file"`
	Public        bool   `json:"public"`
	// DeploymentDetailsPublic shows a public project's deployments (the
	// pipelines promoted to a deployment target) to everyone; by default
	// only people with a role in the project see their details.
	DeploymentDetailsPublic bool `json:"deployment_details_public"`
	// PollInterval is how often the repository is polled; 0 disables it.
	PollInterval time.Duration `json:"poll_interval"`
	Forge        string        `json:"forge,omitempty"`
	ForgeURL     string        `json:"forge_url,omitempty"`
	ForgeRepo    string        `json:"forge_repo,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
}

// Workflow is one git event (or manual run) on one commit. RefType is
// "branch", "tag" or "pull-request"; State and Result summarise its
// pipelines.
type Workflow struct {
	ID          string    `json:"id"`
	ProjectID   string    `json:"project_id"`
	Number      int       `json:"number"`
	Trigger     string    `json:"trigger"`
	RefType     string    `json:"ref_type"`
	Branch      string    `json:"branch,omitempty"`
	Tag         string    `json:"tag,omitempty"`
	PR          string    `json:"pr,omitempty"`
	PRBranch    string    `json:"pr_branch,omitempty"`
	PRSHA       string    `json:"pr_sha,omitempty"`
	PRName      string    `json:"pr_name,omitempty"`
	PRSlug      string    `json:"pr_slug,omitempty"`
	PRHeadURL   string    `json:"pr_head_url,omitempty"`
	PRFork      bool      `json:"pr_fork,omitempty"`
	RefVerified string    `json:"ref_verified,omitempty"`
	SHA         string    `json:"sha"`
	CommitRange string    `json:"commit_range,omitempty"`
	Message     string    `json:"commit_message,omitempty"`
	Author      string    `json:"commit_author,omitempty"`
	TriggeredBy string    `json:"triggered_by,omitempty"`
	RerunOf     string    `json:"rerun_of,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	State       State     `json:"state"`
	Result      Result    `json:"result,omitempty"`
	// Schedule names the schedule that started the workflow (trigger
	// "schedule"); Parameters are the values it ran with.
	Schedule   string            `json:"schedule,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// Pipeline is one pipeline file evaluated for one workflow, with its
// blocks and jobs when read whole.
type Pipeline struct {
	ID         string        `json:"id"`
	WorkflowID string        `json:"workflow_id"`
	ProjectID  string        `json:"project_id"`
	Name       string        `json:"name"`
	File       string        `json:"file"`
	State      State         `json:"state"`
	Result     Result        `json:"result,omitempty"`
	Reason     Reason        `json:"result_reason,omitempty"`
	Queue      string        `json:"queue"`
	QueueScope string        `json:"queue_scope"`
	Parallel   bool          `json:"queue_parallel,omitempty"`
	AutoCancel string        `json:"auto_cancel,omitempty"`
	FailFast   string        `json:"fail_fast,omitempty"`
	TimeLimit  time.Duration `json:"execution_time_limit"`
	// Diagnostics are the errors of an invalid pipeline file as text, one
	// "file:line:col: message" per line; Problems has them positioned,
	// with the warnings of a valid one.
	Diagnostics      string       `json:"diagnostics,omitempty"`
	Problems         []Diagnostic `json:"problems,omitempty"`
	PromotionOf      string       `json:"promotion_of,omitempty"`
	PromotedBy       string       `json:"promoted_by,omitempty"`
	PartialRerun     string       `json:"partial_rerun_of,omitempty"`
	CreatedAt        time.Time    `json:"created_at"`
	StartedAt        time.Time    `json:"started_at,omitzero"`
	DoneAt           time.Time    `json:"done_at,omitzero"`
	Promotion        string       `json:"promotion,omitempty"`
	DeploymentTarget string       `json:"deployment_target,omitempty"`
	// DetailsHidden marks a deployment shown without its details (to
	// someone without a role in its public project): its name, when it
	// ran and its result only.
	DetailsHidden bool     `json:"details_hidden,omitempty"`
	Blocks        []*Block `json:"blocks,omitempty"`
}

// Block is one block of a pipeline.
type Block struct {
	ID            string        `json:"id"`
	PipelineID    string        `json:"pipeline_id"`
	Index         int           `json:"index"`
	Name          string        `json:"name"`
	Dependencies  []string      `json:"dependencies"`
	State         State         `json:"state"`
	Result        Result        `json:"result,omitempty"`
	Reason        Reason        `json:"result_reason,omitempty"`
	Skipped       bool          `json:"skipped,omitempty"`
	TimeLimit     time.Duration `json:"execution_time_limit,omitempty"`
	FailFast      string        `json:"fail_fast,omitempty"`
	StartedAt     time.Time     `json:"started_at,omitzero"`
	DoneAt        time.Time     `json:"done_at,omitzero"`
	AfterPipeline bool          `json:"after_pipeline,omitempty"`
	Jobs          []*Job        `json:"jobs,omitempty"`
}

// Job is one job of a block. WaitReason says why a pending or queued job
// is not running.
type Job struct {
	ID            string        `json:"id"`
	PipelineID    string        `json:"pipeline_id"`
	BlockID       string        `json:"block_id"`
	ProjectID     string        `json:"project_id"`
	Index         int           `json:"index"`
	Name          string        `json:"name"`
	State         State         `json:"state"`
	Result        Result        `json:"result,omitempty"`
	Reason        Reason        `json:"result_reason,omitempty"`
	MachineType   string        `json:"machine_type"`
	Priority      int           `json:"priority"`
	NeedsDocker   bool          `json:"needs_docker,omitempty"`
	AgentID       string        `json:"agent_id,omitempty"`
	WaitReason    string        `json:"wait_reason,omitempty"`
	StopRequested bool          `json:"stop_requested,omitempty"`
	TimeLimit     time.Duration `json:"execution_time_limit,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	QueuedAt      time.Time     `json:"queued_at,omitzero"`
	StartedAt     time.Time     `json:"started_at,omitzero"`
	DoneAt        time.Time     `json:"done_at,omitzero"`
}

// Agent is a worker that runs jobs; State is "connected", "draining",
// "lost" or "disconnected".
type Agent struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Slots     int      `json:"slots"`
	Version   string   `json:"version,omitempty"`
	Hostname  string   `json:"hostname,omitempty"`
	State     string   `json:"state"`
	Executors []string `json:"executors,omitempty"`
	Images    []string `json:"images,omitempty"`
	// ImagePruning is what the agent removed to keep its jobs' images
	// within its disk budget since it started; nil if nothing.
	ImagePruning *ImagePruning `json:"image_pruning,omitempty"`
	LastSeen     time.Time     `json:"last_seen"`
	CreatedAt    time.Time     `json:"created_at"`
	Running      []string      `json:"running_jobs,omitempty"`
}

// ImagePruning is what an agent removed over its image disk budget:
// how many images, their sizes in bytes, when the last one went and the
// images the last eviction removed.
type ImagePruning struct {
	Removed int       `json:"removed"`
	Bytes   int64     `json:"bytes"`
	LastAt  time.Time `json:"last_at"`
	Last    []string  `json:"last,omitempty"`
}

// User is a person with a login.
type User struct {
	ID                string    `json:"id"`
	Login             string    `json:"login"`
	Admin             bool      `json:"admin"`
	CanCreateProjects bool      `json:"can_create_projects"`
	CreatedAt         time.Time `json:"created_at"`
}

// Member is a user's role ("read", "write" or "admin") in a project.
type Member struct {
	ProjectID string    `json:"project_id"`
	UserID    string    `json:"user_id"`
	Login     string    `json:"login"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor"`
	Target    string    `json:"target"`
	ProjectID string    `json:"project_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// DebugSession is an ssh or debug session opened on a job.
type DebugSession struct {
	ID        string    `json:"id"`
	JobID     string    `json:"job_id"`
	ProjectID string    `json:"project_id"`
	AgentID   string    `json:"agent_id"`
	Login     string    `json:"login"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	OpenedAt  time.Time `json:"opened_at,omitzero"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

// Target is a deployment target. EnvVars and Files name its secret's
// variables and files, for project admins only.
type Target struct {
	ID          string    `json:"id"`
	ProjectID   string    `json:"project_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Users       []string  `json:"users"`
	Roles       []string  `json:"roles"`
	Branches    []string  `json:"branches"`
	Tags        []string  `json:"tags"`
	AllowPRs    bool      `json:"allow_pull_requests"`
	EnvVars     []string  `json:"env_vars,omitempty"`
	Files       []string  `json:"files,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	UpdatedAt   time.Time `json:"updated_at"`
	UpdatedBy   string    `json:"updated_by"`
}

// SecretMeta is what the API shows of a secret's contents: the names of
// its variables and files, never a value.
type SecretMeta struct {
	ID            string    `json:"id"`
	ProjectID     string    `json:"project_id,omitempty"`
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	AllowForks    bool      `json:"allow_forks"`
	ProjectAccess string    `json:"project_access"`
	ProjectIDs    []string  `json:"project_ids,omitempty"`
	EnvVars       []string  `json:"env_vars"`
	Files         []string  `json:"files"`
	CreatedAt     time.Time `json:"created_at"`
	CreatedBy     string    `json:"created_by"`
	UpdatedAt     time.Time `json:"updated_at"`
	UpdatedBy     string    `json:"updated_by"`
}

// Artifact is a stored artifact: Path is relative to its scope ("job",
// "workflow" or "project").
type Artifact struct {
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	Scope     string    `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
}
