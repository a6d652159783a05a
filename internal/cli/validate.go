package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/localrun"
	"github.com/batonci/baton/internal/pipeline"
)

func validateCommand() *command {
	c := &command{
		name:    "validate",
		summary: "check pipeline files for errors",
		usage:   "[--json] [--strict] [FILE...]",
		help: `Parses each pipeline file (default .semaphore/semaphore.yml in the repository)
against Semaphore's v1.0 schema and semantic rules, and reports every problem
as file:line:col: message with a source excerpt. Files named by task_file and
commands_file are read and checked too; a commands_file of a script library
("@NAME/path") is read from the directory --library NAME=DIR gives.

Warnings (what Semaphore reads differently from a strict YAML reader, such
as an unknown escape in a double-quoted string or a duplicate key, or what
Semaphore would refuse, such as merge keys) are printed the same way but do
not make a file invalid; --strict makes them errors.

Exit status: 0 when every file is valid, 1 when problems were found (or
warnings, with --strict), 2 when a file cannot be read.`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		asJSON := fs.Bool("json", false, "print the diagnostics as a JSON array")
		strict := fs.Bool("strict", false, "treat warnings as errors")
		var libFlags multiFlag
		registerLibraryFlag(fs, &libFlags)
		files, code, stop := parse(fs, args)
		if stop {
			return code
		}
		libs, err := libraryDirs(o, libFlags)
		if err != nil {
			fmt.Fprintf(o.Err, "baton validate: %v\n", err)
			return ExitUsage
		}
		if len(files) == 0 {
			files = []string{""}
		}
		type jsonDiag struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Message string `json:"message"`
			Warning bool   `json:"warning,omitempty"`
		}
		all := []jsonDiag{}
		exit := ExitOK
		for _, f := range files {
			pf, err := localrun.Locate(ctx, o.Dir, f, nil)
			if err != nil {
				fmt.Fprintf(o.Err, "baton validate: %v\n", err)
				return ExitUsage
			}
			pf.Libraries = libs
			if _, err := os.Stat(pf.Path()); err != nil {
				fmt.Fprintf(o.Err, "baton validate: %s: no such pipeline file\n", pf.Display(o.Dir))
				exit = ExitUsage
				continue
			}
			p, diags := pf.Load()
			var warnings pipeline.Diagnostics
			if p != nil {
				warnings = p.Warnings
			}
			if *strict {
				diags = append(diags, warnings...)
				slices.SortStableFunc(diags, func(a, b pipeline.Diagnostic) int {
					return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
				})
				warnings = nil
			}
			for _, d := range diags {
				all = append(all, jsonDiag{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Message: d.Message})
			}
			for _, d := range warnings {
				all = append(all, jsonDiag{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Message: d.Message, Warning: true})
			}
			if len(warnings) > 0 && !*asJSON {
				printPipelineWarnings(o, p.Warnings)
			}
			if len(diags) > 0 {
				if exit == ExitOK {
					exit = ExitFailure
				}
				if !*asJSON {
					fmt.Fprint(o.Err, diags.Format(o.color(o.Err)))
					fmt.Fprintf(o.Err, "%s: %d problem(s)\n", pf.Rel, len(diags))
				}
			} else if !*asJSON {
				if len(warnings) > 0 {
					fmt.Fprintf(o.Out, "%s: valid, %d warning(s)\n", pf.Rel, len(warnings))
				} else {
					fmt.Fprintf(o.Out, "%s: valid\n", pf.Rel)
				}
			}
		}
		if *asJSON {
			enc := json.NewEncoder(o.Out)
			enc.SetIndent("", "  ")
			enc.Encode(all)
		}
		return exit
	}
	return c
}
