package plan

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/when"
)

// Input is everything Compile needs besides the pipeline itself.
type Input struct {
	Event Event
	// PipelineFile is the repo-relative path of the pipeline file, e.g.
	// ".semaphore/semaphore.yml"; it names the default queue and is the
	// file change_in tracks.
	PipelineFile string
	// Params are parameter values (promotion parameters, --set); they are
	// exported in every job and substituted into ${{parameters.X}} and
	// %{{parameters.X | ...}} templates.
	Params map[string]string
	// ChangedFiles lists the files changed in a git range such as
	// "main...abc123" (git diff --name-only). Nil makes change_in an error.
	ChangedFiles func(rng string) ([]string, error)
}

// DefaultPipelineTimeLimit bounds a pipeline that sets no
// execution_time_limit (docs/semaphore.md §1.12).
const DefaultPipelineTimeLimit = time.Hour

// Compile turns a valid pipeline into a job graph for one event. Problems
// that depend on the event (a change_in that cannot be evaluated, a bad
// template) are returned as positioned diagnostics.
func Compile(p *pipeline.Pipeline, in Input) (*Graph, error) {
	c := &compiler{in: in, changes: map[string][]string{}}
	g := c.compile(p)
	if len(c.diags) > 0 {
		sort.SliceStable(c.diags, func(i, j int) bool {
			a, b := c.diags[i].Pos, c.diags[j].Pos
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, c.diags
	}
	return g, nil
}

type compiler struct {
	in      Input
	diags   pipeline.Diagnostics
	changes map[string][]string // git range -> changed files
}

func (c *compiler) errorf(pos pipeline.Pos, format string, args ...any) {
	c.diags = append(c.diags, pipeline.Diagnostic{Pos: pos, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) compile(p *pipeline.Pipeline) *Graph {
	g := &Graph{
		Name:      c.subst(p.Pos, p.Name),
		File:      c.in.PipelineFile,
		TimeLimit: Duration(DefaultPipelineTimeLimit),
		Params:    c.in.Params,
	}
	if p.ExecutionTimeLimit != nil {
		g.TimeLimit = minutes(p.ExecutionTimeLimit)
	}
	g.FailFast = c.failFast(p.FailFast)
	if p.AutoCancel != nil {
		switch {
		case c.cond(p.AutoCancel.Running, "track"):
			g.AutoCancel = "stop"
		case c.cond(p.AutoCancel.Queued, "track"):
			g.AutoCancel = "cancel"
		}
	}
	g.Queue = c.queue(p.Queue)

	implicit := true
	for _, b := range p.Blocks {
		if b.HasDependencies {
			implicit = false
		}
	}
	for i, b := range p.Blocks {
		blk := &Block{Name: c.subst(b.Pos, b.Name), Dependencies: []string{}}
		if implicit && i > 0 {
			blk.Dependencies = []string{c.subst(p.Blocks[i-1].Pos, p.Blocks[i-1].Name)}
		}
		for _, d := range b.Dependencies {
			blk.Dependencies = append(blk.Dependencies, c.subst(d.Pos, d.Name))
		}
		if b.ExecutionTimeLimit != nil {
			blk.TimeLimit = minutes(b.ExecutionTimeLimit)
		}
		c.skip(b, blk)
		if b.Task != nil {
			blk.FailFast = c.failFast(b.Task.FailFast)
			blk.Jobs = c.jobs(p, b.Task, blk.Name, p.GlobalJobConfig)
		}
		g.Blocks = append(g.Blocks, blk)
	}
	if ap := p.AfterPipeline; ap != nil && ap.Task != nil {
		const name = "After pipeline"
		g.AfterPipeline = &Block{Name: name, Dependencies: []string{}, Jobs: c.jobs(p, ap.Task, name, nil)}
	}
	for _, pr := range p.Promotions {
		g.Promotions = append(g.Promotions, c.promotion(pr))
	}
	return g
}

func minutes(t *pipeline.TimeLimit) Duration { return Duration(time.Duration(t.Minutes) * time.Minute) }

func (c *compiler) failFast(ff *pipeline.FailFast) string {
	if ff == nil {
		return ""
	}
	switch {
	case c.cond(ff.Stop, "track"):
		return "stop"
	case c.cond(ff.Cancel, "track"):
		return "cancel"
	}
	return ""
}

func (c *compiler) queue(qs []*pipeline.Queue) Queue {
	def := Queue{
		Name:       c.in.Event.Label() + "-" + c.in.PipelineFile,
		Scope:      "project",
		Processing: "serialized",
	}
	for _, q := range qs {
		if q.When != nil && !c.cond(q.When, "track") {
			continue
		}
		out := def
		if q.Name != "" {
			out.Name = c.subst(q.Pos, q.Name)
		}
		if q.Scope != "" {
			out.Scope = q.Scope
		}
		if q.Processing != "" {
			out.Processing = q.Processing
		}
		return out
	}
	return def
}

// skip decides whether a block runs (docs/semaphore.md §1.4): skip.when true or run.when
// false skips it. Legacy filters are treated as label filters on the
// event's label.
func (c *compiler) skip(b *pipeline.Block, blk *Block) {
	switch {
	case b.Skip != nil:
		if c.cond(b.Skip, "track") {
			blk.Skipped = true
			blk.SkipReason = "skip.when is true: " + c.subst(b.Skip.Pos, b.Skip.Expr)
		}
	case b.Run != nil:
		if !c.cond(b.Run, "track") {
			blk.Skipped = true
			blk.SkipReason = "run.when is false: " + c.subst(b.Run.Pos, b.Run.Expr)
		}
	case len(b.Filters) > 0:
		label := c.in.Event.Label()
		for _, f := range b.Filters {
			if f.Label == label || (f.LabelPattern != "" && globMatch(f.LabelPattern, label)) {
				if f.Action == "skip" {
					blk.Skipped = true
					blk.SkipReason = "filtered out by label " + label
				}
				return
			}
		}
	}
}

func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// cond evaluates a condition for the current event; nil is false. Errors
// become diagnostics.
func (c *compiler) cond(cd *pipeline.Condition, pipelineFileDefault string) bool {
	if cd == nil {
		return false
	}
	v, err := c.eval(cd, pipelineFileDefault, "", "")
	if err != nil {
		c.errorf(cd.Pos, "%v", err)
		return false
	}
	return v
}

func (c *compiler) eval(cd *pipeline.Condition, pipelineFileDefault, result, reason string) (bool, error) {
	src := c.subst(cd.Pos, cd.Expr)
	e, err := when.Parse(src)
	if err != nil {
		return false, fmt.Errorf("invalid condition %q: %w", src, err)
	}
	input := c.input(result, reason)
	input.ChangeIn = func(call when.ChangeInCall) (bool, error) {
		return c.changeIn(call, pipelineFileDefault)
	}
	return when.Eval(e, input)
}

// input returns the condition keywords for the event: exactly one of
// branch, tag and pull_request is set (docs/semaphore.md §2.2).
func (c *compiler) input(result, reason string) when.Input {
	ev := c.in.Event
	input := when.Input{Result: result, ResultReason: reason}
	switch ev.RefType {
	case "tag":
		input.Tag = ev.Tag
	case "pull-request":
		if ev.PR != nil {
			input.PullRequest = ev.PR.Number
		}
	default:
		input.Branch = ev.Branch
	}
	return input
}

func (c *compiler) changeInContext(def string) when.ChangeInContext {
	ev := c.in.Event
	ctx := when.ChangeInContext{
		RefType:             ev.RefType,
		Branch:              ev.Branch,
		SHA:                 ev.SHA,
		CommitRange:         ev.CommitRange,
		PipelineFile:        c.in.PipelineFile,
		PipelineFileDefault: def,
	}
	if ev.PR != nil {
		ctx.PRBaseBranch = ev.Branch
		ctx.PRHeadBranch = ev.PR.HeadBranch
		ctx.PRFromFork = ev.PR.FromFork
	}
	return ctx
}

func (c *compiler) changeIn(call when.ChangeInCall, def string) (bool, error) {
	ctx := c.changeInContext(def)
	rng, fixed, result := when.Range(call, ctx)
	if fixed {
		return result, nil
	}
	files, ok := c.changes[rng]
	if !ok {
		if c.in.ChangedFiles == nil {
			return false, fmt.Errorf("change_in needs git history, which is not available here")
		}
		var err error
		files, err = c.in.ChangedFiles(rng)
		if err != nil {
			return false, fmt.Errorf("change_in: %w", err)
		}
		c.changes[rng] = files
	}
	return when.Match(call, ctx, files), nil
}

func (c *compiler) promotion(pr *pipeline.Promotion) *Promotion {
	out := &Promotion{
		Name:             c.subst(pr.Pos, pr.Name),
		PipelineFile:     resolveFile(c.in.PipelineFile, pr.PipelineFile),
		DeploymentTarget: c.subst(pr.Pos, pr.DeploymentTarget),
	}
	if pr.AutoPromote != nil {
		out.Condition = c.subst(pr.AutoPromote.Pos, pr.AutoPromote.Expr)
	}
	for _, r := range pr.AutoPromoteOn {
		out.Legacy = append(out.Legacy, LegacyRule{Result: r.Result, ResultReason: r.ResultReason, Branch: r.Branch})
	}
	for _, pa := range pr.Parameters {
		out.Parameters = append(out.Parameters, Parameter{Name: pa.Name, Description: pa.Description,
			Required: pa.Required, Options: pa.Options, DefaultValue: pa.DefaultValue})
	}
	return out
}

// resolveFile resolves a file named in a pipeline relative to the pipeline
// file's directory; a leading "/" means the repository root (docs/semaphore.md §1.1).
func resolveFile(pipelineFile, name string) string {
	if strings.HasPrefix(name, "/") {
		return strings.TrimPrefix(path.Clean(name), "/")
	}
	return path.Join(path.Dir(pipelineFile), name)
}
