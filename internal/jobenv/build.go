package jobenv

import (
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/containerjob"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/plan"
)

// Secrets are the resolved secrets a job receives: their variables and
// files, with their values.
type Secrets struct {
	Env   []jobspec.Var
	Files []jobspec.File
}

// Input is what a job receives besides its plan and its context.
type Input struct {
	// System follows the system variables, with their precedence: a
	// rerun's SEMAPHORE_JOB_RERUN, a promoted pipeline's artefact IDs.
	System []jobspec.Var
	// Secrets are the values of the secrets the job names.
	Secrets Secrets
	// AfterPipeline follows the YAML variables: an after_pipeline job's
	// SEMAPHORE_PIPELINE_* variables (AfterPipeline).
	AfterPipeline []jobspec.Var
}

// Build returns the job an agent runs for a compiled plan job: its
// commands and epilogues, its time limit, its containers (without their
// secrets' values, which containerjob.Build adds), and its environment in
// Semaphore's order (docs/semaphore.md §4.2): system variables < secrets <
// YAML variables, a later one of the same name replacing an earlier one.
// Where the job runs (directory, base environment, mounts) is the caller's.
//
// The server builds a job without secrets when it creates the job's row and
// adds them with AddSecrets when an agent claims it; `baton run` passes
// them here. Both give the same job.
func Build(pj *plan.Job, c Context, in Input) jobspec.Job {
	yaml := make([]jobspec.Var, 0, len(pj.Env)+len(in.AfterPipeline))
	yaml = append(append(yaml, pj.Env...), in.AfterPipeline...)
	job := jobspec.Job{
		Name:           pj.Name,
		Commands:       pj.Commands,
		EpilogueAlways: pj.Epilogue.Always,
		EpilogueOnPass: pj.Epilogue.OnPass,
		EpilogueOnFail: pj.Epilogue.OnFail,
		Env:            Merge(append(System(c), in.System...), yaml),
		TimeLimit:      pj.TimeLimit.D(),
	}
	job.Containers, _, _ = containerjob.Build(pj.Agent, nil)
	AddSecrets(&job, pj, in.Secrets)
	return job
}

// AddSecrets gives a built job the values of its secrets: their variables
// go between the system variables and the YAML ones (pj's env_vars and an
// after_pipeline job's SEMAPHORE_PIPELINE_* variables), so that they
// override the former and are overridden by the latter; their files are
// written after the job's other files; every value is masked in the job's
// output. Secrets added later (a deployment target's) override those added
// before. pj may be nil when the job's plan is unknown.
func AddSecrets(job *jobspec.Job, pj *plan.Job, s Secrets) {
	if len(s.Env) == 0 && len(s.Files) == 0 {
		return
	}
	yamlNames := map[string]bool{}
	if pj != nil {
		for _, v := range pj.Env {
			yamlNames[v.Name] = true
		}
	}
	var system, yaml []jobspec.Var
	for _, v := range job.Env {
		if yamlNames[v.Name] || isAfterPipeline(v.Name) {
			yaml = append(yaml, v)
		} else {
			system = append(system, v)
		}
	}
	job.Env = Merge(system, s.Env, yaml)
	job.Files = append(job.Files, s.Files...)
	for _, v := range s.Env {
		if v.Value != "" {
			job.Secrets = append(job.Secrets, v.Value)
		}
	}
	for _, f := range s.Files {
		if len(f.Content) > 0 {
			job.Secrets = append(job.Secrets, string(f.Content))
		}
	}
}

// PipelineOutcome is what an after_pipeline job learns about its pipeline.
type PipelineOutcome struct {
	Result, Reason string
	// Created, Started and Done are when the pipeline was created, started
	// and when its regular blocks were done.
	Created, Started, Done time.Time
}

// afterPipelinePrefix starts every variable AfterPipeline returns.
const afterPipelinePrefix = "SEMAPHORE_PIPELINE_"

// AfterPipeline returns the SEMAPHORE_PIPELINE_* variables of an
// after_pipeline job (docs/semaphore.md §1.11), in export order; negative
// durations are 0.
func AfterPipeline(o PipelineOutcome) []jobspec.Var {
	secs := func(d time.Duration) string { return fmt.Sprint(int64(max(d, 0).Seconds())) }
	unix := func(t time.Time) string { return fmt.Sprint(t.Unix()) }
	return []jobspec.Var{
		{Name: afterPipelinePrefix + "RESULT", Value: o.Result},
		{Name: afterPipelinePrefix + "RESULT_REASON", Value: o.Reason},
		{Name: afterPipelinePrefix + "CREATED_AT", Value: unix(o.Created)},
		{Name: afterPipelinePrefix + "STARTED_AT", Value: unix(o.Started)},
		{Name: afterPipelinePrefix + "DONE_AT", Value: unix(o.Done)},
		{Name: afterPipelinePrefix + "TOTAL_DURATION", Value: secs(o.Done.Sub(o.Created))},
		{Name: afterPipelinePrefix + "RUNNING_DURATION", Value: secs(o.Done.Sub(o.Started))},
		{Name: afterPipelinePrefix + "QUEUEING_DURATION", Value: secs(o.Started.Sub(o.Created))},
		{Name: afterPipelinePrefix + "INIT_DURATION", Value: "0"},
	}
}

// isAfterPipeline reports whether name is one of the variables
// AfterPipeline returns.
func isAfterPipeline(name string) bool {
	rest, ok := strings.CutPrefix(name, afterPipelinePrefix)
	if !ok {
		return false
	}
	switch rest {
	case "RESULT", "RESULT_REASON", "CREATED_AT", "STARTED_AT", "DONE_AT", "TOTAL_DURATION",
		"RUNNING_DURATION", "QUEUEING_DURATION", "INIT_DURATION":
		return true
	}
	return false
}
