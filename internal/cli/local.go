package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/workspace"
)

// localPlan is the pipeline of a working tree compiled for a local event:
// what `baton plan` prints and `baton run` runs.
type localPlan struct {
	repo  *gitrepo.Repo
	file  pipelineFile
	snap  *workspace.Snapshot // Cleanup when done
	event localEvent
	graph *plan.Graph
	// input is what graph was compiled with.
	input plan.Input
}

// compileLocal locates, loads and compiles the pipeline file (default
// .semaphore/semaphore.yml) of the working tree in o.Dir for the event
// the flags describe, taking the working-tree snapshot under dir. On
// failure it prints why, prefixed with the command's name, and returns
// the exit code.
func compileLocal(ctx context.Context, o *IO, name, file string, ev *eventFlags, dir string) (*localPlan, int) {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(o.Err, "baton "+name+": "+format+"\n", args...)
		return ExitUsage
	}
	repo, err := gitrepo.Open(ctx, o.Dir)
	if err != nil {
		return nil, fail("%v (baton %s works on a git working tree)", err, name)
	}
	pf, err := locate(ctx, o, file, repo)
	if err != nil {
		return nil, fail("%v", err)
	}
	if _, err := os.Stat(filepath.Join(pf.Root, filepath.FromSlash(pf.Rel))); err != nil {
		return nil, fail("%s: no such pipeline file", displayPath(o, pf))
	}
	p, diags := load(pf)
	if len(diags) > 0 {
		fmt.Fprint(o.Err, diags.Format(o.color(o.Err)))
		return nil, fail("%s is invalid: %d problem(s)", pf.Rel, len(diags))
	}
	printPipelineWarnings(o, p)
	params, err := ev.params()
	if err != nil {
		return nil, fail("%v", err)
	}
	snap, facts, err := takeSnapshot(ctx, repo, dir)
	if err != nil {
		return nil, fail("snapshot of the working tree: %v", err)
	}
	le, err := buildEvent(repo, snap, facts, ev)
	if err != nil {
		snap.Cleanup()
		return nil, fail("%v", err)
	}
	in := plan.Input{
		Event:        le.event,
		PipelineFile: pf.Rel,
		Params:       params,
		ChangedFiles: func(rng string) ([]string, error) { return snap.ChangedFiles(ctx, rng) },
	}
	g, err := plan.Compile(p, in)
	if err != nil {
		snap.Cleanup()
		if ds, ok := err.(pipeline.Diagnostics); ok {
			fmt.Fprint(o.Err, ds.Format(o.color(o.Err)))
		}
		return nil, fail("cannot plan %s: %v", pf.Rel, err)
	}
	return &localPlan{repo: repo, file: pf, snap: snap, event: le, graph: g, input: in}, ExitOK
}

// compileFile loads and compiles another pipeline file of the same working
// tree (a promotion's pipeline_file, repository-relative) for the same
// event with params. Problems are printed and reported as an error.
func (lp *localPlan) compileFile(o *IO, rel string, params map[string]string) (*plan.Graph, plan.Input, error) {
	pf := pipelineFile{Root: lp.file.Root, Rel: rel}
	in := lp.input
	in.PipelineFile, in.Params = rel, params
	if _, err := os.Stat(filepath.Join(pf.Root, filepath.FromSlash(pf.Rel))); err != nil {
		return nil, in, fmt.Errorf("%s: no such pipeline file", rel)
	}
	p, diags := load(pf)
	if len(diags) > 0 {
		fmt.Fprint(o.Err, diags.Format(o.color(o.Err)))
		return nil, in, fmt.Errorf("%s is invalid: %d problem(s)", rel, len(diags))
	}
	printPipelineWarnings(o, p)
	g, err := plan.Compile(p, in)
	if err != nil {
		if ds, ok := err.(pipeline.Diagnostics); ok {
			fmt.Fprint(o.Err, ds.Format(o.color(o.Err)))
		}
		return nil, in, fmt.Errorf("cannot plan %s: %w", rel, err)
	}
	return g, in, nil
}

// printPipelineWarnings prints a loaded pipeline's warnings to stderr, each marked
// "warning:"; they never stop the pipeline.
func printPipelineWarnings(o *IO, p *pipeline.Pipeline) {
	if p == nil || len(p.Warnings) == 0 {
		return
	}
	ws := slices.Clone(p.Warnings)
	for i := range ws {
		ws[i].Message = "warning: " + ws[i].Message
	}
	fmt.Fprint(o.Err, ws.Format(o.color(o.Err)))
}
