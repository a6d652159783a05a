package apiv1

import "time"

// AgentsView is GET /api/v1/agents: per agent type, how many agents are
// connected and whether one is free, for every signed-in user; the agents
// themselves (names, host names, running jobs) for organisation admins
// only.
type AgentsView struct {
	Types []AgentTypeView `json:"types"`
	// Agents is set for organisation admins only.
	Agents []*Agent `json:"agents,omitempty"`
}

// AgentTypeView counts the connected agents of one type.
type AgentTypeView struct {
	Type string `json:"type"`
	// Agents is the number of connected (or draining) agents.
	Agents int `json:"agents"`
	// Free is the number of free slots on connected agents.
	Free int `json:"free"`
}

// AgentTokenView is an agent token as GET /api/v1/agent-tokens shows it
// (never its secret).
type AgentTokenView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Revoked   bool      `json:"revoked"`
}

// RetentionRuleView is one rule of a project's artifact retention policy:
// files of scope whose path matches glob are deleted once older than age
// (a duration such as 168h; PUT also takes 7d or 2w).
type RetentionRuleView struct {
	Scope      string `json:"scope"`
	Glob       string `json:"glob"`
	Age        string `json:"age"`
	AgeSeconds int64  `json:"age_seconds"`
}

// RetentionView is a project's artifact retention policy: for each file,
// the first rule of its scope whose glob matches decides; files no rule
// matches are kept.
type RetentionView struct {
	Rules []RetentionRuleView `json:"rules"`
}

// SSHKeyView is a registered SSH key as the API shows it.
type SSHKeyView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	CreatedAt   time.Time `json:"created_at"`
}

// SSHKeyRequest registers an SSH public key.
type SSHKeyRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// SSHInfo says how to reach a job with ssh.
type SSHInfo struct {
	JobID string `json:"job_id"`
	State State  `json:"state"`
	// Host is the name ssh is given (and the known_hosts entry);
	// User the user name.
	Host string `json:"host"`
	User string `json:"user"`
	// AgentID and HostKey identify the agent that runs the job; HostKey
	// (authorized_keys format) is "" until the job runs.
	AgentID string `json:"agent_id,omitempty"`
	HostKey string `json:"host_key,omitempty"`
	// DebugOf is the job a debug job reproduces.
	DebugOf string `json:"debug_of,omitempty"`
}

// DebugRequest asks for a debug job.
type DebugRequest struct {
	// Duration bounds the debug session ("60m"; default 60 minutes, at
	// most the server's maximum).
	Duration string `json:"duration"`
}

// DebugView is the debug job made.
type DebugView struct {
	JobID      string        `json:"job_id"`
	PipelineID string        `json:"pipeline_id"`
	WorkflowID string        `json:"workflow_id"`
	DebugOf    string        `json:"debug_of"`
	Duration   time.Duration `json:"-"`
	TimeLimit  string        `json:"time_limit"`
}

// RebuildRequest is the optional body of POST /api/v1/workflows/{id}/rebuild.
type RebuildRequest struct {
	// KeepOnFailure keeps failed jobs alive this long ("30m").
	KeepOnFailure string `json:"keep_on_failure"`
}

// DeliveryView is a recorded webhook delivery as the API shows it.
type DeliveryView struct {
	ID           string    `json:"id"`
	Event        string    `json:"event"`
	Status       string    `json:"status"`
	HTTPStatus   int       `json:"http_status"`
	Message      string    `json:"message"`
	PayloadBytes int       `json:"payload_bytes"`
	RedeliveryOf string    `json:"redelivery_of,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// ProjectRequest creates or updates a project.
type ProjectRequest struct {
	Name          *string `json:"name"`
	RepoURL       *string `json:"repo_url"`
	DefaultBranch *string `json:"default_branch"`
	PipelineFile  *string `json:"pipeline_file"`
	Public        *bool   `json:"public"`
	// PollInterval is a Go duration ("30s"); "0" disables polling.
	PollInterval *string `json:"poll_interval"`
	// WebhookSecret signs push webhooks; write-only, stored encrypted.
	WebhookSecret *string `json:"webhook_secret"`
	// Forge is github, gitlab, gitea, or "" (or "git") for plain git;
	// ForgeURL a self-hosted forge's web URL; ForgeRepo the repository
	// there (owner/name), for commit statuses.
	Forge     *string `json:"forge"`
	ForgeURL  *string `json:"forge_url"`
	ForgeRepo *string `json:"forge_repo"`
	// ForgeToken is the forge API token, stored encrypted; write-only.
	ForgeToken *string `json:"forge_token"`
	// CacheSize is the project's cache size budget in bytes, shared by
	// every agent; the least recently used keys go first. 0 restores the
	// default (9 GiB).
	CacheSize *int64 `json:"cache_size"`
	// DeploymentDetails is "private" (the default: a public project's
	// deployments are shown in full to its members only) or "public".
	DeploymentDetails *string `json:"deployment_details"`
}

// RunRequest starts a workflow by hand.
type RunRequest struct {
	Branch       string            `json:"branch"`
	Tag          string            `json:"tag"`
	SHA          string            `json:"sha"`
	PipelineFile string            `json:"pipeline_file"`
	Params       map[string]string `json:"parameters"`
	// KeepOnFailure keeps failed jobs alive this long ("30m") so that a
	// user can attach (debug.go).
	KeepOnFailure string `json:"keep_on_failure"`
}

// WorkflowView is a workflow with its pipelines, their blocks and jobs.
type WorkflowView struct {
	*Workflow
	Project   string      `json:"project"`
	Pipelines []*Pipeline `json:"pipelines"`
	// Libraries are the script libraries' commits fixed for the
	// workflow when it was created.
	Libraries []LibraryPin `json:"libraries,omitempty"`
}

// JobView is a job with the answer to "why is it not running?".
type JobView struct {
	*Job
	Block    string `json:"block"`
	Workflow string `json:"workflow_id"`
	// AgentName names the agent that runs or ran the job, for
	// organisation admins only, as the agents list is; empty for others.
	AgentName string `json:"agent_name,omitempty"`
}

// QueuedJob is a job waiting to run, with the reason.
type QueuedJob struct {
	*Job
	WaitingFor time.Duration `json:"waiting_for"`
}

// AgentTokenRequest creates an agent token.
type AgentTokenRequest struct {
	Name string `json:"name"`
	// Type limits the token to agents of this type; empty allows any.
	Type string `json:"type"`
}

// LogView is a range of a job's plain-text log.
type LogView struct {
	Lines []LogLine `json:"lines"`
	// Total is the number of lines so far; From is the first line returned.
	Total  int  `json:"total"`
	From   int  `json:"from"`
	Sealed bool `json:"complete"`
}

// LogLines is the compact form of a range of a job's log (?format=lines),
// for viewers that page through large logs: the lines' text and times,
// without per-line keys. Which command a line belongs to follows from the
// commands' line ranges (GET /api/v1/jobs/{id}/commands).
type LogLines struct {
	From     int  `json:"from"`     // the number of Text[0]
	Total    int  `json:"total"`    // lines in the log so far
	Complete bool `json:"complete"` // the log is sealed
	// T0 is when line From was logged, in Unix milliseconds; At[i] is the
	// milliseconds from line From+i-1 (T0 for i = 0) to line From+i.
	T0   int64    `json:"t0"`
	Text []string `json:"text"`
	At   []int64  `json:"at"`
}

// LogMatches is one page of a search in a job's log (?q=text).
type LogMatches struct {
	Query   string `json:"q"`
	Matches []int  `json:"matches"` // line numbers, ascending
	// Next is the line the search continues from (?from=Next), or -1
	// when the whole log so far was searched.
	Next  int `json:"next"`
	Total int `json:"total"`
}

// WorkflowSummary is a workflow with when it ran: from its first
// pipeline's start to its last one's end (DoneAt zero while it runs).
type WorkflowSummary struct {
	*Workflow
	StartedAt time.Time `json:"started_at,omitzero"`
	DoneAt    time.Time `json:"done_at,omitzero"`
	// Duration is DoneAt - StartedAt in milliseconds, 0 until done.
	Duration int64 `json:"duration_ms"`
}

// RefView is a branch, tag or pull request with its latest workflow.
type RefView struct {
	// Name is the branch, the tag, or the pull request's number.
	Name     string          `json:"name"`
	Workflow WorkflowSummary `json:"workflow"`
}

// RefsView lists a project's refs, each with its latest workflow, newest
// first.
type RefsView struct {
	Branches     []RefView `json:"branches"`
	Tags         []RefView `json:"tags"`
	PullRequests []RefView `json:"pull_requests"`
}

// HistoryView is a page of a project's workflows, newest first. Next is
// the "before" of the following page, "" on the last page.
type HistoryView struct {
	Workflows []WorkflowSummary `json:"workflows"`
	Next      string            `json:"next,omitempty"`
}

// AccessView is what the caller may do in a project: Role is "read",
// "write" or "admin".
type AccessView struct {
	Role  string `json:"role"`
	Write bool   `json:"write"`
	Admin bool   `json:"admin"`
}

// MeView is the caller; CSRFToken is set when a session cookie signed the
// request in, for the X-CSRF-Token header of its state-changing requests.
type MeView struct {
	*User
	CSRFToken string `json:"csrf_token,omitempty"`
}

// UserRequest adds a user.
type UserRequest struct {
	Login string `json:"login"`
	Admin bool   `json:"admin"`
	// CanCreateProjects lets a user who is not an admin create projects.
	CanCreateProjects bool `json:"can_create_projects"`
	// Password is the user's password; empty generates one, returned once.
	Password string `json:"password"`
}

// UserCreated is a new user, with the password generated for them.
type UserCreated struct {
	*User
	Password string `json:"password,omitempty"`
}

// UserUpdate changes a user; absent fields stay as they are.
type UserUpdate struct {
	CanCreateProjects *bool `json:"can_create_projects"`
}

// TokenView is an API token without its secret.
type TokenView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsed is absent until the token is first used.
	LastUsed *time.Time `json:"last_used,omitempty"`
	Revoked  bool       `json:"revoked"`
	// Token is the secret, only in the answer that creates it.
	Token string `json:"token,omitempty"`
}

// TokenRequest creates an API token.
type TokenRequest struct {
	Name string `json:"name"`
}

// MemberRequest gives a user a role in a project.
type MemberRequest struct {
	// Role is read, write or admin.
	Role string `json:"role"`
}

// PromotionView is a promotion a pipeline declares, with its runs.
type PromotionView struct {
	Name         string `json:"name"`
	PipelineFile string `json:"pipeline_file"`
	// DeploymentTarget is shown only to callers with write access.
	DeploymentTarget string `json:"deployment_target"`
	// Auto is true when the promotion has an auto_promote condition.
	Auto       bool                 `json:"auto"`
	Parameters []PromotionParamView `json:"parameters"`
	Runs       []*PromotionRunView  `json:"runs"`
}

// PromotionParamView is a declared parameter.
type PromotionParamView struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Required     bool     `json:"required"`
	DefaultValue string   `json:"default_value"`
	Options      []string `json:"options"`
}

// PromotionRunView is one run of a promotion.
type PromotionRunView struct {
	// PipelineID is the promoted pipeline; "" when the run was refused.
	PipelineID string `json:"pipeline_id"`
	// PromotedBy is a login, or "auto-promotion" (as the promoted
	// pipeline's promoted_by and SEMAPHORE_PIPELINE_PROMOTED_BY; Trigger
	// tells the two kinds apart).
	PromotedBy string `json:"promoted_by"`
	// Trigger is "auto" or "manual".
	Trigger    string            `json:"trigger"`
	CreatedAt  time.Time         `json:"created_at"`
	State      State             `json:"state,omitempty"`
	Result     Result            `json:"result,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	// Refused says why the promotion did not run: the deployment
	// target's rules refused it (by hand or automatically).
	Refused string `json:"refused,omitempty"`
}

// PromoteRequest is the body of POST /api/v1/pipelines/{id}/promote.
type PromoteRequest struct {
	Name       string            `json:"name"`
	Parameters map[string]string `json:"parameters"`
	// Override promotes a pipeline that is still running or did not
	// pass (otherwise 409).
	Override bool `json:"override"`
}

// SecretRequest creates (POST) or changes (PUT) a secret. On PUT every
// field is optional: env_vars and files add or replace by name or path,
// remove_env and remove_files remove.
type SecretRequest struct {
	// Name names a new secret (POST only).
	Name        string  `json:"name"`
	Description *string `json:"description"`
	// AllowForks lets jobs of pull requests from forks receive it.
	AllowForks *bool `json:"allow_forks"`
	// ProjectAccess is an organisation secret's project policy, as on
	// Semaphore: "all" (the default), "allowed" (the projects named in
	// Projects) or "none".
	ProjectAccess *string `json:"project_access"`
	// Projects names (or gives the IDs of) the projects an "allowed"
	// policy lets use the secret.
	Projects []string       `json:"projects"`
	EnvVars  []SecretEnvVar `json:"env_vars"`
	Files    []SecretFile   `json:"files"`
	// RemoveEnv and RemoveFiles name variables and files to remove.
	RemoveEnv   []string `json:"remove_env"`
	RemoveFiles []string `json:"remove_files"`
}

// SecretEnvVar is an environment variable of a secret request.
type SecretEnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SecretFile is a file of a secret request; Content is base64, as in
// Semaphore's secret YAML.
type SecretFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// SecretView is what the API shows of a secret: never a value.
type SecretView struct {
	*SecretMeta
	// Scope is "organization" or "project".
	Scope string `json:"scope"`
	// Project is the project's name for a project secret.
	Project string `json:"project,omitempty"`
	// Projects names the projects an organisation secret's "allowed"
	// policy lets use it (projects deleted since are left out).
	Projects []string `json:"projects,omitempty"`
	// Warnings are set on writes, for example for values too short to be
	// masked in job logs.
	Warnings []string `json:"warnings,omitempty"`
}

// TargetRequest creates (POST) or changes (PATCH) a deployment target. On
// PATCH every field is optional; a list given replaces the list.
type TargetRequest struct {
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Users       *[]string `json:"users"`
	Roles       *[]string `json:"roles"`
	Branches    *[]string `json:"branches"`
	Tags        *[]string `json:"tags"`
	AllowPRs    *bool     `json:"allow_pull_requests"`
	// EnvVars and Files add or replace the secret's variables and files
	// (contents in base64); RemoveEnv and RemoveFiles remove them.
	EnvVars     []SecretEnvVar `json:"env_vars"`
	Files       []SecretFile   `json:"files"`
	RemoveEnv   []string       `json:"remove_env"`
	RemoveFiles []string       `json:"remove_files"`
}

// DeploymentView is one entry of a target's history.
type DeploymentView struct {
	Promotion      string            `json:"promotion"`
	PipelineID     string            `json:"pipeline_id"`
	FromPipelineID string            `json:"from_pipeline_id"`
	WorkflowID     string            `json:"workflow_id"`
	WorkflowNumber int               `json:"workflow_number"`
	SHA            string            `json:"sha"`
	RefType        string            `json:"ref_type"`
	Branch         string            `json:"branch,omitempty"`
	Tag            string            `json:"tag,omitempty"`
	PR             string            `json:"pull_request,omitempty"`
	PromotedBy     string            `json:"promoted_by"`
	Trigger        string            `json:"trigger"`
	Parameters     map[string]string `json:"parameters,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	State          State             `json:"state,omitempty"`
	Result         Result            `json:"result,omitempty"`
	Refused        string            `json:"refused,omitempty"`
}

// LogLine is one line of a job's log: N counts from 0, Cmd is the index of
// the command it belongs to (-1 before the first), Kind "cmd" for a
// command's header and "out" for output, At when it was logged (Unix
// seconds with a fraction, as in the job log events).
type LogLine struct {
	N    int       `json:"n"`
	Text string    `json:"text"`
	Cmd  int       `json:"cmd"`
	Kind string    `json:"kind"`
	At   Timestamp `json:"at"`
}

// RevokedView answers the revocation of an agent token: Agents is how
// many agents it had registered (they are disconnected).
type RevokedView struct {
	Message string `json:"message"`
	Agents  int    `json:"agents"`
}

// AgentTokenCreated is a new agent token: Token is the secret, shown once.
type AgentTokenCreated struct {
	ID    string `json:"id"`
	Token string `json:"token"`
	Type  string `json:"type"`
}

// ProjectDeletedView answers the deletion of a project.
type ProjectDeletedView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Jobs is how many jobs' records and logs were deleted.
	Jobs int `json:"jobs"`
	// Objects is how many artifact and cache objects were deleted from
	// the object storage.
	Objects int `json:"objects"`
}
