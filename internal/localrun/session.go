package localrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/redact"
	"github.com/batonci/baton/internal/runner"
	"github.com/batonci/baton/internal/toolbox"
	"github.com/batonci/baton/internal/workspace"
)

// Config is what a Session needs besides the plan: where it works and
// what the machine gives its jobs.
type Config struct {
	Plan *Plan
	// RunDir holds the run's jobs and toolbox; the caller removes it.
	RunDir  string
	Secrets *Secrets
	// Binary is the baton binary, installed in RunDir as the jobs'
	// toolbox (and mounted into their containers).
	Binary string
	// Environ is the environment jobs start from; Path is the PATH the
	// toolbox is put in front of.
	Environ []string
	Path    string
	// User is who triggers the run (and promotes its pipelines).
	User string
	// StoreDir holds the toolbox's stores, which jobs reach through their
	// job service: cache/ and artifacts/, per project. Default: in RunDir.
	StoreDir string
	// Keep keeps the jobs' directories after they ran.
	Keep bool
}

// Session runs the pipelines of one `baton run` on this machine: the
// planned pipeline, then the pipelines promoted from it. Each job gets
// its home directory with a private copy of the working tree, the
// variables of its context, the secrets it names and a job service for
// its cache, artifacts and sem-context values.
type Session struct {
	plan     *Plan
	runDir   string
	binDir   string
	binary   string
	graph    *plan.Graph
	secrets  *Secrets
	baseEnv  []string
	ctx      jobenv.Context
	user     string
	masks    []string
	warnings []string
	storeDir string
	keep     bool
	// jobsDir holds the jobs' home directories.
	jobsDir string
	// artefacts are the SEMAPHORE_PIPELINE_<n>_ARTEFACT_ID variables of a
	// promoted pipeline.
	artefacts []jobspec.Var
	// reports keeps the jobs' test reports in runDir/test-results.
	reports jobsvc.LocalReports
	// coverage keeps the jobs' code coverage in runDir/coverage.
	coverage jobsvc.LocalCoverage
}

// NewSession installs the toolbox in cfg.RunDir and returns the session
// of cfg.Plan's pipeline.
func NewSession(cfg Config) (*Session, error) {
	lp := cfg.Plan
	binDir := filepath.Join(cfg.RunDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	if err := toolbox.Install(binDir, cfg.Binary); err != nil {
		return nil, fmt.Errorf("install the toolbox: %w", err)
	}
	secrets := cfg.Secrets
	if secrets == nil {
		secrets = &Secrets{}
	}
	s := &Session{
		plan: lp, runDir: cfg.RunDir, binDir: binDir, binary: cfg.Binary, graph: lp.Graph, secrets: secrets,
		user:     cfg.User,
		storeDir: cfg.StoreDir,
		reports:  jobsvc.NewLocalReports(filepath.Join(cfg.RunDir, "test-results")),
		coverage: jobsvc.NewLocalCoverage(filepath.Join(cfg.RunDir, "coverage")),
		keep:     cfg.Keep,
		jobsDir:  filepath.Join(cfg.RunDir, "jobs"),
		masks:    secrets.masks(),
	}
	if s.storeDir == "" {
		s.storeDir = filepath.Join(cfg.RunDir, "cache")
	}
	for _, name := range secrets.order {
		for _, v := range secrets.byName[name].env {
			if len(v.Value) < redact.MinLength {
				s.warnings = append(s.warnings, fmt.Sprintf("the value of %s:%s is shorter than %d characters and will not be masked in the output", name, v.Name, redact.MinLength))
			}
		}
	}
	for _, v := range secrets.unnamed {
		if len(v.Value) < redact.MinLength {
			s.warnings = append(s.warnings, fmt.Sprintf("the value of %s is shorter than %d characters and will not be masked in the output", v.Name, redact.MinLength))
		}
	}
	s.baseEnv = append(append([]string{}, cfg.Environ...), "PATH="+binDir+string(os.PathListSeparator)+cfg.Path)
	s.ctx = jobenv.Context{
		ProjectName:     lp.Git.RepoName,
		ProjectID:       safeName(lp.Git.Slug),
		OrganizationURL: "local",
		WorkflowID:      ids.New(),
		WorkflowNumber:  1,
		Trigger:         "manual",
		TriggeredBy:     cfg.User,
		PipelineID:      ids.New(),
		PipelineName:    lp.Graph.Name,
		MachineType:     "local",
		Git:             lp.Git,
	}
	return s, nil
}

// Warnings are what the user should know before the run: secret values
// too short to be masked.
func (s *Session) Warnings() []string { return s.warnings }

// Promoted returns the session of the i-th pipeline of a promotion chain:
// the same workflow, a new pipeline promoted by the local user, its jobs
// in their own directory.
func (s *Session) Promoted(i int, st *Stage) *Session {
	next := *s
	next.graph = st.Graph
	next.jobsDir = filepath.Join(s.runDir, "promotions", fmt.Sprint(i), "jobs")
	next.ctx.PipelineID, next.ctx.PipelineName = ids.New(), st.Graph.Name
	next.ctx.PromotedBy = s.user
	if next.ctx.PromotedBy == "" {
		next.ctx.PromotedBy = "local"
	}
	if len(s.artefacts) == 0 {
		next.artefacts = []jobspec.Var{{Name: "SEMAPHORE_PIPELINE_0_ARTEFACT_ID", Value: s.ctx.PipelineID}}
	}
	next.artefacts = append(append([]jobspec.Var{}, next.artefacts...),
		jobspec.Var{Name: fmt.Sprintf("SEMAPHORE_PIPELINE_%d_ARTEFACT_ID", i), Value: next.ctx.PipelineID})
	return &next
}

// Run runs the session's pipeline with at most parallel jobs at once,
// each in a bash session of its own (in its containers when it declares
// agent.containers), and passes every event to emit. The Output of a
// cmd_output event is lent (runner.Runner.LendOutput): valid until emit
// returns, so emit copies what it keeps.
func (s *Session) Run(ctx context.Context, parallel int, emit func(ci.Event)) *Report {
	return Run(ctx, s.graph, Options{
		Runner:   &runner.Runner{Executor: localExecutor(ctx, s.graph), LendOutput: true},
		Parallel: parallel,
		Prepare:  s.prepare,
		Emit:     emit,
	})
}

// safeName turns a repository slug into a directory name.
func safeName(s string) string {
	if s == "" {
		return "default"
	}
	return strings.NewReplacer("/", "__", "\\", "__", ":", "_", " ", "_").Replace(s)
}

// prepare makes a job runnable: its home directory with a private copy of
// the working tree, its environment and its secrets.
func (s *Session) prepare(ctx context.Context, sp Spec) (jobspec.Job, func(), error) {
	home := filepath.Join(s.jobsDir, fmt.Sprint(sp.Number))
	ws := filepath.Join(home, s.plan.Git.RepoName)
	var svc *jobsvc.Service
	cleanup := func() {
		if svc != nil {
			svc.Close()
		}
		if !s.keep {
			workspace.RemoveAll(home)
		}
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return jobspec.Job{}, cleanup, err
	}
	if err := s.plan.Materialize(ctx, ws); err != nil {
		return jobspec.Job{}, cleanup, fmt.Errorf("prepare the workspace: %w", err)
	}
	jc := s.ctx
	jc.BlockName, jc.JobName, jc.JobID, jc.JobCreated = sp.Block.Name, sp.Job.Name, ids.New(), time.Now()
	jc.MachineType, jc.OSImage = orLocal(sp.Job.Agent.MachineType), sp.Job.Agent.OSImage

	var secrets jobenv.Secrets
	var missing []string
	secrets.Env = append(secrets.Env, s.secrets.unnamed...)
	for _, name := range sp.Job.Secrets {
		sec, ok := s.secrets.byName[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		secrets.Env = append(secrets.Env, sec.env...)
		secrets.Files = append(secrets.Files, sec.files...)
	}
	if len(missing) > 0 {
		return jobspec.Job{}, cleanup, fmt.Errorf("secret %s not found: provide it with --secret %s:VAR=VALUE or --secrets-file FILE",
			quoteList(missing), missing[0])
	}
	job := jobenv.Build(sp.Job, jc, jobenv.Input{System: s.artefacts, Secrets: secrets, AfterPipeline: sp.Extra})
	// The job's cache, artifacts and sem-context values, as on an
	// agent: through a job service of its own.
	svc, err := jobsvc.Start(jobsvc.Config{
		Scope:      jobsvc.Scope{Project: s.ctx.ProjectID, Workflow: s.ctx.WorkflowID, Job: jc.JobID},
		Cache:      jobsvc.LocalCache{Dir: filepath.Join(s.storeDir, "cache")},
		Artifacts:  jobsvc.LocalArtifacts{Dir: filepath.Join(s.storeDir, "artifacts")},
		Context:    jobsvc.LocalContext{Dir: filepath.Join(s.runDir, "context")},
		NoServices: "sem-service is not available in local runs; it starts services on agents with Docker (baton agent)",
		Reports:    s.reports,
		Coverage:   s.coverage,
		Libraries:  jobsvc.LocalLibraries(s.plan.File.Libraries),
	})
	if err != nil {
		return jobspec.Job{}, cleanup, err
	}
	base := append(append([]string{}, s.baseEnv...),
		"BATON_JOB_HOME="+home,
		"BATON_WORKSPACE="+ws,
	)
	base = append(base, svc.Env()...)
	// Every value given to the run is masked, not only this job's.
	job.Secrets = s.masks
	job.Dir, job.BaseEnv, job.Init, job.ID = home, base, toolbox.ShellInit(), jc.JobID
	if err := s.containerJob(&job, sp.Job.Agent); err != nil {
		return jobspec.Job{}, cleanup, err
	}
	return job, cleanup, nil
}

func orLocal(s string) string {
	if s == "" {
		return "local"
	}
	return s
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// MakeRunDir makes a temporary directory for a run (Config.RunDir and
// Source.SnapshotDir); remove deletes it with everything the jobs left
// in it, read-only directories included.
func MakeRunDir() (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "baton-run-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { workspace.RemoveAll(dir) }, nil
}
