// Package pipeline reads Semaphore 2.0 pipeline YAML (version v1.0) into a
// Pipeline value with source positions, and validates it against the v1.0
// schema and Semaphore's semantic rules. Every problem is reported as a
// positioned Diagnostic; all problems are reported at once.
//
// The package is pure: it reads other files (task_file, commands_file) only
// through an fs.FS given by the caller.
package pipeline

// Pos is a position in a source file. Line and Col are 1-based; Col counts
// bytes.
type Pos struct {
	File string
	Line int
	Col  int
}

// Pipeline is one parsed pipeline file.
type Pipeline struct {
	Pos
	Version            string
	Name               string // "Pipeline" when the file sets none
	Agent              *Agent
	Blocks             []*Block
	AfterPipeline      *AfterPipeline
	Promotions         []*Promotion
	ExecutionTimeLimit *TimeLimit
	GlobalJobConfig    *GlobalJobConfig
	FailFast           *FailFast
	AutoCancel         *AutoCancel
	Queue              []*Queue // a single queue map is a one-element list
	PartialRerun       string   // "jobs", "block" or ""
	// Parameters is the non-schema top-level `parameters:` list seen in real
	// files (task parameters); accepted and kept, see docs/semaphore.md §1.2.
	Parameters []*Parameter
	// LibraryFiles are the library files the pipeline's commands_file
	// values name ("@NAME/path"), once each, in source order (set by
	// Load).
	LibraryFiles []LibraryFile
	// Warnings are the problems that do not stop the pipeline from running
	// (docs/semaphore.md §1.1): what Baton reads differently from a strict
	// YAML reader, or what Semaphore would refuse. Sorted like diagnostics;
	// the pipeline's task files included.
	Warnings Diagnostics
}

// Condition is a `when` condition: the expression text as written, with a
// YAML boolean normalised to "true" or "false". Pos points at the value.
type Condition struct {
	Pos
	Expr string
}

// TimeLimit is an execution_time_limit, normalised to minutes. Pos points at
// the hours or minutes value.
type TimeLimit struct {
	Pos
	Minutes int
}

// Agent selects where jobs run.
type Agent struct {
	Pos
	Machine          Machine
	Containers       []*Container
	ImagePullSecrets []*SecretRef
}

// Machine is an agent's machine type and OS image.
type Machine struct {
	Pos
	Type    string
	OSImage string
}

// Container is one of agent.containers; the first is the main container.
type Container struct {
	Pos
	Name       string
	Image      string
	Command    string
	Entrypoint string
	User       string
	EnvVars    []*EnvVar
	Secrets    []*SecretRef
}

// EnvVar is one name/value pair of an env_vars list.
type EnvVar struct {
	Pos
	Name  string
	Value string
}

// SecretRef names a secret to inject.
type SecretRef struct {
	Pos
	Name string
}

// Block is one node of the pipeline graph.
type Block struct {
	Pos
	// Name is the block's name; nameless blocks get "Nameless block N".
	Name string
	// HasDependencies reports whether the `dependencies` key is present;
	// Dependencies may then be empty (`dependencies: []`).
	HasDependencies    bool
	Dependencies       []*Dependency
	Task               *Task  // after task_file resolution, always set for valid input
	TaskFile           string // the task_file path as written, if any
	Skip               *Condition
	Run                *Condition
	ExecutionTimeLimit *TimeLimit
	PartialRerun       string
	Filters            []*Filter
}

// Dependency is one entry of a block's dependencies list.
type Dependency struct {
	Pos
	Name string
}

// Filter is a legacy block filter.
type Filter struct {
	Pos
	Label        string
	LabelPattern string
	Action       string // skip or execute
}

// Task is the set of jobs of a block (or of after_pipeline).
type Task struct {
	Pos
	Jobs     []*Job
	Agent    *Agent // replaces the pipeline agent entirely when set
	EnvVars  []*EnvVar
	Secrets  []*SecretRef
	Prologue *Commands
	Epilogue *Epilogue
	FailFast *FailFast
	Boosters []*Booster
}

// LibraryFile is a file of a script library that a commands_file value
// names ("@NAME/path"): the library's name and the file's slash path
// from the library's root.
type LibraryFile struct {
	Library string
	Path    string
}

// Commands is a `commands` list or a `commands_file`. After Load resolves
// files, Commands holds the lines of the file and File keeps its path. Pos
// points at the commands list or the commands_file value.
type Commands struct {
	Pos
	Commands []string
	File     string
}

// Epilogue holds the commands run after a job's commands. The legacy form
// (`epilogue: {commands: [...]}`) is stored as Always.
type Epilogue struct {
	Pos
	Always *Commands
	OnPass *Commands
	OnFail *Commands
}

// Job is one job definition; matrix and parallelism expand it into several
// jobs at plan time.
type Job struct {
	Pos
	// Name is the job's name; nameless jobs get "Nameless N".
	Name     string
	Commands *Commands
	EnvVars  []*EnvVar
	Matrix   []*MatrixAxis
	// Parallelism is the job count, 0 when absent. When it is a
	// %{{...}} template, ParallelismTemplate holds the text and Parallelism
	// is 0.
	Parallelism         int
	ParallelismTemplate string
	ExecutionTimeLimit  *TimeLimit
	Priority            []*PriorityRule
}

// MatrixAxis is one env_var axis of a job matrix. When the values are given
// as a %{{...}} template string, ValuesTemplate holds it and Values is nil.
type MatrixAxis struct {
	Pos
	EnvVar         string
	Values         []string
	ValuesTemplate string
}

// PriorityRule is one entry of a priority list.
type PriorityRule struct {
	Pos
	Value int
	When  *Condition
}

// Booster is a legacy test-splitting booster.
type Booster struct {
	Pos
	Name     string
	Type     string
	JobCount int
}

// GlobalJobConfig is merged into every block's task.
type GlobalJobConfig struct {
	Pos
	Prologue *Commands
	Epilogue *Epilogue
	Secrets  []*SecretRef
	EnvVars  []*EnvVar
	Priority []*PriorityRule
}

// FailFast is a fail_fast strategy.
type FailFast struct {
	Pos
	Stop   *Condition
	Cancel *Condition
}

// AutoCancel is an auto_cancel strategy.
type AutoCancel struct {
	Pos
	Running *Condition
	Queued  *Condition
}

// Queue is one queue map.
type Queue struct {
	Pos
	Name       string
	Scope      string // project or organization; "" when absent
	Processing string // serialized or parallel; "" when absent
	When       *Condition
}

// Promotion is an edge to another pipeline file.
type Promotion struct {
	Pos
	Name             string
	PipelineFile     string
	AutoPromote      *Condition
	AutoPromoteOn    []*AutoPromoteRule
	DeploymentTarget string
	Parameters       []*Parameter
}

// AutoPromoteRule is one rule of the deprecated auto_promote_on list.
type AutoPromoteRule struct {
	Pos
	Result        string
	ResultReason  string
	Branch        []string
	Labels        []string
	LabelPatterns []string
}

// Parameter is a promotion (or task) parameter declaration.
type Parameter struct {
	Pos
	Name         string
	Description  string
	Required     bool
	Options      []string
	DefaultValue string
	HasDefault   bool
}

// AfterPipeline is the task run once the pipeline is done.
type AfterPipeline struct {
	Pos
	Task     *Task
	TaskFile string
}
