package localrun

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/workspace"
)

// DefaultPipelineFile is the pipeline a repository runs by default.
const DefaultPipelineFile = ".semaphore/semaphore.yml"

// PipelineFile locates a pipeline file: its repository root (the git top
// level, else the directory above .semaphore/, else its own directory)
// and its slash path relative to that root.
type PipelineFile struct {
	Root string
	Rel  string
	// Libraries are the script libraries' directories by name, for
	// commands_file "@NAME/path".
	Libraries map[string]string
}

// Path is the file's path on disk.
func (pf PipelineFile) Path() string { return filepath.Join(pf.Root, filepath.FromSlash(pf.Rel)) }

// Display is the file's path as a user in dir would type it.
func (pf PipelineFile) Display(dir string) string {
	p := pf.Path()
	if rel, err := filepath.Rel(dir, p); err == nil {
		return rel
	}
	return p
}

// Load reads and validates the pipeline file.
func (pf PipelineFile) Load() (*pipeline.Pipeline, pipeline.Diagnostics) {
	opts := plan.LoadOptions()
	opts.LibraryHint = LibraryHint
	opts.Libraries = map[string]fs.FS{}
	for name, dir := range pf.Libraries {
		opts.Libraries[name] = os.DirFS(dir)
	}
	return pipeline.LoadWith(os.DirFS(pf.Root), pf.Rel, opts)
}

// LibraryHint ends the diagnostic of an unknown script library in a local
// check.
const LibraryHint = "give one to a local check with --library NAME=DIR"

// Locate finds the pipeline file arg names, relative to dir ("" names
// DefaultPipelineFile of the repository around dir). repo, when not nil,
// is the repository of dir, already opened by the caller.
func Locate(ctx context.Context, dir, arg string, repo *gitrepo.Repo) (PipelineFile, error) {
	if arg == "" {
		root := dir
		if repo != nil {
			root = repo.Root()
		} else if r, err := gitrepo.Open(ctx, dir); err == nil {
			root = r.Root()
		}
		return PipelineFile{Root: root, Rel: DefaultPipelineFile}, nil
	}
	abs := arg
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, arg)
	}
	abs, err := filepath.Abs(abs)
	if err != nil {
		return PipelineFile{}, err
	}
	fileDir := filepath.Dir(abs)
	root := fileDir
	if repo != nil && isWithin(abs, repo.Root()) {
		root = repo.Root()
	} else if r, err := gitrepo.Open(ctx, fileDir); err == nil {
		root = r.Root()
	} else if filepath.Base(fileDir) == ".semaphore" {
		root = filepath.Dir(fileDir)
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
		return PipelineFile{}, err
	}
	return PipelineFile{Root: root, Rel: filepath.ToSlash(rel)}, nil
}

// isWithin reports whether path p is inside directory dir.
func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// EventSpec is the git event a pipeline is planned for. The zero value is
// a push of the current branch; Tag excludes Branch and PR.
type EventSpec struct {
	// Branch is the pushed branch, or a pull request's base (default: the
	// current branch, or for a pull request the default branch).
	Branch string
	Tag    string
	// PR is the number of a pull request from the current branch.
	PR string
}

// Source is what Compile plans: a pipeline file of the git working tree
// around Dir, for an event.
type Source struct {
	// Dir is the working directory; File is relative to it.
	Dir string
	// File names the pipeline file; "" is DefaultPipelineFile.
	File   string
	Event  EventSpec
	Params map[string]string
	// SnapshotDir is where the snapshot of the working tree is kept.
	SnapshotDir string
	// Warn, when not nil, receives the warnings of each pipeline file
	// loaded (they never stop a run).
	Warn func(pipeline.Diagnostics)
	// Libraries are the script libraries' directories by name.
	Libraries map[string]string
}

// Plan is a pipeline of a working tree compiled for a local event: what
// `baton plan` prints and `baton run` runs. Close it when done.
type Plan struct {
	File  PipelineFile
	Event plan.Event
	Git   jobenv.Git
	Graph *plan.Graph
	// Input is what Graph was compiled with.
	Input plan.Input

	repo *gitrepo.Repo
	snap *workspace.Snapshot
	warn func(pipeline.Diagnostics)
}

// Close removes the working-tree snapshot.
func (p *Plan) Close() { p.snap.Cleanup() }

// NoWorkingTreeError is returned by Compile when Dir is not in a git
// working tree.
type NoWorkingTreeError struct{ Err error }

func (e *NoWorkingTreeError) Error() string { return e.Err.Error() }
func (e *NoWorkingTreeError) Unwrap() error { return e.Err }

// InvalidError is a pipeline file with problems; it unwraps to their
// pipeline.Diagnostics.
type InvalidError struct {
	File        string
	Diagnostics pipeline.Diagnostics
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s is invalid: %d problem(s)", e.File, len(e.Diagnostics))
}
func (e *InvalidError) Unwrap() error { return e.Diagnostics }

// Compile locates, loads and compiles the pipeline file of src for its
// event, with a snapshot of the working tree (uncommitted changes
// included) that change_in compares against and that jobs get a copy of.
// An invalid file is an *InvalidError; a plan that fails on a condition
// wraps its pipeline.Diagnostics.
func Compile(ctx context.Context, src Source) (*Plan, error) {
	repo, err := gitrepo.Open(ctx, src.Dir)
	if err != nil {
		return nil, &NoWorkingTreeError{err}
	}
	pf, err := Locate(ctx, src.Dir, src.File, repo)
	if err != nil {
		return nil, err
	}
	pf.Libraries = src.Libraries
	p, err := loadFile(pf, pf.Display(src.Dir), src.Warn)
	if err != nil {
		return nil, err
	}
	snap, facts, err := takeSnapshot(ctx, repo, src.SnapshotDir)
	if err != nil {
		return nil, fmt.Errorf("snapshot of the working tree: %w", err)
	}
	ev, g := buildEvent(repo, snap, facts, src.Event)
	in := plan.Input{
		Event:        ev,
		PipelineFile: pf.Rel,
		Params:       src.Params,
		ChangedFiles: func(rng string) ([]string, error) { return snap.ChangedFiles(ctx, rng) },
	}
	graph, err := plan.Compile(p, in)
	if err != nil {
		snap.Cleanup()
		return nil, fmt.Errorf("cannot plan %s: %w", pf.Rel, err)
	}
	return &Plan{File: pf, Event: ev, Git: g, Graph: graph, Input: in, repo: repo, snap: snap, warn: src.Warn}, nil
}

// CompileFile loads and compiles another pipeline file of the same
// working tree (a promotion's pipeline_file, repository-relative) for the
// same event with params.
func (p *Plan) CompileFile(rel string, params map[string]string) (*plan.Graph, plan.Input, error) {
	pf := PipelineFile{Root: p.File.Root, Rel: rel, Libraries: p.File.Libraries}
	in := p.Input
	in.PipelineFile, in.Params = rel, params
	pl, err := loadFile(pf, rel, p.warn)
	if err != nil {
		return nil, in, err
	}
	g, err := plan.Compile(pl, in)
	if err != nil {
		return nil, in, fmt.Errorf("cannot plan %s: %w", rel, err)
	}
	return g, in, nil
}

// loadFile loads pf, named display in errors, and passes its warnings to
// warn.
func loadFile(pf PipelineFile, display string, warn func(pipeline.Diagnostics)) (*pipeline.Pipeline, error) {
	if _, err := os.Stat(pf.Path()); err != nil {
		return nil, fmt.Errorf("%s: no such pipeline file", display)
	}
	p, diags := pf.Load()
	if len(diags) > 0 {
		return nil, &InvalidError{File: pf.Rel, Diagnostics: diags}
	}
	if warn != nil && len(p.Warnings) > 0 {
		warn(p.Warnings)
	}
	return p, nil
}

// repoFacts are what a local event needs to know about the repository
// besides the snapshot.
type repoFacts struct {
	defaultBranch string
	author        string
	committer     string
	upstream      string // sha of the branch's upstream, "" when none
}

// takeSnapshot records the working tree and, at the same time, reads the
// repository facts the event needs: each is a git process, and running
// them side by side keeps start-up short.
func takeSnapshot(ctx context.Context, repo *gitrepo.Repo, dir string) (*workspace.Snapshot, repoFacts, error) {
	var facts repoFacts
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		facts.defaultBranch, _ = repo.DefaultBranch(ctx)
	}()
	go func() {
		defer wg.Done()
		if c, err := repo.Commit(ctx, "HEAD"); err == nil {
			facts.author, facts.committer = c.AuthorName, c.CommitterName
		}
	}()
	go func() {
		defer wg.Done()
		facts.upstream, _ = gitrepo.Run(ctx, repo.Root(), nil, "rev-parse", "--verify", "--quiet", "@{upstream}")
	}()
	snap, err := workspace.Take(ctx, repo, dir)
	wg.Wait()
	return snap, facts, err
}

// buildEvent derives the event and the jobs' git facts from the
// repository and spec.
func buildEvent(repo *gitrepo.Repo, snap *workspace.Snapshot, facts repoFacts, spec EventSpec) (plan.Event, jobenv.Git) {
	current := snap.Branch()
	def := facts.defaultBranch
	if def == "" {
		def = current
	}
	g := jobenv.Git{
		Provider: "git",
		URL:      repo.RemoteURL(),
		RepoName: repo.RepoName(),
		Slug:     repo.Slug(),
		SHA:      snap.SHA(),

		CommitAuthor: facts.author,
		Committer:    facts.committer,
	}
	ev := plan.Event{SHA: snap.SHA(), DefaultBranch: def}
	switch {
	case spec.Tag != "":
		ev.RefType, ev.Tag = "tag", spec.Tag
	case spec.PR != "":
		base := spec.Branch
		if base == "" {
			base = def
		}
		head := current
		if head == "" {
			head = "HEAD"
		}
		ev.RefType, ev.Branch = "pull-request", base
		ev.PR = &plan.PullRequest{Number: spec.PR, Name: "Local pull request " + spec.PR, HeadBranch: head, HeadSHA: snap.SHA(), HeadSlug: g.Slug}
		g.PRNumber, g.PRName, g.PRBranch, g.PRSHA, g.PRSlug = spec.PR, ev.PR.Name, head, snap.SHA(), g.Slug
	default:
		b := spec.Branch
		if b == "" {
			b = current
		}
		if b == "" {
			b = def
		}
		ev.RefType, ev.Branch = "branch", b
		if facts.upstream != "" && facts.upstream != snap.SHA() {
			// The local equivalent of a push's range: upstream to here.
			ev.CommitRange = facts.upstream + "..." + snap.SHA()
		}
	}
	g.RefType, g.Branch, g.Tag, g.CommitRange = ev.RefType, ev.Branch, ev.Tag, ev.CommitRange
	return ev, g
}

// Materialize writes the working tree as it was snapshotted into dir.
func (p *Plan) Materialize(ctx context.Context, dir string) error {
	return p.snap.Materialize(ctx, dir)
}
