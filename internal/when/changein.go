package when

import (
	"path"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ChangeInCall is one change_in(paths, options) call with its arguments
// decoded and validated. Calls that come from Parse have every default
// filled in (see ChangeInOptions).
type ChangeInCall struct {
	Paths   []string
	Options ChangeInOptions
}

// ChangeInOptions are change_in's options (docs/semaphore.md §2.3).
type ChangeInOptions struct {
	DefaultBranch string // name of trunk; default "master"
	OnTags        bool   // result on tag builds, where nothing is diffed; default true
	// PipelineFile is "track" (a change to the current pipeline file makes
	// change_in true), "ignore", or "" when the call leaves it unset: the
	// caller picks the default by context (ChangeInContext.PipelineFileDefault).
	PipelineFile string
	Exclude      []string // changed files matching any of these are ignored first
	// Include, when non-empty, ignores changed files matching none of these
	// patterns (after Exclude). Undocumented upstream but implemented by
	// semaphoreci/spc and used as change_in('/', {include: [...]}).
	Include      []string
	BranchRange  string // default "$SEMAPHORE_MERGE_BASE...$SEMAPHORE_GIT_SHA"
	DefaultRange string // default "$SEMAPHORE_GIT_COMMIT_RANGE"
}

// Option values and defaults.
const (
	PipelineFileTrack   = "track"
	PipelineFileIgnore  = "ignore"
	DefaultBranchRange  = "$SEMAPHORE_MERGE_BASE...$SEMAPHORE_GIT_SHA"
	DefaultDefaultRange = "$SEMAPHORE_GIT_COMMIT_RANGE"
	defaultTrunk        = "master"
)

// DefaultChangeInOptions returns the options of a call that sets none.
func DefaultChangeInOptions() ChangeInOptions {
	return ChangeInOptions{
		DefaultBranch: defaultTrunk,
		OnTags:        true,
		BranchRange:   DefaultBranchRange,
		DefaultRange:  DefaultDefaultRange,
	}
}

// withDefaults fills the string options left empty. OnTags has no "unset"
// value, so it is taken as it is.
func (o ChangeInOptions) withDefaults() ChangeInOptions {
	if o.DefaultBranch == "" {
		o.DefaultBranch = defaultTrunk
	}
	if o.BranchRange == "" {
		o.BranchRange = DefaultBranchRange
	}
	if o.DefaultRange == "" {
		o.DefaultRange = DefaultDefaultRange
	}
	return o
}

func (c ChangeInCall) clone() ChangeInCall {
	c.Paths = slices.Clone(c.Paths)
	c.Options.Exclude = slices.Clone(c.Options.Exclude)
	c.Options.Include = slices.Clone(c.Options.Include)
	return c
}

// String renders the call with every option spelled out, in the condition
// language; equal calls render equally, so it serves as a cache key.
func (c ChangeInCall) String() string {
	o := c.Options
	quoteList := func(l []string) string {
		q := make([]string, len(l))
		for i, s := range l {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	var opts []string
	add := func(key, val string) {
		if val != "" {
			opts = append(opts, key+": "+quote(val))
		}
	}
	add("branch_range", o.BranchRange)
	add("default_branch", o.DefaultBranch)
	add("default_range", o.DefaultRange)
	if len(o.Exclude) > 0 {
		opts = append(opts, "exclude: "+quoteList(o.Exclude))
	}
	if len(o.Include) > 0 {
		opts = append(opts, "include: "+quoteList(o.Include))
	}
	if o.OnTags {
		opts = append(opts, "on_tags: true")
	} else {
		opts = append(opts, "on_tags: false")
	}
	add("pipeline_file", o.PipelineFile)
	return "change_in(" + quoteList(c.Paths) + ", {" + strings.Join(opts, ", ") + "})"
}

// Git reference types, as in SEMAPHORE_GIT_REF_TYPE.
const (
	RefTypeBranch      = "branch"
	RefTypeTag         = "tag"
	RefTypePullRequest = "pull-request"
)

// ChangeInContext describes the build a change_in call is evaluated for.
type ChangeInContext struct {
	RefType                    string // RefTypeBranch, RefTypeTag or RefTypePullRequest; anything else counts as a branch
	Branch                     string // pushed branch (branch builds)
	PRBaseBranch, PRHeadBranch string
	PRFromFork                 bool
	SHA                        string
	CommitRange                string // SEMAPHORE_GIT_COMMIT_RANGE, may be empty
	// PipelineFile is the repository-relative path of the current pipeline
	// file, e.g. ".semaphore/semaphore.yml". Relative change_in paths are
	// relative to its directory.
	PipelineFile string
	// PipelineFileDefault is "track" or "ignore": used when the call leaves
	// pipeline_file unset. Semaphore tracks for blocks, queue, priority,
	// fail_fast and auto_cancel, and ignores for promotions. Empty means
	// "track".
	PipelineFileDefault string
}

// Range returns the git diff range to compute for the call, or
// ("", true, result) when no diff is needed: on tags change_in is on_tags.
//
//   - pull request from the same repository: <base>...<head>;
//   - pull request from a fork: default_range;
//   - push to the default branch: default_range;
//   - push to another branch: branch_range.
//
// In the ranges $SEMAPHORE_MERGE_BASE becomes the default branch,
// $SEMAPHORE_GIT_SHA the commit and $SEMAPHORE_GIT_COMMIT_RANGE the pushed
// range; a range that comes out empty (no commit range known, e.g. the first
// push of a branch) falls back to <default_branch>...<sha>.
func Range(c ChangeInCall, ctx ChangeInContext) (rng string, fixed bool, fixedResult bool) {
	o := c.Options.withDefaults()
	switch ctx.RefType {
	case RefTypeTag:
		return "", true, o.OnTags
	case RefTypePullRequest:
		if !ctx.PRFromFork {
			return ctx.PRBaseBranch + "..." + ctx.PRHeadBranch, false, false
		}
		return resolveRange(o.DefaultRange, o, ctx), false, false
	}
	if ctx.Branch == o.DefaultBranch {
		return resolveRange(o.DefaultRange, o, ctx), false, false
	}
	return resolveRange(o.BranchRange, o, ctx), false, false
}

func resolveRange(r string, o ChangeInOptions, ctx ChangeInContext) string {
	r = strings.NewReplacer(
		"$SEMAPHORE_GIT_COMMIT_RANGE", ctx.CommitRange,
		"$SEMAPHORE_MERGE_BASE", o.DefaultBranch,
		"$SEMAPHORE_GIT_SHA", ctx.SHA,
	).Replace(r)
	if strings.TrimSpace(r) == "" {
		return o.DefaultBranch + "..." + ctx.SHA
	}
	return r
}

// Match reports whether any changed file (repository-relative, without a
// leading slash, unquoted, as `git diff --name-only -z` prints it) makes the
// call true.
// For each file in turn: a file matching an exclude pattern is skipped; with
// include patterns, a file matching none is skipped; then the file matches
// if it is the tracked pipeline file or matches one of the paths.
//
// Patterns starting with '/' are relative to the repository root, others to
// the pipeline file's directory; they are cleaned ("../backend" from
// .semaphore/ is /backend), keeping a trailing slash. A pattern without '*'
// is a plain string prefix of "/"+file ('/lib' matches /library/x; '/lib/'
// does not); one with '*' is a doublestar glob matched against the whole
// "/"+file.
func Match(c ChangeInCall, ctx ChangeInContext, changed []string) bool {
	dir := path.Dir(path.Clean("/" + ctx.PipelineFile))
	paths := resolvePatterns(dir, c.Paths)
	excludes := resolvePatterns(dir, c.Options.Exclude)
	includes := resolvePatterns(dir, c.Options.Include)

	track := c.Options.PipelineFile == PipelineFileTrack ||
		c.Options.PipelineFile == "" && ctx.PipelineFileDefault != PipelineFileIgnore
	pipelineFile := ""
	if track && ctx.PipelineFile != "" {
		pipelineFile = path.Clean("/" + ctx.PipelineFile)
	}

	for _, f := range changed {
		if f == "" {
			continue
		}
		file := path.Clean("/" + f)
		if matchAny(excludes, file) {
			continue
		}
		if len(includes) > 0 && !matchAny(includes, file) {
			continue
		}
		if file == pipelineFile || matchAny(paths, file) {
			return true
		}
	}
	return false
}

// resolvePatterns makes each pattern absolute: a leading '/' means the
// repository root, anything else is relative to dir.
func resolvePatterns(dir string, patterns []string) []string {
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		var abs string
		if strings.HasPrefix(p, "/") {
			abs = path.Clean(p)
		} else {
			abs = path.Join(dir, p)
		}
		if strings.HasSuffix(p, "/") && !strings.HasSuffix(abs, "/") {
			abs += "/"
		}
		out = append(out, abs)
	}
	return out
}

func matchAny(patterns []string, file string) bool {
	for _, p := range patterns {
		if matchPattern(p, file) {
			return true
		}
	}
	return false
}

func matchPattern(pattern, file string) bool {
	if !strings.Contains(pattern, "*") {
		return strings.HasPrefix(file, pattern)
	}
	ok, err := doublestar.Match(pattern, file)
	return err == nil && ok
}

// changeInOptionNames lists the keys change_in's options map accepts.
var changeInOptionNames = []string{"branch_range", "default_branch", "default_range", "exclude", "include", "on_tags", "pipeline_file"}

// decodeChangeIn validates a change_in call's literal arguments and decodes
// them, with defaults filled in. Errors point at the offending argument.
func decodeChangeIn(c *call) (*ChangeInCall, error) {
	switch {
	case len(c.args) == 0:
		return nil, errAtPos(c.pos, "change_in needs the paths to watch, like change_in('/lib') or change_in(['/lib', '/app'])")
	case len(c.args) > 2:
		return nil, errAtPos(litPos(c.args[2]), "change_in takes at most 2 arguments (the paths and an options map), got %d", len(c.args))
	}
	paths, err := patternList(c.args[0], "the first argument of change_in")
	if err != nil {
		return nil, err
	}
	ci := &ChangeInCall{Paths: paths, Options: DefaultChangeInOptions()}
	if len(c.args) == 1 {
		return ci, nil
	}
	m, ok := c.args[1].(*mapLit)
	if !ok {
		return nil, errAtPos(litPos(c.args[1]), "the second argument of change_in must be an options map, like {default_branch: 'main'}, not %s", litKind(c.args[1]))
	}
	o := &ci.Options
	for _, ent := range m.entries {
		switch ent.key {
		case "default_branch":
			o.DefaultBranch, err = stringOption(ent)
		case "branch_range":
			o.BranchRange, err = stringOption(ent)
		case "default_range":
			o.DefaultRange, err = stringOption(ent)
		case "pipeline_file":
			o.PipelineFile, err = stringOption(ent)
			if err == nil && o.PipelineFile != PipelineFileTrack && o.PipelineFile != PipelineFileIgnore {
				err = errAtPos(litPos(ent.val), "pipeline_file must be 'track' or 'ignore', not %s", quote(o.PipelineFile))
			}
		case "on_tags":
			switch v := ent.val.(type) {
			case *boolLit:
				o.OnTags = v.b
			case *strLit:
				err = errAtPos(v.pos, "on_tags must be true or false, without quotes")
			default:
				err = errAtPos(litPos(v), "on_tags must be true or false, not %s", litKind(v))
			}
		case "exclude":
			o.Exclude, err = patternList(ent.val, "exclude")
		case "include":
			o.Include, err = patternList(ent.val, "include")
		default:
			if s := suggest(ent.key, changeInOptionNames); s != "" {
				return nil, errAtPos(ent.keyPos, "unknown change_in option %s (did you mean '%s'?)", quote(ent.key), s)
			}
			return nil, errAtPos(ent.keyPos, "unknown change_in option %s; the options are %s", quote(ent.key), strings.Join(changeInOptionNames, ", "))
		}
		if err != nil {
			return nil, err
		}
	}
	return ci, nil
}

func stringOption(ent mapEntry) (string, error) {
	if s, ok := ent.val.(*strLit); ok {
		return s.s, nil
	}
	return "", errAtPos(litPos(ent.val), "%s must be a quoted string, not %s", ent.key, litKind(ent.val))
}

// patternList decodes a path pattern or a list of them, checking that glob
// patterns are well-formed.
func patternList(e Expr, what string) ([]string, error) {
	var lits []*strLit
	switch v := e.(type) {
	case *strLit:
		lits = []*strLit{v}
	case *listLit:
		for _, el := range v.elems {
			s, ok := el.(*strLit)
			if !ok {
				return nil, errAtPos(litPos(el), "%s must be a list of quoted paths; found %s", what, litKind(el))
			}
			lits = append(lits, s)
		}
	default:
		return nil, errAtPos(litPos(e), "%s must be a quoted path or a list of them, like '/lib' or ['/lib', '/app'], not %s", what, litKind(e))
	}
	out := make([]string, 0, len(lits))
	for _, s := range lits {
		if strings.Contains(s.s, "*") && !doublestar.ValidatePattern(s.s) {
			return nil, errAtPos(s.pos, "invalid glob pattern %s", quote(s.s))
		}
		out = append(out, s.s)
	}
	return out, nil
}

// litPos returns the offset of a literal node.
func litPos(e Expr) int {
	switch v := e.(type) {
	case *strLit:
		return v.pos
	case *boolLit:
		return v.pos
	case *intLit:
		return v.pos
	case *floatLit:
		return v.pos
	case *listLit:
		return v.pos
	case *mapLit:
		return v.pos
	}
	return 0
}

// litKind names the type of a literal node for error messages.
func litKind(e Expr) string {
	switch e.(type) {
	case *strLit:
		return "a string"
	case *boolLit:
		return "a boolean"
	case *intLit, *floatLit:
		return "a number"
	case *listLit:
		return "a list"
	case *mapLit:
		return "a map"
	}
	return "a value"
}
