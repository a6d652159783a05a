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
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/localrun"
	"github.com/batonci/baton/internal/plan"
)

// eventFlags are the flags that choose the git event a pipeline is run or
// planned for.
type eventFlags struct {
	branch string
	tag    string
	pr     string
	set    multiFlag
	// libraries are --library NAME=DIR: script libraries from local
	// directories.
	libraries multiFlag
}

func (f *eventFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.branch, "branch", "", "run as a push to this branch (default: the current branch)")
	fs.StringVar(&f.tag, "tag", "", "run as a push of this tag")
	fs.StringVar(&f.pr, "pr", "", "run as pull request `NUMBER` from the current branch into --branch (default: the default branch)")
	fs.Var(&f.set, "set", "set parameter `KEY=VALUE` (exported in every job, usable as ${{parameters.KEY}}); repeatable")
	registerLibraryFlag(fs, &f.libraries)
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
	secrets, err := localSecrets(opts.secretsFile, opts.secrets)
	if err != nil {
		return fail("%v", err)
	}
	if opts.promoteOnly && len(opts.promote) == 0 {
		return fail("--promote-only needs --promote NAME")
	}
	given, err := runParamFlags(opts.params)
	if err != nil {
		return fail("%v", err)
	}

	runDir, removeRunDir, err := localrun.MakeRunDir()
	if err != nil {
		return fail("%v", err)
	}
	if opts.keep {
		fmt.Fprintf(o.Err, "baton run: keeping workspaces in %s\n", runDir)
	} else {
		defer removeRunDir()
	}
	lp, code := compileLocal(ctx, o, "run", file, &opts.events, runDir)
	if lp == nil {
		return code
	}
	defer lp.Close()
	stages, err := lp.Chain(opts.promote, given)
	if err != nil {
		return failLocal(o, "run", err)
	}

	self, err := os.Executable()
	if err != nil {
		return fail("find the baton binary: %v", err)
	}
	// The toolbox's stores (cache, artifacts) outlive the run.
	storeDir := ""
	if userCache, err := os.UserCacheDir(); err == nil {
		storeDir = filepath.Join(userCache, "baton")
	}
	lr, err := localrun.NewSession(localrun.Config{
		Plan: lp, RunDir: runDir, Secrets: secrets, Binary: self,
		Environ: os.Environ(), Path: o.Getenv("PATH"), User: o.Getenv("USER"),
		StoreDir: storeDir, Keep: opts.keep,
	})
	if err != nil {
		return fail("%v", err)
	}
	for _, w := range lr.Warnings() {
		fmt.Fprintf(o.Err, "baton run: warning: %s\n", w)
	}
	growOutputPipe(o.Out)
	var js *jsonRenderer
	if opts.json {
		js = newJSONRenderer(o.Out)
	}
	var prev *localrun.Report
	for i, st := range stages {
		if i == 0 && opts.promoteOnly {
			fmt.Fprintf(o.Err, "baton run: --promote-only: not running pipeline %q (%s)\n", st.Graph.Name, st.Graph.File)
			continue
		}
		if i > 0 {
			if ctx.Err() != nil {
				return ExitFailure
			}
			if prev != nil && !prev.Result.Passed() {
				fmt.Fprintf(o.Err, "baton run: not promoting %q: pipeline %q %s; a promotion runs only after a passing pipeline (--promote-only runs it without the pipeline)\n",
					st.Promotion.Name, stages[i-1].Graph.Name, prev.Result)
				return ExitFailure
			}
			lr = lr.Promoted(i, st)
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
func runStageOnce(ctx context.Context, o *IO, lr *localrun.Session, st *localrun.Stage, js *jsonRenderer, parallel int) *localrun.Report {
	g := st.Graph
	var emit func(ci.Event)
	var text *textRenderer
	if js != nil {
		emit = js.event
	} else {
		text = newTextRenderer(o.Out, o.color(o.Out), jobNameCounts(g))
		emit = text.event
	}
	rep := lr.Run(ctx, parallel, emit)
	facts := st.Promotions(rep.Result, rep.Reason)
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
func announcePromotion(o *IO, js *jsonRenderer, st *localrun.Stage) {
	p := st.Promotion
	if p.DeploymentTarget != "" {
		fmt.Fprintf(o.Err, "baton run: note: promotion %q deploys to target %q; targets' access rules and secrets apply only on the server, here it runs with the --secret values given\n",
			p.Name, p.DeploymentTarget)
	}
	if js != nil {
		js.write(localPromotionStartedEvent{Kind: "promotion_started", Timestamp: ci.Timestamp(time.Now()), Promotion: p.Name,
			PipelineFile: p.PipelineFile, Pipeline: st.Graph.Name, DeploymentTarget: p.DeploymentTarget, Parameters: st.Params})
		return
	}
	line := fmt.Sprintf("Promoting %q → %s", p.Name, p.PipelineFile)
	if len(st.Params) > 0 {
		line += " with " + runParamText(st.Params)
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
