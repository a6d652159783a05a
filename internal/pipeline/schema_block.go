package pipeline

import (
	"math"

	yaml "go.yaml.in/yaml/v3"
)

// Schema limits (plumber/spec/priv/v1.0.yml and the matrix validator).
const (
	maxBlocks      = 300
	maxJobs        = 50
	maxParallelism = 50
	maxMatrix      = 100
)

// block reads one of blocks. namePos is the position of its name value, or
// the zero Pos when it has none.
func (d *decoder) block(n *yaml.Node, index int) (b *Block, namePos Pos) {
	what := label("block", index, d.peekName(n))
	o := d.object(n, what, "block", "name", "dependencies", "task", "task_file",
		"skip", "run", "execution_time_limit", "partial_rerun", "filters")
	if o == nil {
		return nil, Pos{}
	}
	b = &Block{Pos: d.pos(o.node)}
	if v := o.get("name"); v != nil {
		if name, ok := d.nonEmptyStr(v, "block name"); ok {
			b.Name, namePos = name, d.pos(v)
		}
	}
	if o.has("dependencies") {
		b.HasDependencies = true
		b.Dependencies = []*Dependency{}
		items, _ := d.list(o.get("dependencies"), "dependencies")
		for _, it := range items {
			if name, ok := d.str(it, "dependency"); ok {
				b.Dependencies = append(b.Dependencies, &Dependency{Pos: d.pos(it), Name: name})
			}
		}
	}
	o.exactlyOne("task", "task_file")
	if v := o.get("task"); v != nil {
		b.Task = d.task(v, "task of "+what)
	} else if v := o.get("task_file"); v != nil {
		if f, ok := d.nonEmptyStr(v, "task_file"); ok {
			b.TaskFile = f
			d.s.taskFiles[b] = d.pos(v)
		}
	}
	o.atMostOne("skip", "run", "filters")
	b.Skip = d.whenObject(o.get("skip"), "skip", false)
	b.Run = d.whenObject(o.get("run"), "run", false)
	b.ExecutionTimeLimit = d.timeLimit(o.get("execution_time_limit"))
	if v := o.get("partial_rerun"); v != nil {
		b.PartialRerun, _ = d.enum(v, "partial_rerun", "jobs", "block")
	}
	b.Filters = d.filters(o.get("filters"))
	return b, namePos
}

// filters reads a block's legacy filters list.
func (d *decoder) filters(n *yaml.Node) []*Filter {
	items, _ := d.list(n, "filters")
	var out []*Filter
	for _, it := range items {
		o := d.object(it, "filter", "filter", "label", "label_pattern", "action")
		if o == nil {
			continue
		}
		o.exactlyOne("label", "label_pattern")
		f := &Filter{Pos: d.pos(o.node)}
		if v := o.get("label"); v != nil {
			f.Label, _ = d.nonEmptyStr(v, "label")
		}
		if v := o.get("label_pattern"); v != nil {
			f.LabelPattern, _ = d.nonEmptyStr(v, "label_pattern")
		}
		if v := o.get("action"); v != nil {
			f.Action, _ = d.enum(v, "action", "skip", "execute")
		}
		out = append(out, f)
	}
	return out
}

// task reads a Task (a block's task, after_pipeline's, or a task file's
// content), names its nameless jobs and checks its job names and matrices.
func (d *decoder) task(n *yaml.Node, what string) *Task {
	o := d.object(n, what, "task", "jobs", "agent", "boosters", "prologue",
		"secrets", "env_vars", "epilogue", "fail_fast")
	if o == nil {
		return nil
	}
	if !o.has("jobs") && !o.has("boosters") && !o.suggested["jobs"] {
		d.errorf(o.node, "%s: missing \"jobs\"", what)
	}
	t := &Task{Pos: d.pos(o.node)}
	var jobNames, boosterNames []Pos
	if v := o.get("jobs"); v != nil {
		items, _ := d.sized(v, "jobs", 1, maxJobs)
		for i, it := range items {
			if j, namePos := d.job(it, i); j != nil {
				t.Jobs = append(t.Jobs, j)
				jobNames = append(jobNames, namePos)
			}
		}
	}
	t.Agent = d.agent(o.get("agent"))
	t.Boosters, boosterNames = d.boosters(o.get("boosters"))
	t.Prologue = d.commands(o.get("prologue"), "prologue", "prologue")
	t.Secrets = d.secrets(o.get("secrets"))
	t.EnvVars = d.envVars(o.get("env_vars"))
	t.Epilogue = d.epilogue(o.get("epilogue"))
	t.FailFast = d.failFast(o.get("fail_fast"))
	d.s.nameJobs(t, jobNames, boosterNames)
	d.s.checkMatrixTotal(t)
	return t
}

// job reads one job definition. namePos is the position of its name value,
// or the zero Pos when it has none.
func (d *decoder) job(n *yaml.Node, index int) (j *Job, namePos Pos) {
	what := label("job", index, d.peekName(n))
	o := d.object(n, what, "job", "name", "commands", "commands_file", "env_vars",
		"matrix", "parallelism", "execution_time_limit", "priority")
	if o == nil {
		return nil, Pos{}
	}
	j = &Job{Pos: d.pos(o.node)}
	if v := o.get("name"); v != nil {
		if name, ok := d.nonEmptyStr(v, "job name"); ok {
			j.Name, namePos = name, d.pos(v)
		}
	}
	o.exactlyOne("commands", "commands_file")
	j.Commands = d.commandsOf(o)
	j.EnvVars = d.envVars(o.get("env_vars"))
	j.ExecutionTimeLimit = d.timeLimit(o.get("execution_time_limit"))
	j.Priority = d.priority(o.get("priority"))
	o.atMostOne("matrix", "parallelism")
	if v := o.get("parallelism"); v != nil {
		d.parallelism(v, j)
	}
	if v := o.get("matrix"); v != nil {
		j.Matrix = d.matrix(v, what)
	}
	return j, namePos
}

// parallelism reads an integer from 1 to 50 or a %{{...}} template.
func (d *decoder) parallelism(n *yaml.Node, j *Job) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && isTemplate(n.Value) {
		j.ParallelismTemplate = n.Value
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		d.errorf(n, "parallelism must be a whole number between 1 and %d (or a %%{{...}} template), not the string %q", maxParallelism, n.Value)
		return
	}
	j.Parallelism, _ = d.integer(n, "parallelism", 1, maxParallelism)
}

// matrix reads a job matrix and checks its axes and size.
func (d *decoder) matrix(n *yaml.Node, job string) []*MatrixAxis {
	items, ok := d.list(n, "matrix")
	if !ok {
		return nil
	}
	var axes []*MatrixAxis
	seen := map[string]Pos{}
	size := 1
	for _, it := range items {
		o := d.object(it, "matrix entry", "matrix", "env_var", "values")
		if o == nil {
			continue
		}
		o.require("env_var", "values")
		ax := &MatrixAxis{Pos: d.pos(o.node)}
		if v := o.get("env_var"); v != nil {
			if name, ok := d.nonEmptyStr(v, "env_var"); ok {
				if first, dup := seen[name]; dup {
					d.errorf(v, "env_var %q appears twice in the matrix of %s (first on line %d); merge the values into one entry", name, job, first.Line)
				} else {
					seen[name] = d.pos(v)
				}
				ax.EnvVar = name
			}
		}
		ax.Values, ax.ValuesTemplate = d.matrixValues(o.get("values"))
		if ax.Values != nil {
			size = min(size*len(ax.Values), maxMatrix+1)
		}
		axes = append(axes, ax)
	}
	if size > maxMatrix {
		d.errorf(n, "the matrix of %s expands to more than %d jobs; the product of its value counts may be at most %d", job, maxMatrix, maxMatrix)
	}
	return axes
}

// matrixValues reads a matrix axis' values: a non-empty list of strings or a
// %{{...}} template string.
func (d *decoder) matrixValues(n *yaml.Node) (values []string, template string) {
	if n == nil {
		return nil, ""
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if isTemplate(n.Value) {
			return nil, n.Value
		}
		d.errorf(n, "values must be a list of strings; a single string is only allowed as a %%{{...}} template; write [%q]", n.Value)
		return nil, ""
	}
	items, ok := d.list(n, "values")
	if !ok {
		return nil, ""
	}
	if len(items) == 0 {
		d.errorf(n, "values must not be empty; a matrix axis needs at least one value")
		return nil, ""
	}
	values = make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := d.str(it, "matrix value"); ok {
			values = append(values, s)
		}
	}
	return values, ""
}

// boosters reads a task's legacy boosters list.
func (d *decoder) boosters(n *yaml.Node) ([]*Booster, []Pos) {
	items, _ := d.list(n, "boosters")
	var out []*Booster
	var names []Pos
	for i, it := range items {
		o := d.object(it, label("booster", i, d.peekName(it)), "booster", "name", "type", "job_count")
		if o == nil {
			continue
		}
		o.require("type", "job_count")
		b := &Booster{Pos: d.pos(o.node)}
		var namePos Pos
		if v := o.get("name"); v != nil {
			if name, ok := d.str(v, "booster name"); ok && name != "" {
				b.Name, namePos = name, d.pos(v)
			}
		}
		if v := o.get("type"); v != nil {
			b.Type, _ = d.enum(v, "booster type", "rspec", "cucumber")
		}
		if v := o.get("job_count"); v != nil {
			b.JobCount, _ = d.integer(v, "job_count", math.MinInt, math.MaxInt)
		}
		out = append(out, b)
		names = append(names, namePos)
	}
	return out, names
}
