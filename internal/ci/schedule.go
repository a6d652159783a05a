package ci

import "time"

// TriggerSchedule marks a workflow a schedule started, at its time or by
// "run now" (Workflow.Schedule names the schedule).
const TriggerSchedule Trigger = "schedule"

// Parameter is a parameter a schedule declares, as Semaphore's tasks and
// promotions declare them (docs/semaphore.md §1.13, §3.2).
type Parameter struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	// Options, when not empty, are the only values allowed.
	Options []string `json:"options,omitempty"`
	// DefaultValue is used when no value is given.
	DefaultValue string `json:"default_value,omitempty"`
}

// Schedule runs a project's pipeline on a branch at the times of a cron
// expression (Semaphore's tasks).
type Schedule struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	// Cron has five fields (minute hour day-of-month month day-of-week),
	// read in Timezone, an IANA time zone name (default UTC).
	Cron     string `json:"cron"`
	Timezone string `json:"timezone"`
	Branch   string `json:"branch"`
	// PipelineFile is the pipeline to run; "" means the project's.
	PipelineFile string      `json:"pipeline_file,omitempty"`
	Parameters   []Parameter `json:"parameters"`
	Paused       bool        `json:"paused"`
	// NextRun is the next tick the schedule runs at; kept while paused
	// and computed again from the time it resumes.
	NextRun time.Time `json:"next_run,omitzero"`
	// LastRun is the tick it last ran for, LastWorkflow the workflow that
	// run created and LastError why it created none ("" when it did).
	LastRun      time.Time `json:"last_run,omitzero"`
	LastWorkflow string    `json:"last_workflow,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by"`
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
}
