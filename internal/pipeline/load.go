package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// Load reads file (a slash path relative to the root of fsys, e.g.
// ".semaphore/semaphore.yml"), parses it, then resolves task_file (parsed as
// a Task, with positions and diagnostics in that file) and commands_file
// (one command per non-empty line) relative to the directory of the
// pipeline file (a leading "/" means the root of fsys), and re-runs the
// checks that depend on them. A missing referenced file is a diagnostic at
// the reference.
func Load(fsys fs.FS, file string) (*Pipeline, Diagnostics) {
	return LoadWith(fsys, file, Options{})
}

// LoadWith is Load with options.
func LoadWith(fsys fs.FS, file string, opts Options) (*Pipeline, Diagnostics) {
	s := newSession(opts)
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		s.report(Pos{File: file, Line: 1, Col: 1}, "cannot read the pipeline file: "+readError(err))
		return nil, s.result()
	}
	p := s.parsePipeline(file, src)
	if p == nil {
		return nil, s.result()
	}
	r := &resolver{s: s, fsys: fsys, dir: path.Dir(file), files: map[string]fileContent{}, used: map[LibraryFile]bool{}}
	for _, b := range p.Blocks {
		if b.Task == nil && b.TaskFile != "" {
			b.Task = r.task(b.TaskFile, s.taskFiles[b])
		}
	}
	if a := p.AfterPipeline; a != nil && a.Task == nil && a.TaskFile != "" {
		a.Task = r.task(a.TaskFile, s.afterTaskFile)
	}
	for _, c := range pipelineCommands(p) {
		if c.File != "" {
			c.Commands = r.commands(c)
		}
	}
	p.LibraryFiles = r.libraryFiles
	s.validate(p)
	p.Warnings = s.sorted(s.warnings)
	return p, s.result()
}

// resolver reads the files a pipeline refers to.
type resolver struct {
	s     *session
	fsys  fs.FS
	dir   string                 // directory of the pipeline file
	files map[string]fileContent // commands files already read
	// used and libraryFiles are the library files named so far.
	used         map[LibraryFile]bool
	libraryFiles []LibraryFile
}

type fileContent struct {
	lines []string
	err   error
}

// path resolves a reference against the pipeline's directory; a leading
// "/" means the root of the file system.
func (r *resolver) path(ref string) (string, bool) {
	var p string
	if strings.HasPrefix(ref, "/") {
		p = path.Clean(strings.TrimLeft(ref, "/"))
	} else {
		p = path.Join(r.dir, ref)
	}
	return p, p != "." && fs.ValidPath(p)
}

// task reads and parses a task file; at is the position of the reference.
func (r *resolver) task(ref string, at Pos) *Task {
	p, ok := r.path(ref)
	if !ok {
		r.s.report(at, fmt.Sprintf("task_file %q points outside the repository", ref))
		return nil
	}
	src, err := fs.ReadFile(r.fsys, p)
	if err != nil {
		r.s.report(at, fmt.Sprintf("cannot read task_file %q (%s): %s", ref, p, readError(err)))
		return nil
	}
	return r.s.parseTask(p, src)
}

// commands reads a commands file: one command per non-blank line. A
// value "@NAME/path" names a file of the script library NAME.
func (r *resolver) commands(c *Commands) []string {
	if strings.HasPrefix(c.File, "@") {
		return r.libraryCommands(c)
	}
	p, ok := r.path(c.File)
	if !ok {
		r.s.report(c.Pos, fmt.Sprintf("commands_file %q points outside the repository", c.File))
		return nil
	}
	fc := r.read(r.fsys, p, p)
	if fc.err != nil {
		r.s.report(c.Pos, fmt.Sprintf("cannot read commands_file %q (%s): %s", c.File, p, readError(fc.err)))
		return nil
	}
	return slices.Clone(fc.lines)
}

// libraryCommands reads "@NAME/path" from the library NAME.
func (r *resolver) libraryCommands(c *Commands) []string {
	name, rel, _ := strings.Cut(strings.TrimPrefix(c.File, "@"), "/")
	p := path.Clean(rel)
	if name == "" || rel == "" || !fs.ValidPath(p) || p == "." {
		r.s.report(c.Pos, fmt.Sprintf("commands_file %q: a library file is written \"@NAME/path/to/file\"", c.File))
		return nil
	}
	lib, ok := r.s.opts.Libraries[name]
	if !ok {
		names := slices.Sorted(maps.Keys(r.s.opts.Libraries))
		msg := fmt.Sprintf("commands_file %q: there is no library %q; ", c.File, name)
		if len(names) == 0 {
			msg += "no library is available"
			if r.s.opts.LibraryHint != "" {
				msg += " (" + r.s.opts.LibraryHint + ")"
			}
		} else {
			msg += "the libraries are " + strings.Join(names, ", ")
		}
		r.s.report(c.Pos, msg)
		return nil
	}
	fc := r.read(lib, p, "\x00"+name+"/"+p) // never a repository path
	if fc.err != nil {
		r.s.report(c.Pos, fmt.Sprintf("cannot read commands_file %q (%s in library %s): %s", c.File, p, name, readError(fc.err)))
		return nil
	}
	if f := (LibraryFile{Library: name, Path: p}); !r.used[f] {
		r.used[f] = true
		r.libraryFiles = append(r.libraryFiles, f)
	}
	return slices.Clone(fc.lines)
}

// read reads a commands file of fsys once, remembered under key.
func (r *resolver) read(fsys fs.FS, p, key string) fileContent {
	fc, seen := r.files[key]
	if !seen {
		src, err := fs.ReadFile(fsys, p)
		fc = fileContent{err: err}
		if err == nil {
			for _, l := range strings.Split(string(src), "\n") {
				l = strings.TrimSuffix(l, "\r")
				if strings.TrimSpace(l) != "" {
					fc.lines = append(fc.lines, l)
				}
			}
		}
		r.files[key] = fc
	}
	return fc
}

// readError describes a file read error without repeating the path.
func readError(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "file not found"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// pipelineCommands lists every Commands value of p, in source order.
func pipelineCommands(p *Pipeline) []*Commands {
	var out []*Commands
	if g := p.GlobalJobConfig; g != nil {
		out = append(out, g.Prologue)
		out = append(out, epilogueCommands(g.Epilogue)...)
	}
	for _, b := range p.Blocks {
		out = append(out, taskCommands(b.Task)...)
	}
	if p.AfterPipeline != nil {
		out = append(out, taskCommands(p.AfterPipeline.Task)...)
	}
	return slices.DeleteFunc(out, func(c *Commands) bool { return c == nil })
}

func taskCommands(t *Task) []*Commands {
	if t == nil {
		return nil
	}
	out := []*Commands{t.Prologue}
	out = append(out, epilogueCommands(t.Epilogue)...)
	for _, j := range t.Jobs {
		out = append(out, j.Commands)
	}
	return out
}

func epilogueCommands(e *Epilogue) []*Commands {
	if e == nil {
		return nil
	}
	return []*Commands{e.Always, e.OnPass, e.OnFail}
}
