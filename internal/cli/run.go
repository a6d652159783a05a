package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/localrun"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/redact"
	"github.com/batonci/baton/internal/runner"
	"github.com/batonci/baton/internal/toolbox"
	"github.com/batonci/baton/internal/workspace"
)

// eventFlags are the flags that choose the git event a pipeline is run or
// planned for.
type eventFlags struct {
	branch string
	tag    string
	pr     string
	set    multiFlag
}

func (f *eventFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.branch, "branch", "", "run as a push to this branch (default: the current branch)")
	fs.StringVar(&f.tag, "tag", "", "run as a push of this tag")
	fs.StringVar(&f.pr, "pr", "", "run as pull request `NUMBER` from the current branch into --branch (default: the default branch)")
	fs.Var(&f.set, "set", "set parameter `KEY=VALUE` (exported in every job, usable as ${{parameters.KEY}}); repeatable")
}

// source parses the flags into the event and the parameters of a local
// run.
func (f *eventFlags) source() (localrun.EventSpec, map[string]string, error) {
	if f.tag != "" && (f.branch != "" || f.pr != "") {
		return localrun.EventSpec{}, nil, fmt.Errorf("--tag cannot be combined with --branch or --pr")
	}
	params := map[string]string{}
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !jobenv.Valid(k) {
			return localrun.EventSpec{}, nil, fmt.Errorf("--set %q: want KEY=VALUE with a valid variable name", kv)
		}
		params[k] = v
	}
	return localrun.EventSpec{Branch: f.branch, Tag: f.tag, PR: f.pr}, params, nil
}

type runOptions struct {
	events      eventFlags
	secrets     multiFlag
	secretsFile multiFlag
	parallel    int
	json        bool
	keep        bool
	promote     multiFlag
	params      multiFlag
	promoteOnly bool
}

func runCommand() *command {
	c := &command{
		name:    "run",
		summary: "run a pipeline on this machine",
		usage:   "[flags] [FILE]",
		help: `Runs a pipeline (default .semaphore/semaphore.yml) from the current git working
tree, with no server. Every job gets a private copy of the working tree as it
stands, uncommitted changes included, and runs in its own bash session;
independent blocks and the jobs of a block run in parallel.

The SEMAPHORE_* variables are filled from the local repository. --branch,
--tag and --pr run the pipeline as another event would (skip/run conditions,
change_in and queues follow). Secrets the pipeline names are given with
--secret SECRET:VAR=VALUE (VAR=VALUE for every job) or --secrets-file FILE
(Semaphore secret YAML, or a map of secret name to variables); their values
are masked in the output.

Output: a live view of every job with each command's duration and exit code,
then a summary with the critical path and the pipeline's promotions: which
would start automatically on the server for this event and result, and which
are manual. --json prints one event per line, and a "promotions" line after
each pipeline.

--promote NAME runs the promotion NAME once the pipeline has passed: its
pipeline_file, read from the same working tree, for the same event, with the
promotion's parameters given by --param NAME=VALUE (checked against required,
options and default_value; exported in every job and substituted into
${{parameters.NAME}}). Repeat --promote to follow a chain: the second name is
a promotion of the first promotion's pipeline, and so on. A --param goes to
every promotion of the chain that declares it. --promote-only runs the
promotion(s) without the initial pipeline. --set gives parameters to the
initial pipeline instead. Deployment targets' access rules and secrets exist
only on the server: locally a promotion gets the --secret values given.

Exit status: 0 when every pipeline run passed, 1 when one failed or was
stopped (a promotion is not run after a failed pipeline), 2 for invalid input
(unknown promotion, missing required or disallowed parameter value).`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		var opts runOptions
		fs := c.flags(o)
		opts.events.register(fs)
		fs.Var(&opts.secrets, "secret", "provide a secret value: `SECRET:VAR=VALUE`, or VAR=VALUE for every job; repeatable")
		fs.Var(&opts.secretsFile, "secrets-file", "read secrets from `FILE` (YAML); repeatable")
		fs.IntVar(&opts.parallel, "parallel", defaultParallel(), "run at most `N` jobs at once")
		fs.BoolVar(&opts.json, "json", false, "print events as JSON lines instead of the live view")
		fs.BoolVar(&opts.keep, "keep", false, "keep the jobs' workspaces after the run (their path is printed)")
		fs.Var(&opts.promote, "promote", "after the pipeline passes, run its promotion `NAME`; repeat to promote the promoted pipeline")
		fs.Var(&opts.params, "param", "give promotion parameter `NAME=VALUE` (for --promote); repeatable")
		fs.BoolVar(&opts.promoteOnly, "promote-only", false, "run the --promote chain without running the pipeline first")
		files, code, stop := parse(fs, args)
		if stop {
			return code
		}
		if len(files) > 1 {
			fmt.Fprintln(o.Err, "baton run: at most one pipeline file")
			return ExitUsage
		}
		file := ""
		if len(files) == 1 {
			file = files[0]
		}
		return runPipeline(ctx, o, file, &opts)
	}
	return c
}

// defaultParallel runs many jobs at once: CI jobs wait on I/O as much as
// they compute, and Semaphore runs every job of a block at the same time.
func defaultParallel() int { return max(8, 4*runtime.NumCPU()) }

func runPipeline(ctx context.Context, o *IO, file string, opts *runOptions) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(o.Err, "baton run: "+format+"\n", args...)
		return ExitUsage
	}
	secrets := newLocalSecrets()
	for _, f := range opts.secretsFile {
		if err := secrets.addFile(f); err != nil {
			return fail("%v", err)
		}
	}
	for _, s := range opts.secrets {
		if err := secrets.addFlag(s); err != nil {
			return fail("%v", err)
		}
	}
	if opts.promoteOnly && len(opts.promote) == 0 {
		return fail("--promote-only needs --promote NAME")
	}
	given, err := runParamFlags(opts.params)
	if err != nil {
		return fail("%v", err)
	}

	runDir, err := os.MkdirTemp("", "baton-run-")
	if err != nil {
		return fail("%v", err)
	}
	if opts.keep {
		fmt.Fprintf(o.Err, "baton run: keeping workspaces in %s\n", runDir)
	} else {
		defer workspace.RemoveAll(runDir)
	}
	lp, code := compileLocal(ctx, o, "run", file, &opts.events, runDir)
	if lp == nil {
		return code
	}
	defer lp.Close()
	stages, err := planPromotionChain(lp, opts.promote, given)
	if err != nil {
		return failLocal(o, "run", err)
	}

	lr, err := newLocalRunner(o, lp, runDir, secrets)
	if err != nil {
		return fail("%v", err)
	}
	lr.keep = opts.keep
	for _, w := range lr.warnings {
		fmt.Fprintf(o.Err, "baton run: warning: %s\n", w)
	}
	var js *jsonRenderer
	if opts.json {
		js = newJSONRenderer(o.Out)
	}
	var prev *localrun.Report
	for i, st := range stages {
		if i == 0 && opts.promoteOnly {
			fmt.Fprintf(o.Err, "baton run: --promote-only: not running pipeline %q (%s)\n", st.graph.Name, st.graph.File)
			continue
		}
		if i > 0 {
			if ctx.Err() != nil {
				return ExitFailure
			}
			if prev != nil && !prev.Result.Passed() {
				fmt.Fprintf(o.Err, "baton run: not promoting %q: pipeline %q %s; a promotion runs only after a passing pipeline (--promote-only runs it without the pipeline)\n",
					st.promotion.Name, stages[i-1].graph.Name, prev.Result)
				return ExitFailure
			}
			lr = lr.promoted(o, i, st)
			announcePromotion(o, js, st)
		}
		prev = runStageOnce(ctx, o, lr, st, js, opts.parallel)
	}
	if prev == nil || prev.Result.Passed() {
		return ExitOK
	}
	return ExitFailure
}

// runStageOnce runs one pipeline of the run with its live view or JSON
// lines, then says what its promotions would do.
func runStageOnce(ctx context.Context, o *IO, lr *localRunner, st *runStage, js *jsonRenderer, parallel int) *localrun.Report {
	g := st.graph
	var emit func(ci.Event)
	var text *textRenderer
	if js != nil {
		emit = js.event
	} else {
		text = newTextRenderer(o.Out, o.color(o.Out), jobNameCounts(g))
		emit = text.event
	}
	rep := localrun.Run(ctx, g, localrun.Options{
		Runner:   &runner.Runner{Executor: localExecutor(ctx, g)},
		Parallel: parallel,
		Prepare:  lr.prepare,
		Emit:     emit,
	})
	facts := localPromotionFacts(st, rep.Result, rep.Reason)
	if js != nil {
		js.flush()
		if len(facts) > 0 {
			js.write(localPromotionsEvent{Kind: "promotions", Timestamp: ci.Timestamp(time.Now()), Pipeline: g.Name, PipelineFile: g.File,
				Result: rep.Result, Reason: rep.Reason, Promotions: facts})
		}
	} else {
		text.summary(rep)
		printLocalPromotions(o.Out, facts)
	}
	return rep
}

// announcePromotion marks the start of a promoted pipeline.
func announcePromotion(o *IO, js *jsonRenderer, st *runStage) {
	p := st.promotion
	if p.DeploymentTarget != "" {
		fmt.Fprintf(o.Err, "baton run: note: promotion %q deploys to target %q; targets' access rules and secrets apply only on the server, here it runs with the --secret values given\n",
			p.Name, p.DeploymentTarget)
	}
	if js != nil {
		js.write(localPromotionStartedEvent{Kind: "promotion_started", Timestamp: ci.Timestamp(time.Now()), Promotion: p.Name,
			PipelineFile: p.PipelineFile, Pipeline: st.graph.Name, DeploymentTarget: p.DeploymentTarget, Parameters: st.params})
		return
	}
	line := fmt.Sprintf("Promoting %q → %s", p.Name, p.PipelineFile)
	if len(st.params) > 0 {
		line += " with " + runParamText(st.params)
	}
	fmt.Fprintf(o.Out, "\n%s\n\n", line)
}

// jobNameCounts counts how many blocks use each job name, so the live view
// can prefix ambiguous names with their block.
func jobNameCounts(g *plan.Graph) map[string]int {
	out := map[string]int{}
	blocks := g.Blocks
	if g.AfterPipeline != nil {
		blocks = append(append([]*plan.Block{}, blocks...), g.AfterPipeline)
	}
	for _, b := range blocks {
		seen := map[string]bool{}
		for _, j := range b.Jobs {
			if !seen[j.Name] {
				out[j.Name]++
				seen[j.Name] = true
			}
		}
	}
	return out
}

// localRunner prepares the jobs of one `baton run`.
type localRunner struct {
	plan     *localrun.Plan
	runDir   string
	binDir   string
	graph    *plan.Graph
	secrets  *localSecrets
	baseEnv  []string
	ctx      jobenv.Context
	masks    []string
	warnings []string
	// storeDir holds the toolbox's stores, which jobs reach through
	// their job service: cache/ and artifacts/, per project.
	storeDir string
	keep     bool
	// jobsDir holds the jobs' home directories.
	jobsDir string
	// artefacts are the SEMAPHORE_PIPELINE_<n>_ARTEFACT_ID variables of a
	// promoted pipeline.
	artefacts []jobspec.Var
}

func newLocalRunner(o *IO, lp *localrun.Plan, runDir string, secrets *localSecrets) (*localRunner, error) {
	g := lp.Graph
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the baton binary: %w", err)
	}
	binDir := filepath.Join(runDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	if err := toolbox.Install(binDir, self); err != nil {
		return nil, fmt.Errorf("install the toolbox: %w", err)
	}
	userCache, err := os.UserCacheDir()
	if err != nil {
		userCache = filepath.Join(runDir, "cache")
	}
	lr := &localRunner{
		plan: lp, runDir: runDir, binDir: binDir, graph: g, secrets: secrets,
		storeDir: filepath.Join(userCache, "baton"),
		jobsDir:  filepath.Join(runDir, "jobs"),
	}
	lr.masks = secrets.values()
	for _, name := range secrets.order {
		for _, f := range secrets.byName[name].Files {
			lr.masks = append(lr.masks, string(f.Content))
		}
	}
	for _, name := range secrets.order {
		for _, v := range secrets.byName[name].Env {
			if len(v.Value) < redact.MinLength {
				lr.warnings = append(lr.warnings, fmt.Sprintf("the value of %s:%s is shorter than %d characters and will not be masked in the output", name, v.Name, redact.MinLength))
			}
		}
	}
	for _, v := range secrets.unnamed {
		if len(v.Value) < redact.MinLength {
			lr.warnings = append(lr.warnings, fmt.Sprintf("the value of %s is shorter than %d characters and will not be masked in the output", v.Name, redact.MinLength))
		}
	}
	env := os.Environ()
	env = append(env,
		"PATH="+binDir+string(os.PathListSeparator)+o.Getenv("PATH"),
	)
	lr.baseEnv = env
	lr.ctx = jobenv.Context{
		ProjectName:     lp.Git.RepoName,
		ProjectID:       safeName(lp.Git.Slug),
		OrganizationURL: "local",
		WorkflowID:      ids.New(),
		WorkflowNumber:  1,
		Trigger:         "manual",
		TriggeredBy:     o.Getenv("USER"),
		PipelineID:      ids.New(),
		PipelineName:    g.Name,
		MachineType:     "local",
		Git:             lp.Git,
	}
	return lr, nil
}

// promoted returns the runner of the i-th pipeline of a promotion chain:
// the same workflow, a new pipeline promoted by the local user, its jobs
// in their own directory.
func (lr *localRunner) promoted(o *IO, i int, st *runStage) *localRunner {
	next := *lr
	next.graph = st.graph
	next.jobsDir = filepath.Join(lr.runDir, "promotions", fmt.Sprint(i), "jobs")
	next.ctx.PipelineID, next.ctx.PipelineName = ids.New(), st.graph.Name
	next.ctx.PromotedBy = o.Getenv("USER")
	if next.ctx.PromotedBy == "" {
		next.ctx.PromotedBy = "local"
	}
	if len(lr.artefacts) == 0 {
		next.artefacts = []jobspec.Var{{Name: "SEMAPHORE_PIPELINE_0_ARTEFACT_ID", Value: lr.ctx.PipelineID}}
	}
	next.artefacts = append(append([]jobspec.Var{}, next.artefacts...),
		jobspec.Var{Name: fmt.Sprintf("SEMAPHORE_PIPELINE_%d_ARTEFACT_ID", i), Value: next.ctx.PipelineID})
	return &next
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
func (lr *localRunner) prepare(ctx context.Context, s localrun.Spec) (jobspec.Job, func(), error) {
	home := filepath.Join(lr.jobsDir, fmt.Sprint(s.Number))
	ws := filepath.Join(home, lr.plan.Git.RepoName)
	var svc *jobsvc.Service
	cleanup := func() {
		if svc != nil {
			svc.Close()
		}
		if !lr.keep {
			workspace.RemoveAll(home)
		}
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return jobspec.Job{}, cleanup, err
	}
	if err := lr.plan.Materialize(ctx, ws); err != nil {
		return jobspec.Job{}, cleanup, fmt.Errorf("prepare the workspace: %w", err)
	}
	jc := lr.ctx
	jc.BlockName, jc.JobName, jc.JobID, jc.JobCreated = s.Block.Name, s.Job.Name, ids.New(), time.Now()
	jc.MachineType, jc.OSImage = orLocal(s.Job.Agent.MachineType), s.Job.Agent.OSImage

	var secrets jobenv.Secrets
	var missing []string
	secrets.Env = append(secrets.Env, lr.secrets.unnamed...)
	for _, name := range s.Job.Secrets {
		sec, ok := lr.secrets.byName[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		secrets.Env = append(secrets.Env, sec.Env...)
		for _, f := range sec.Files {
			secrets.Files = append(secrets.Files, jobspec.File{Path: f.Path, Content: f.Content, Mode: 0o644})
		}
	}
	if len(missing) > 0 {
		return jobspec.Job{}, cleanup, fmt.Errorf("secret %s not found: provide it with --secret %s:VAR=VALUE or --secrets-file FILE",
			quoteList(missing), missing[0])
	}
	job := jobenv.Build(s.Job, jc, jobenv.Input{System: lr.artefacts, Secrets: secrets, AfterPipeline: s.Extra})
	// The job's cache, artifacts and sem-context values, as on an
	// agent: through a job service of its own.
	svc, err := jobsvc.Start(jobsvc.Config{
		Scope:      jobsvc.Scope{Project: lr.ctx.ProjectID, Workflow: lr.ctx.WorkflowID, Job: jc.JobID},
		Cache:      jobsvc.LocalCache{Dir: filepath.Join(lr.storeDir, "cache")},
		Artifacts:  jobsvc.LocalArtifacts{Dir: filepath.Join(lr.storeDir, "artifacts")},
		Context:    jobsvc.LocalContext{Dir: filepath.Join(lr.runDir, "context")},
		NoServices: "sem-service is not available in local runs; it starts services on agents with Docker (baton agent)",
	})
	if err != nil {
		return jobspec.Job{}, cleanup, err
	}
	base := append(append([]string{}, lr.baseEnv...),
		"BATON_JOB_HOME="+home,
		"BATON_WORKSPACE="+ws,
	)
	base = append(base, svc.Env()...)
	// Every value given to the run is masked, not only this job's.
	job.Secrets = lr.masks
	job.Dir, job.BaseEnv, job.Init, job.ID = home, base, toolbox.ShellInit(), jc.JobID
	if err := lr.containerJob(&job, s.Job.Agent); err != nil {
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
