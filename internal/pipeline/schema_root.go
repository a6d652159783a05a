package pipeline

import (
	"math"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// pipeline reads the root mapping of a pipeline file.
func (d *decoder) pipeline(root *yaml.Node) *Pipeline {
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "a pipeline file must be a mapping with version, agent and blocks, not %s", describe(root))
		return nil
	}
	if d.notAPipeline(root) {
		return nil
	}
	o := d.object(root, "pipeline", "pipeline", "version", "name", "agent", "blocks",
		"after_pipeline", "promotions", "execution_time_limit", "global_job_config",
		"fail_fast", "auto_cancel", "queue", "partial_rerun", "parameters")
	for _, req := range []struct{ key, hint string }{
		{"version", `add "version: v1.0" at the top`},
		{"agent", "add an agent with a machine type at the top level, e.g. agent: {machine: {type: e1-standard-2, os_image: ubuntu2004}}"},
		{"blocks", "add a list of blocks"},
	} {
		if !o.has(req.key) && !o.suggested[req.key] {
			d.errorf(root, "pipeline: missing %q; %s", req.key, req.hint)
		}
	}
	p := &Pipeline{Pos: d.pos(root), Name: "Pipeline"}
	if v := o.get("version"); v != nil {
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && v.Value == "v1.0" {
			p.Version = v.Value
		} else {
			d.errorf(v, "version must be \"v1.0\", not %s", valueText(v))
		}
	}
	if v := o.get("name"); v != nil {
		if name, ok := d.str(v, "pipeline name"); ok && name != "" {
			p.Name = name
		}
	}
	p.Agent = d.agent(o.get("agent"))
	if v := o.get("blocks"); v != nil {
		items, _ := d.sized(v, "blocks", 1, maxBlocks)
		var names []Pos
		for i, it := range items {
			if b, namePos := d.block(it, i); b != nil {
				p.Blocks = append(p.Blocks, b)
				names = append(names, namePos)
			}
		}
		d.s.nameBlocks(p.Blocks, names)
	}
	p.AfterPipeline = d.afterPipeline(o.get("after_pipeline"))
	p.Promotions = d.promotions(o.get("promotions"))
	p.ExecutionTimeLimit = d.timeLimit(o.get("execution_time_limit"))
	p.GlobalJobConfig = d.globalJobConfig(o.get("global_job_config"))
	p.FailFast = d.failFast(o.get("fail_fast"))
	p.AutoCancel = d.autoCancel(o.get("auto_cancel"))
	p.Queue = d.queue(o.get("queue"))
	if v := o.get("partial_rerun"); v != nil {
		p.PartialRerun, _ = d.enum(v, "partial_rerun", "jobs", "block")
	}
	if v := o.get("parameters"); v != nil {
		p.Parameters = d.parameters(v, "parameters")
	}
	return p
}

// notAPipeline reports (and returns true for) a Semaphore resource file,
// such as a project definition, passed where a pipeline is expected.
func (d *decoder) notAPipeline(root *yaml.Node) bool {
	var kindKey, kind *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "version":
			return false
		case "kind":
			kindKey, kind = root.Content[i], root.Content[i+1]
		}
	}
	if kindKey == nil {
		return false
	}
	d.errorf(kindKey, "this is a Semaphore resource definition (kind: %s), not a pipeline; pipeline files start with \"version: v1.0\" and define agent and blocks", kind.Value)
	return true
}

// valueText renders a scalar for messages.
func valueText(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return describe(n)
	}
	if isNull(n) {
		return "empty"
	}
	if n.ShortTag() == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value + " (" + describe(n) + ")"
}

// afterPipeline reads after_pipeline: a task or a task_file.
func (d *decoder) afterPipeline(n *yaml.Node) *AfterPipeline {
	o := d.object(n, "after_pipeline", "after_pipeline", "task", "task_file")
	if o == nil {
		return nil
	}
	o.exactlyOne("task", "task_file")
	a := &AfterPipeline{Pos: d.pos(o.node)}
	if v := o.get("task"); v != nil {
		a.Task = d.task(v, "after_pipeline task")
	} else if v := o.get("task_file"); v != nil {
		if f, ok := d.nonEmptyStr(v, "task_file"); ok {
			a.TaskFile = f
			d.s.afterTaskFile = d.pos(v)
		}
	}
	return a
}

// promotions reads the promotions list.
func (d *decoder) promotions(n *yaml.Node) []*Promotion {
	items, _ := d.sized(n, "promotions", 1, math.MaxInt)
	var out []*Promotion
	for i, it := range items {
		what := label("promotion", i, d.peekName(it))
		o := d.object(it, what, "promotion", "name", "pipeline_file", "deployment_target",
			"auto_promote_on", "auto_promote", "parameters")
		if o == nil {
			continue
		}
		o.require("name", "pipeline_file")
		pr := &Promotion{Pos: d.pos(o.node)}
		if v := o.get("name"); v != nil {
			pr.Name, _ = d.nonEmptyStr(v, "promotion name")
		}
		if v := o.get("pipeline_file"); v != nil {
			pr.PipelineFile, _ = d.nonEmptyStr(v, "pipeline_file")
		}
		if v := o.get("deployment_target"); v != nil {
			pr.DeploymentTarget, _ = d.nonEmptyStr(v, "deployment_target")
		}
		pr.AutoPromote = d.whenObject(o.get("auto_promote"), "auto_promote", true)
		pr.AutoPromoteOn = d.autoPromoteOn(o.get("auto_promote_on"))
		if po := d.object(o.get("parameters"), "promotion parameters", "promotion_parameters", "env_vars"); po != nil {
			po.require("env_vars")
			pr.Parameters = d.parameters(po.get("env_vars"), "env_vars")
		}
		out = append(out, pr)
	}
	return out
}

// autoPromoteOn reads the deprecated auto_promote_on rules.
func (d *decoder) autoPromoteOn(n *yaml.Node) []*AutoPromoteRule {
	items, _ := d.list(n, "auto_promote_on")
	var out []*AutoPromoteRule
	for _, it := range items {
		o := d.object(it, "auto_promote_on rule", "auto_promote_on",
			"result", "result_reason", "branch", "labels", "label_patterns")
		if o == nil {
			continue
		}
		o.require("result")
		o.atMostOne("branch", "labels", "label_patterns")
		r := &AutoPromoteRule{Pos: d.pos(o.node)}
		if v := o.get("result"); v != nil {
			r.Result, _ = d.str(v, "result")
		}
		if v := o.get("result_reason"); v != nil {
			r.ResultReason, _ = d.str(v, "result_reason")
		}
		r.Branch = d.strList(o.get("branch"), "branch", "branch pattern")
		r.Labels = d.strList(o.get("labels"), "labels", "label")
		r.LabelPatterns = d.strList(o.get("label_patterns"), "label_patterns", "label pattern")
		out = append(out, r)
	}
	return out
}

// parameters reads a list of parameter declarations (promotion
// parameters.env_vars, or the top-level task parameters).
func (d *decoder) parameters(n *yaml.Node, what string) []*Parameter {
	items, _ := d.list(n, what)
	var out []*Parameter
	for i, it := range items {
		o := d.object(it, label("parameter", i, d.peekName(it)), "parameter",
			"name", "description", "required", "options", "default_value")
		if o == nil {
			continue
		}
		o.require("name")
		p := &Parameter{Pos: d.pos(o.node)}
		if v := o.get("name"); v != nil {
			p.Name, _ = d.nonEmptyStr(v, "parameter name")
		}
		if v := o.get("description"); v != nil {
			p.Description, _ = d.str(v, "description")
		}
		if v := o.get("required"); v != nil {
			p.Required, _ = d.boolean(v, "required")
		}
		p.Options = d.strList(o.get("options"), "options", "option")
		if v := o.get("default_value"); v != nil {
			p.DefaultValue, p.HasDefault = d.str(v, "default_value")
		}
		out = append(out, p)
	}
	return out
}

// globalJobConfig reads global_job_config.
func (d *decoder) globalJobConfig(n *yaml.Node) *GlobalJobConfig {
	o := d.object(n, "global_job_config", "global_job_config",
		"prologue", "epilogue", "secrets", "env_vars", "priority")
	if o == nil {
		return nil
	}
	o.anyOf("prologue", "epilogue", "secrets", "env_vars", "priority")
	return &GlobalJobConfig{
		Pos:      d.pos(o.node),
		Prologue: d.commands(o.get("prologue"), "prologue", "prologue"),
		Epilogue: d.epilogue(o.get("epilogue")),
		Secrets:  d.secrets(o.get("secrets")),
		EnvVars:  d.envVars(o.get("env_vars")),
		Priority: d.priority(o.get("priority")),
	}
}

// failFast reads a fail_fast strategy (pipeline or task level).
func (d *decoder) failFast(n *yaml.Node) *FailFast {
	o := d.object(n, "fail_fast", "fail_fast", "stop", "cancel")
	if o == nil {
		return nil
	}
	o.anyOf("stop", "cancel")
	return &FailFast{
		Pos:    d.pos(o.node),
		Stop:   d.whenObject(o.get("stop"), "fail_fast.stop", false),
		Cancel: d.whenObject(o.get("cancel"), "fail_fast.cancel", false),
	}
}

// autoCancel reads an auto_cancel strategy.
func (d *decoder) autoCancel(n *yaml.Node) *AutoCancel {
	o := d.object(n, "auto_cancel", "auto_cancel", "running", "queued")
	if o == nil {
		return nil
	}
	o.anyOf("running", "queued")
	return &AutoCancel{
		Pos:     d.pos(o.node),
		Running: d.whenObject(o.get("running"), "auto_cancel.running", false),
		Queued:  d.whenObject(o.get("queued"), "auto_cancel.queued", false),
	}
}

// queue reads queue: a single queue mapping or a non-empty list of them.
func (d *decoder) queue(n *yaml.Node) []*Queue {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		if q := d.queueMap(n); q != nil {
			return []*Queue{q}
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, "queue", "a mapping or a list of mappings")
		return nil
	}
	items, _ := d.sized(n, "queue", 1, math.MaxInt)
	var out []*Queue
	for _, it := range items {
		if q := d.queueMap(it); q != nil {
			out = append(out, q)
		}
	}
	return out
}

func (d *decoder) queueMap(n *yaml.Node) *Queue {
	o := d.object(n, "queue", "queue", "name", "scope", "processing", "when")
	if o == nil {
		return nil
	}
	o.anyOf("name", "processing")
	q := &Queue{Pos: d.pos(o.node)}
	if v := o.get("name"); v != nil {
		q.Name, _ = d.nonEmptyStr(v, "queue name")
	}
	if v := o.get("scope"); v != nil {
		q.Scope, _ = d.enum(v, "scope", "project", "organization")
	}
	if v := o.get("processing"); v != nil {
		q.Processing, _ = d.enum(v, "processing", "serialized", "parallel")
	}
	q.When = d.condition(o.get("when"), "when", false)
	return q
}
