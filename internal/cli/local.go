package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/batonci/baton/internal/localrun"
	"github.com/batonci/baton/internal/pipeline"
)

// compileLocal compiles the pipeline file (default
// .semaphore/semaphore.yml) of the working tree in o.Dir for the event the
// flags describe, taking the working-tree snapshot under dir. On failure
// it prints why, prefixed with the command's name, and returns the exit
// code.
func compileLocal(ctx context.Context, o *IO, name, file string, ev *eventFlags, dir string) (*localrun.Plan, int) {
	spec, params, err := ev.source()
	if err != nil {
		fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
		return nil, ExitUsage
	}
	libs, err := libraryDirs(o, ev.libraries)
	if err != nil {
		fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
		return nil, ExitUsage
	}
	lp, err := localrun.Compile(ctx, localrun.Source{
		Dir: o.Dir, File: file, Event: spec, Params: params, SnapshotDir: dir, Libraries: libs,
		Warn: func(ws pipeline.Diagnostics) { printPipelineWarnings(o, ws) },
	})
	if err != nil {
		return nil, failLocal(o, name, err)
	}
	return lp, ExitOK
}

// failLocal prints why a pipeline of the working tree could not be
// planned, with its diagnostics, and returns ExitUsage.
func failLocal(o *IO, name string, err error) int {
	var ds pipeline.Diagnostics
	if errors.As(err, &ds) {
		fmt.Fprint(o.Err, ds.Format(o.color(o.Err)))
	}
	var nwt *localrun.NoWorkingTreeError
	if errors.As(err, &nwt) {
		fmt.Fprintf(o.Err, "baton %s: %v (baton %s works on a git working tree)\n", name, err, name)
		return ExitUsage
	}
	fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
	return ExitUsage
}

// printPipelineWarnings prints a loaded pipeline's warnings to stderr, each marked
// "warning:"; they never stop the pipeline.
func printPipelineWarnings(o *IO, warnings pipeline.Diagnostics) {
	if len(warnings) == 0 {
		return
	}
	ws := slices.Clone(warnings)
	for i := range ws {
		ws[i].Message = "warning: " + ws[i].Message
	}
	fmt.Fprint(o.Err, ws.Format(o.color(o.Err)))
}
