package apiv1

import "time"

// Parameter is a parameter a schedule declares for its runs.
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
// expression read in Timezone.
type Schedule struct {
	ID           string      `json:"id"`
	ProjectID    string      `json:"project_id"`
	Name         string      `json:"name"`
	Cron         string      `json:"cron"`
	Timezone     string      `json:"timezone"`
	Branch       string      `json:"branch"`
	PipelineFile string      `json:"pipeline_file,omitempty"`
	Parameters   []Parameter `json:"parameters"`
	Paused       bool        `json:"paused"`
	NextRun      time.Time   `json:"next_run,omitzero"`
	// LastRun is the tick it last ran for, LastWorkflow the workflow that
	// run created and LastError why it created none.
	LastRun      time.Time `json:"last_run,omitzero"`
	LastWorkflow string    `json:"last_workflow,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by"`
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
}

// ScheduleView is a schedule with, when shown alone, its last runs.
type ScheduleView struct {
	*Schedule
	Runs []*Workflow `json:"runs,omitempty"`
}

// ScheduleRequest creates (POST) or changes (PATCH) a schedule. On PATCH
// every field is optional; parameters given replace the declared ones.
type ScheduleRequest struct {
	Name         *string      `json:"name"`
	Cron         *string      `json:"cron"`
	Timezone     *string      `json:"timezone"`
	Branch       *string      `json:"branch"`
	PipelineFile *string      `json:"pipeline_file"`
	Parameters   *[]Parameter `json:"parameters"`
	Paused       *bool        `json:"paused"`
}

// ScheduleRunRequest runs a schedule now with values for its parameters.
type ScheduleRunRequest struct {
	Parameters map[string]string `json:"parameters"`
}
