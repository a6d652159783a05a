package pipeline

import (
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// peekName returns the string value of n's "name" key, for labelling n in
// messages before it is decoded; "" when there is none.
func (d *decoder) peekName(n *yaml.Node) string {
	if n = d.resolve(n); n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			return v.Value
		}
	}
	return ""
}

// isTemplate reports whether s holds a %{{...}} parameter template, which is
// evaluated (and may yield a number or a list) before the pipeline runs.
func isTemplate(s string) bool {
	i := strings.Index(s, "%{{")
	return i >= 0 && strings.Contains(s[i:], "}}")
}

// condition reads a `when` value: a non-empty condition string or a YAML
// boolean, normalised to "true" or "false".
func (d *decoder) condition(n *yaml.Node, what string, allowResult bool) *Condition {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		return &Condition{Pos: d.pos(n), Expr: strings.ToLower(n.Value)}
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.typeError(n, what, "a condition string or true/false")
		return nil
	}
	if strings.TrimSpace(n.Value) == "" {
		d.errorf(n, "%s must not be empty; write a condition such as \"branch = 'master'\", or true", what)
		return nil
	}
	c := &Condition{Pos: d.pos(n), Expr: n.Value}
	d.checkCondition(n, c, allowResult)
	return c
}

// checkCondition runs the session's condition checker on c and reports an
// error at the offending column when the scalar can be mapped back to its
// source text, else at the start of the value.
func (d *decoder) checkCondition(n *yaml.Node, c *Condition, allowResult bool) {
	check := d.s.opts.CheckCondition
	if check == nil {
		return
	}
	offset, msg, ok := check(c.Expr, allowResult)
	if ok {
		return
	}
	p := c.Pos
	offset = min(max(offset, 0), len(n.Value))
	if col, ok := d.src.scalarOffset(n.Line, p.Col, styleOf(n), n.Value, offset); ok {
		p.Col = col
	}
	if msg == "" {
		msg = "syntax error"
	}
	d.s.report(p, "invalid condition: "+msg)
}

func styleOf(n *yaml.Node) scalarStyle {
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return styleOther
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return styleDouble
	case n.Style&yaml.SingleQuotedStyle != 0:
		return styleSingle
	}
	return stylePlain
}

// whenObject reads a `{when: ...}` mapping (skip, run, auto_promote,
// fail_fast.stop, ...).
func (d *decoder) whenObject(n *yaml.Node, what string, allowResult bool) *Condition {
	o := d.object(n, what, "when", "when")
	if o == nil {
		return nil
	}
	o.require("when")
	return d.condition(o.get("when"), "when", allowResult)
}

// timeLimit reads an execution_time_limit. Its Pos is the hours or minutes
// value.
func (d *decoder) timeLimit(n *yaml.Node) *TimeLimit {
	o := d.object(n, "execution_time_limit", "execution_time_limit", "hours", "minutes")
	if o == nil {
		return nil
	}
	o.exactlyOne("hours", "minutes")
	if o.has("hours") && o.has("minutes") {
		return nil
	}
	if v := o.get("hours"); v != nil {
		h, ok := d.integer(v, "hours", 1, math.MaxInt)
		if !ok {
			return nil
		}
		if h > math.MaxInt/60 {
			h = math.MaxInt / 60
		}
		return &TimeLimit{Pos: d.pos(v), Minutes: h * 60}
	}
	if v := o.get("minutes"); v != nil {
		m, ok := d.integer(v, "minutes", 1, math.MaxInt)
		if !ok {
			return nil
		}
		return &TimeLimit{Pos: d.pos(v), Minutes: m}
	}
	return nil
}

// commands reads a Cmds mapping ({commands: [...]} or {commands_file: ...}),
// used by prologues and epilogue sections.
func (d *decoder) commands(n *yaml.Node, what, kind string) *Commands {
	o := d.object(n, what, kind, "commands", "commands_file")
	if o == nil {
		return nil
	}
	o.exactlyOne("commands", "commands_file")
	return d.commandsOf(o)
}

// commandsOf reads the commands or commands_file key of o (a job or a Cmds
// mapping). Commands.Pos is the position of that key's value.
func (d *decoder) commandsOf(o *object) *Commands {
	if v := o.get("commands"); v != nil {
		return &Commands{Pos: d.pos(v), Commands: d.commandList(v)}
	}
	if v := o.get("commands_file"); v != nil {
		f, ok := d.nonEmptyStr(v, "commands_file")
		if !ok {
			return nil
		}
		return &Commands{Pos: d.pos(v), File: f}
	}
	return nil
}

// commandList reads a list of shell commands. Any scalar is a command (YAML
// may read `- true` as a boolean, but its text is what the shell runs);
// mappings and lists are errors.
func (d *decoder) commandList(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		d.errorf(n, "commands must be a list, not a string; put each command on its own line starting with \"- \"")
		return nil
	}
	items, ok := d.list(n, "commands")
	if !ok {
		return nil
	}
	cmds := make([]string, 0, len(items))
	for _, it := range items {
		switch {
		case isNull(it):
			d.errorf(it, "command is empty; write a command or remove the \"-\"")
		case it.Kind == yaml.ScalarNode:
			cmds = append(cmds, it.Value)
		case it.Kind == yaml.MappingNode && it.Style&yaml.FlowStyle == 0:
			d.errorf(it, "command must be a string, but YAML reads this line as a mapping because of the \": \" in it; quote the whole command")
		default:
			d.typeError(it, "command", "a string")
		}
	}
	return cmds
}

// epilogue reads an epilogue: {always, on_pass, on_fail} or the legacy
// Cmds form, which becomes Always.
func (d *decoder) epilogue(n *yaml.Node) *Epilogue {
	o := d.object(n, "epilogue", "epilogue", "always", "on_pass", "on_fail", "commands", "commands_file")
	if o == nil {
		return nil
	}
	e := &Epilogue{Pos: d.pos(o.node)}
	legacy := o.has("commands") || o.has("commands_file")
	sections := o.has("always") || o.has("on_pass") || o.has("on_fail")
	switch {
	case legacy && sections:
		k := "commands"
		if !o.has(k) {
			k = "commands_file"
		}
		d.errorf(o.keys[k], "epilogue: %q cannot be combined with always/on_pass/on_fail; move it under \"always\"", k)
	case legacy:
		o.exactlyOne("commands", "commands_file")
		e.Always = d.commandsOf(o)
	default:
		o.anyOf("always", "on_pass", "on_fail")
	}
	if sections {
		e.Always = d.commands(o.get("always"), "epilogue.always", "cmds")
		e.OnPass = d.commands(o.get("on_pass"), "epilogue.on_pass", "cmds")
		e.OnFail = d.commands(o.get("on_fail"), "epilogue.on_fail", "cmds")
	}
	return e
}

// envVars reads an env_vars list of {name, value} pairs.
func (d *decoder) envVars(n *yaml.Node) []*EnvVar {
	items, _ := d.sized(n, "env_vars", 0, 10_000)
	var out []*EnvVar
	for _, it := range items {
		what := "env var"
		if name := d.peekName(it); name != "" {
			what = "env var " + strconv.Quote(name)
		}
		o := d.object(it, what, "env_var", "name", "value")
		if o == nil {
			continue
		}
		o.require("name", "value")
		ev := &EnvVar{Pos: d.pos(o.node)}
		ev.Name, _ = d.nonEmptyStr(o.get("name"), "name")
		ev.Value, _ = d.str(o.get("value"), "value")
		out = append(out, ev)
	}
	return out
}

// secrets reads a secrets list. env_var_names and config_file_paths are
// legacy keys: checked, then ignored.
func (d *decoder) secrets(n *yaml.Node) []*SecretRef {
	items, _ := d.list(n, "secrets")
	var out []*SecretRef
	for _, it := range items {
		if it.Kind == yaml.ScalarNode && it.ShortTag() == "!!str" {
			d.errorf(it, "secret must be a mapping; write \"- name: %s\"", it.Value)
			continue
		}
		o := d.object(it, "secret", "secret", "name", "env_var_names", "config_file_paths")
		if o == nil {
			continue
		}
		o.require("name")
		d.strList(o.get("env_var_names"), "env_var_names", "env var name")
		d.strList(o.get("config_file_paths"), "config_file_paths", "config file path")
		if name, ok := d.nonEmptyStr(o.get("name"), "secret name"); ok {
			out = append(out, &SecretRef{Pos: d.pos(o.node), Name: name})
		}
	}
	return out
}

// priority reads a priority list of {value, when} rules.
func (d *decoder) priority(n *yaml.Node) []*PriorityRule {
	items, _ := d.list(n, "priority")
	var out []*PriorityRule
	for _, it := range items {
		o := d.object(it, "priority rule", "priority", "value", "when")
		if o == nil {
			continue
		}
		o.require("value", "when")
		r := &PriorityRule{Pos: d.pos(o.node)}
		r.Value, _ = d.integer(o.get("value"), "priority value", 0, 100)
		r.When = d.condition(o.get("when"), "when", false)
		out = append(out, r)
	}
	return out
}
