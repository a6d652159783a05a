package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
)

// DefaultPipelineFile is the pipeline a repository runs by default.
const DefaultPipelineFile = ".semaphore/semaphore.yml"

// pipelineFile locates a pipeline file: its repository root (the git top
// level, else the directory above .semaphore/, else its own directory) and
// its slash path relative to that root.
type pipelineFile struct {
	Root string
	Rel  string
}

// repo, when not nil, is the repository of the working directory, already
// opened by the caller.
func locate(ctx context.Context, o *IO, arg string, repo *gitrepo.Repo) (pipelineFile, error) {
	if arg == "" {
		root := o.Dir
		if repo != nil {
			root = repo.Root()
		} else if r, err := gitrepo.Open(ctx, o.Dir); err == nil {
			root = r.Root()
		}
		return pipelineFile{Root: root, Rel: DefaultPipelineFile}, nil
	}
	abs := arg
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(o.Dir, arg)
	}
	abs, err := filepath.Abs(abs)
	if err != nil {
		return pipelineFile{}, err
	}
	dir := filepath.Dir(abs)
	root := dir
	if repo != nil && isWithin(abs, repo.Root()) {
		root = repo.Root()
	} else if r, err := gitrepo.Open(ctx, dir); err == nil {
		root = r.Root()
	} else if filepath.Base(dir) == ".semaphore" {
		root = filepath.Dir(dir)
	}
	// Resolve symlinks on both sides so the relative path is right on
	// systems where the temp dir is a link.
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	if a, err := filepath.EvalSymlinks(abs); err == nil {
		abs = a
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return pipelineFile{}, err
	}
	return pipelineFile{Root: root, Rel: filepath.ToSlash(rel)}, nil
}

// isWithin reports whether path p is inside directory dir.
func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// load reads and validates a pipeline file.
func load(pf pipelineFile) (*pipeline.Pipeline, pipeline.Diagnostics) {
	return pipeline.LoadWith(os.DirFS(pf.Root), pf.Rel, plan.LoadOptions())
}

func validateCommand() *command {
	c := &command{
		name:    "validate",
		summary: "check pipeline files for errors",
		usage:   "[--json] [--strict] [FILE...]",
		help: `Parses each pipeline file (default .semaphore/semaphore.yml in the repository)
against Semaphore's v1.0 schema and semantic rules, and reports every problem
as file:line:col: message with a source excerpt. Files named by task_file and
commands_file are read and checked too.

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
		files, code, stop := parse(fs, args)
		if stop {
			return code
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
			pf, err := locate(ctx, o, f, nil)
			if err != nil {
				fmt.Fprintf(o.Err, "baton validate: %v\n", err)
				return ExitUsage
			}
			if _, err := os.Stat(filepath.Join(pf.Root, filepath.FromSlash(pf.Rel))); err != nil {
				fmt.Fprintf(o.Err, "baton validate: %s: no such pipeline file\n", displayPath(o, pf))
				exit = ExitUsage
				continue
			}
			p, diags := load(pf)
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
				printPipelineWarnings(o, p)
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

func displayPath(o *IO, pf pipelineFile) string {
	p := filepath.Join(pf.Root, filepath.FromSlash(pf.Rel))
	if rel, err := filepath.Rel(o.Dir, p); err == nil {
		return rel
	}
	return p
}
