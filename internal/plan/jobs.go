package plan

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/pipeline"
)

// Default job priorities (docs/semaphore.md §3.1).
const (
	priorityDefault       = 50
	priorityDefaultBranch = 60
)

// jobs expands a task's jobs, merging the global job config (nil for
// after_pipeline, which does not get it; docs/semaphore.md §1.11).
func (c *compiler) jobs(p *pipeline.Pipeline, t *pipeline.Task, block string, gjc *pipeline.GlobalJobConfig) []*Job {
	agent := c.agent(p.Agent)
	if t.Agent != nil {
		agent = c.agent(t.Agent) // replaces, never merges (docs/semaphore.md §1.3)
	}
	// Shared parts, in Semaphore's merge order (docs/semaphore.md §1.7).
	var prologue, always, onPass, onFail []string
	var env []jobspec.Var
	var secrets []string
	var gjcPriority []*pipeline.PriorityRule
	env = append(env, c.paramEnv()...)
	if gjc != nil {
		prologue = append(prologue, commands(gjc.Prologue)...)
		env = append(env, c.envVars(gjc.EnvVars)...)
		secrets = append(secrets, c.secretNames(gjc.Secrets)...)
		gjcPriority = gjc.Priority
	}
	prologue = append(prologue, commands(t.Prologue)...)
	env = append(env, c.envVars(t.EnvVars)...)
	secrets = append(secrets, c.secretNames(t.Secrets)...)
	if t.Epilogue != nil {
		always = append(always, commands(t.Epilogue.Always)...)
		onPass = append(onPass, commands(t.Epilogue.OnPass)...)
		onFail = append(onFail, commands(t.Epilogue.OnFail)...)
	}
	if gjc != nil && gjc.Epilogue != nil {
		always = append(always, commands(gjc.Epilogue.Always)...)
		onPass = append(onPass, commands(gjc.Epilogue.OnPass)...)
		onFail = append(onFail, commands(gjc.Epilogue.OnFail)...)
	}

	var out []*Job
	for _, j := range t.Jobs {
		name := c.subst(j.Pos, j.Name)
		base := Job{
			Name:     name,
			Block:    block,
			Commands: append(append([]string{}, prologue...), commands(j.Commands)...),
			Epilogue: Epilogue{Always: always, OnPass: onPass, OnFail: onFail},
			Env:      append(append([]jobspec.Var{}, env...), c.envVars(j.EnvVars)...),
			Secrets:  secrets,
			Agent:    agent,
			Priority: c.priority(j.Priority, gjcPriority),
		}
		if j.ExecutionTimeLimit != nil {
			base.TimeLimit = minutes(j.ExecutionTimeLimit)
		}
		for _, combo := range c.expand(j) {
			job := base
			job.Env = append(append([]jobspec.Var{}, base.Env...), combo.env...)
			if combo.suffix != "" {
				job.Name = name + " - " + combo.suffix
			}
			job.Index, job.Count = combo.index, combo.count
			out = append(out, &job)
		}
	}
	return out
}

// combination is one expanded job: the variables it adds and its name
// suffix.
type combination struct {
	env          []jobspec.Var
	suffix       string
	index, count int
}

// expand applies matrix or parallelism (docs/semaphore.md §1.6): a Cartesian product in
// definition order, first axis outermost, or a one-axis matrix over
// SEMAPHORE_JOB_INDEX.
func (c *compiler) expand(j *pipeline.Job) []combination {
	n := j.Parallelism
	if j.ParallelismTemplate != "" {
		v := c.template(j.Pos, j.ParallelismTemplate)
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 1 || i > 50 {
			c.errorf(j.Pos, "parallelism %q must evaluate to an integer from 1 to 50, got %q", j.ParallelismTemplate, v)
			return []combination{{}}
		}
		n = i
	}
	if n > 0 {
		out := make([]combination, n)
		for i := range out {
			idx := strconv.Itoa(i + 1)
			out[i] = combination{
				env: []jobspec.Var{
					{Name: "SEMAPHORE_JOB_INDEX", Value: idx},
					{Name: "SEMAPHORE_JOB_COUNT", Value: strconv.Itoa(n)},
				},
				suffix: idx + "/" + strconv.Itoa(n),
				index:  i + 1,
				count:  n,
			}
		}
		return out
	}
	if len(j.Matrix) == 0 {
		return []combination{{}}
	}
	combos := []combination{{}}
	for _, axis := range j.Matrix {
		values := axis.Values
		if axis.ValuesTemplate != "" {
			values = c.templateList(axis.Pos, axis.ValuesTemplate)
		}
		var next []combination
		for _, prev := range combos {
			for _, v := range values {
				v = c.subst(axis.Pos, v)
				cb := combination{env: append(append([]jobspec.Var{}, prev.env...), jobspec.Var{Name: axis.EnvVar, Value: v})}
				part := axis.EnvVar + "=" + v
				if prev.suffix == "" {
					cb.suffix = part
				} else {
					cb.suffix = prev.suffix + ", " + part
				}
				next = append(next, cb)
			}
		}
		combos = next
	}
	if len(combos) > 100 {
		c.errorf(j.Pos, "matrix of job %q expands to %d jobs; the limit is 100", j.Name, len(combos))
	}
	return combos
}

func (c *compiler) priority(rules, global []*pipeline.PriorityRule) int {
	for _, r := range append(append([]*pipeline.PriorityRule{}, rules...), global...) {
		if r.When == nil || c.cond(r.When, "track") {
			return r.Value
		}
	}
	ev := c.in.Event
	if ev.RefType == "branch" && ev.Branch != "" && ev.Branch == ev.DefaultBranch {
		return priorityDefaultBranch
	}
	return priorityDefault
}

func (c *compiler) agent(a *pipeline.Agent) Agent {
	if a == nil {
		return Agent{}
	}
	out := Agent{
		MachineType: c.subst(a.Machine.Pos, a.Machine.Type),
		OSImage:     c.subst(a.Machine.Pos, a.Machine.OSImage),
	}
	for _, ct := range a.Containers {
		out.Containers = append(out.Containers, Container{
			Name:       c.subst(ct.Pos, ct.Name),
			Image:      c.subst(ct.Pos, ct.Image),
			Command:    c.subst(ct.Pos, ct.Command),
			Entrypoint: c.subst(ct.Pos, ct.Entrypoint),
			User:       c.subst(ct.Pos, ct.User),
			Env:        c.envVars(ct.EnvVars),
			Secrets:    c.secretNames(ct.Secrets),
		})
	}
	out.ImagePullSecrets = c.secretNames(a.ImagePullSecrets)
	return out
}

func (c *compiler) envVars(vs []*pipeline.EnvVar) []jobspec.Var {
	out := make([]jobspec.Var, 0, len(vs))
	for _, v := range vs {
		out = append(out, jobspec.Var{Name: v.Name, Value: c.subst(v.Pos, v.Value)})
	}
	return out
}

func (c *compiler) secretNames(refs []*pipeline.SecretRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, c.subst(r.Pos, r.Name))
	}
	return out
}

// paramEnv exports every parameter as a variable, sorted by name.
func (c *compiler) paramEnv() []jobspec.Var {
	var out []jobspec.Var
	for _, k := range sortedKeys(c.in.Params) {
		out = append(out, jobspec.Var{Name: k, Value: c.in.Params[k]})
	}
	return out
}

func commands(cs *pipeline.Commands) []string {
	if cs == nil {
		return nil
	}
	return cs.Commands
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
