package plan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/pipeline"
)

// Parameter templates (docs/semaphore.md §1.13): ${{parameters.NAME}} is plain
// substitution; %{{parameters.NAME | fn args | ...}} is a small pipeline of
// functions whose result is inserted as JSON text (a string as itself).
var (
	plainTemplate = regexp.MustCompile(`\$\{\{\s*parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	exprTemplate  = regexp.MustCompile(`%\{\{(.*?)\}\}`)
)

// subst expands both template forms in s. A missing parameter is an empty
// string, as Semaphore's docs imply.
func (c *compiler) subst(pos pipeline.Pos, s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	s = plainTemplate.ReplaceAllStringFunc(s, func(m string) string {
		return c.in.Params[plainTemplate.FindStringSubmatch(m)[1]]
	})
	return exprTemplate.ReplaceAllStringFunc(s, func(m string) string {
		v, err := c.evalTemplate(exprTemplate.FindStringSubmatch(m)[1])
		if err != nil {
			c.errorf(pos, "template %s: %v", m, err)
			return ""
		}
		return render(v)
	})
}

// template evaluates s, which holds one %{{...}} template, to text.
func (c *compiler) template(pos pipeline.Pos, s string) string { return c.subst(pos, s) }

// templateList evaluates a matrix values template, which must yield a list.
func (c *compiler) templateList(pos pipeline.Pos, s string) []string {
	m := exprTemplate.FindStringSubmatch(s)
	if m == nil {
		c.errorf(pos, "matrix values %q must be a list or a %%{{...}} template", s)
		return nil
	}
	v, err := c.evalTemplate(m[1])
	if err != nil {
		c.errorf(pos, "template %s: %v", s, err)
		return nil
	}
	list, ok := v.([]string)
	if !ok || len(list) == 0 {
		c.errorf(pos, "matrix values template %s must yield a non-empty list, got %s", s, render(v))
		return nil
	}
	return list
}

func render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// evalTemplate evaluates "parameters.X | fn arg | fn arg".
func (c *compiler) evalTemplate(src string) (any, error) {
	stages := strings.Split(src, "|")
	first := strings.TrimSpace(stages[0])
	name, ok := strings.CutPrefix(first, "parameters.")
	if !ok {
		return nil, fmt.Errorf("must start with parameters.NAME, got %q", first)
	}
	var v any = c.in.Params[name]
	for _, stage := range stages[1:] {
		words, err := splitWords(strings.TrimSpace(stage))
		if err != nil {
			return nil, err
		}
		if len(words) == 0 {
			return nil, fmt.Errorf("empty function in pipeline")
		}
		v, err = apply(words[0], words[1:], v)
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

// splitWords splits a pipeline stage into words; "double quoted" words may
// contain spaces.
func splitWords(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in %q", s)
			}
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		out = append(out, word)
		s = rest
	}
	return out, nil
}

// apply calls template function fn with its arguments and the piped value
// last, as Go templates do.
func apply(fn string, args []string, v any) (any, error) {
	str := func() string { return render(v) }
	num := func() (int, error) {
		switch v := v.(type) {
		case int:
			return v, nil
		default:
			n, err := strconv.Atoi(strings.TrimSpace(render(v)))
			if err != nil {
				return 0, fmt.Errorf("%s: %q is not an integer", fn, render(v))
			}
			return n, nil
		}
	}
	arg := func(i int) (string, error) {
		if i >= len(args) {
			return "", fmt.Errorf("%s needs %d argument(s)", fn, i+1)
		}
		return args[i], nil
	}
	intArg := func(i int) (int, error) {
		a, err := arg(i)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(a)
	}
	switch fn {
	case "splitList":
		sep, err := arg(0)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, p := range strings.Split(str(), sep) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case "join":
		sep, err := arg(0)
		if err != nil {
			return nil, err
		}
		if l, ok := v.([]string); ok {
			return strings.Join(l, sep), nil
		}
		return str(), nil
	case "int", "int64", "atoi":
		return num()
	case "toString":
		return str(), nil
	case "upper":
		return strings.ToUpper(str()), nil
	case "lower":
		return strings.ToLower(str()), nil
	case "trim":
		return strings.TrimSpace(str()), nil
	case "default":
		d, err := arg(0)
		if err != nil {
			return nil, err
		}
		if str() == "" {
			return d, nil
		}
		return v, nil
	case "replace":
		old, err := arg(0)
		if err != nil {
			return nil, err
		}
		repl, err := arg(1)
		if err != nil {
			return nil, err
		}
		return strings.ReplaceAll(str(), old, repl), nil
	case "add", "sub", "mul", "div":
		a, err := intArg(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		n, err := num()
		if err != nil {
			return nil, err
		}
		switch fn {
		case "add":
			return n + a, nil
		case "sub":
			return n - a, nil
		case "mul":
			return n * a, nil
		default:
			if a == 0 {
				return nil, fmt.Errorf("div: division by zero")
			}
			return n / a, nil
		}
	}
	return nil, fmt.Errorf("unknown template function %q", fn)
}
