package jobenv

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/plan"
)

// buildJob is a job whose YAML overrides a system variable (CI) and one
// of its secret's (TOKEN), in an after_pipeline block.
func buildJob() *plan.Job {
	return &plan.Job{
		Name:      "deploy",
		Commands:  []string{"make deploy"},
		Epilogue:  plan.Epilogue{Always: []string{"echo always"}, OnFail: []string{"echo failed"}},
		Env:       []jobspec.Var{{Name: "CI", Value: "yaml"}, {Name: "TOKEN", Value: "from-yaml"}, {Name: "REGION", Value: "eu"}},
		Secrets:   []string{"deploy-keys"},
		TimeLimit: plan.Duration(5 * time.Minute),
		Agent:     plan.Agent{Containers: []plan.Container{{Name: "main", Image: "debian:12", Secrets: []string{"deploy-keys"}}}},
	}
}

var buildSecrets = Secrets{
	Env: []jobspec.Var{
		{Name: "SEMAPHORE_GIT_SHA", Value: "secret-sha"},
		{Name: "TOKEN", Value: "s3cret-token"},
		{Name: "API_KEY", Value: "k3y-value"},
		{Name: "SEMAPHORE_PIPELINE_RESULT", Value: "secret-result"},
		{Name: "EMPTY", Value: ""},
	},
	Files: []jobspec.File{{Path: ".ssh/id_ed25519", Content: []byte("private key"), Mode: 0o600}},
}

func TestBuildOrdersSystemSecretsYAML(t *testing.T) {
	c := Context{JobID: "j1", JobName: "deploy", Git: Git{SHA: "abc"}}
	after := AfterPipeline(PipelineOutcome{Result: "failed", Reason: "test"})
	job := Build(buildJob(), c, Input{
		System:        []jobspec.Var{{Name: "SEMAPHORE_JOB_RERUN", Value: "true"}},
		Secrets:       buildSecrets,
		AfterPipeline: after,
	})
	env := lookup(job.Env)
	for name, want := range map[string]string{
		"CI":                        "yaml",       // YAML over system
		"SEMAPHORE_GIT_SHA":         "secret-sha", // secret over system
		"TOKEN":                     "from-yaml",  // YAML over secret
		"API_KEY":                   "k3y-value",  // secret
		"SEMAPHORE_JOB_RERUN":       "true",       // extra system variable
		"SEMAPHORE_PIPELINE_RESULT": "failed",     // after_pipeline over secret
		"REGION":                    "eu",
	} {
		if env[name] != want {
			t.Errorf("%s = %q, want %q", name, env[name], want)
		}
	}
	// Each name once; the YAML variables, then the after_pipeline ones, last.
	seen := map[string]bool{}
	for _, v := range job.Env {
		if seen[v.Name] {
			t.Errorf("%s exported twice", v.Name)
		}
		seen[v.Name] = true
	}
	n := len(job.Env)
	tail := job.Env[n-len(after)-3:]
	if tail[0].Name != "CI" || tail[1].Name != "TOKEN" || tail[2].Name != "REGION" || tail[3].Name != "SEMAPHORE_PIPELINE_RESULT" {
		t.Errorf("the environment ends with %v, want the YAML variables then the after_pipeline ones", tail)
	}
	if diff := cmp.Diff([]string{"secret-sha", "s3cret-token", "k3y-value", "secret-result", "private key"}, job.Secrets); diff != "" {
		t.Errorf("masked values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(buildSecrets.Files, job.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if job.Name != "deploy" || job.TimeLimit != 5*time.Minute || job.EpilogueAlways[0] != "echo always" || job.EpilogueOnFail[0] != "echo failed" {
		t.Errorf("job = %+v", job)
	}
	// Containers come without their secrets' values.
	if len(job.Containers) != 1 || job.Containers[0].Image != "debian:12" || len(job.Containers[0].Env) != 0 {
		t.Errorf("containers = %+v", job.Containers)
	}
}

// The server builds a job without secrets and adds them when the job is
// assigned (after_pipeline variables in between); `baton run` builds it
// at once. Both must export the same environment.
func TestBuildThenAddSecretsIsBuildWithSecrets(t *testing.T) {
	c := Context{JobID: "j1", Git: Git{SHA: "abc"}}
	after := AfterPipeline(PipelineOutcome{Result: "passed"})
	at := Build(buildJob(), c, Input{Secrets: buildSecrets, AfterPipeline: after})
	later := Build(buildJob(), c, Input{})
	later.Env = Merge(later.Env, after)
	AddSecrets(&later, buildJob(), buildSecrets)
	if diff := cmp.Diff(at, later); diff != "" {
		t.Errorf("built later (-at once +later):\n%s", diff)
	}
}

// A deployment target's secret, added after the job's own, overrides it
// but not the YAML.
func TestAddSecretsLaterWins(t *testing.T) {
	pj := buildJob()
	job := Build(pj, Context{}, Input{Secrets: buildSecrets})
	AddSecrets(&job, pj, Secrets{Env: []jobspec.Var{{Name: "API_KEY", Value: "target-key"}, {Name: "TOKEN", Value: "target-token"}}})
	env := lookup(job.Env)
	if env["API_KEY"] != "target-key" || env["TOKEN"] != "from-yaml" {
		t.Errorf("API_KEY = %q, TOKEN = %q; want target-key, from-yaml", env["API_KEY"], env["TOKEN"])
	}
}

func TestAfterPipeline(t *testing.T) {
	created := time.Unix(1_700_000_000, 0)
	got := lookup(AfterPipeline(PipelineOutcome{Result: "failed", Reason: "test",
		Created: created, Started: created.Add(10 * time.Second), Done: created.Add(70 * time.Second)}))
	for name, want := range map[string]string{
		"SEMAPHORE_PIPELINE_RESULT": "failed", "SEMAPHORE_PIPELINE_RESULT_REASON": "test",
		"SEMAPHORE_PIPELINE_CREATED_AT": "1700000000", "SEMAPHORE_PIPELINE_STARTED_AT": "1700000010", "SEMAPHORE_PIPELINE_DONE_AT": "1700000070",
		"SEMAPHORE_PIPELINE_TOTAL_DURATION": "70", "SEMAPHORE_PIPELINE_RUNNING_DURATION": "60", "SEMAPHORE_PIPELINE_QUEUEING_DURATION": "10",
		"SEMAPHORE_PIPELINE_INIT_DURATION": "0",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	for _, v := range AfterPipeline(PipelineOutcome{}) {
		if !isAfterPipeline(v.Name) {
			t.Errorf("isAfterPipeline(%q) = false", v.Name)
		}
	}
	if isAfterPipeline("RESULT") || isAfterPipeline("SEMAPHORE_PIPELINE_ID") {
		t.Error("isAfterPipeline accepts a variable AfterPipeline does not set")
	}
}
