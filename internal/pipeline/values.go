package pipeline

import (
	"fmt"
	"github.com/batonci/baton/internal/editdist"
	"math"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Helpers that read scalar and list values, reporting type errors at the
// value.

// describe names a node's kind for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "a number"
		case "!!float":
			return "a decimal number"
		case "!!str":
			return "a string"
		}
		return "a " + strings.TrimLeft(n.ShortTag(), "!") + " value"
	}
	return "something else"
}

// typeError reports that n is not the wanted kind of value.
func (d *decoder) typeError(n *yaml.Node, what, want string) {
	if isNull(n) {
		d.errorf(n, "%s is empty; it must be %s", what, want)
		return
	}
	d.errorf(n, "%s must be %s, not %s", what, want, describe(n))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// str reads a string scalar. Numbers, booleans and other typed scalars are
// errors, as in the JSON schema: YAML reads `value: 8080` as a number.
func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.typeError(n, what, "a string")
		return "", false
	}
	switch tag := n.ShortTag(); {
	case tag == "!!str", yaml11Only(n):
		return n.Value, true
	case tag == "!!int", tag == "!!float", tag == "!!bool", tag == "!!timestamp":
		d.errorf(n, "%s must be a string, not %s; quote it: %s", what, describe(n), strconv.Quote(n.Value))
	default:
		d.errorf(n, "%s must be a plain string, not a %s-tagged value", what, tag)
	}
	return "", false
}

// yaml11Only reports whether n is a plain scalar that the YAML library types
// but YAML 1.2's core schema, which Semaphore follows, reads as a string: a
// date or time (2001-12-14), a number with underscores (1_000) or a binary
// number (0b101). Its text is kept as written.
func yaml11Only(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || n.Style != 0 {
		return false
	}
	switch n.ShortTag() {
	case "!!timestamp":
		return true
	case "!!int", "!!float":
		v := strings.TrimLeft(n.Value, "+-")
		return strings.Contains(v, "_") || strings.HasPrefix(v, "0b")
	}
	return false
}

// nonEmptyStr reads a string that must not be empty.
func (d *decoder) nonEmptyStr(n *yaml.Node, what string) (string, bool) {
	s, ok := d.str(n, what)
	if ok && s == "" {
		d.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

// enum reads a string that must be one of allowed.
func (d *decoder) enum(n *yaml.Node, what string, allowed ...string) (string, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		msg := fmt.Sprintf("%s must be %s, not %q", what, orList(allowed), s)
		if sug := editdist.Nearest(s, allowed); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		d.errorf(n, "%s", msg)
		return "", false
	}
	return s, true
}

func orList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 2 {
		return q[0] + " or " + q[1]
	}
	return "one of " + strings.Join(q, ", ")
}

// integer reads a whole number between lo and hi.
func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.typeError(n, what, "a whole number")
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			d.errorf(n, "%s is too large", what)
			return 0, false
		}
		if v < int64(lo) || v > int64(hi) {
			d.errorf(n, "%s must be %s, not %s", what, rangeText(lo, hi), n.Value)
			return 0, false
		}
		return int(v), true
	case "!!str":
		if _, err := strconv.Atoi(strings.TrimSpace(n.Value)); err == nil {
			d.errorf(n, "%s must be a number, not a string; remove the quotes", what)
			return 0, false
		}
	}
	d.errorf(n, "%s must be a whole number, not %s", what, describe(n))
	return 0, false
}

func rangeText(lo, hi int) string {
	if hi == math.MaxInt {
		return fmt.Sprintf("at least %d", lo)
	}
	return fmt.Sprintf("between %d and %d", lo, hi)
}

// boolean reads true or false.
func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	if n == nil {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		return strings.EqualFold(n.Value, "true"), true
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if _, err := strconv.ParseBool(n.Value); err == nil {
			d.errorf(n, "%s must be true or false without quotes", what)
			return false, false
		}
	}
	d.typeError(n, what, "true or false")
	return false, false
}

// list reads a sequence and returns its resolved items.
func (d *decoder) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	if n == nil {
		return nil, false
	}
	switch {
	case n.Kind == yaml.SequenceNode:
	case isNull(n):
		d.errorf(n, "%s is empty; it must be a list (write [] for an empty one)", what)
		return nil, false
	case n.Kind == yaml.MappingNode:
		d.errorf(n, "%s must be a list, not a mapping; start each item with \"- \"", what)
		return nil, false
	default:
		d.typeError(n, what, "a list")
		return nil, false
	}
	items := make([]*yaml.Node, 0, len(n.Content))
	for _, item := range n.Content {
		if item = d.resolve(item); item != nil {
			items = append(items, item)
		}
	}
	return items, true
}

// sized reads a list with a bounded number of items.
func (d *decoder) sized(n *yaml.Node, what string, lo, hi int) ([]*yaml.Node, bool) {
	items, ok := d.list(n, what)
	if !ok {
		return nil, false
	}
	switch {
	case len(items) < lo && lo == 1:
		d.errorf(n, "%s must not be empty", what)
	case len(items) < lo:
		d.errorf(n, "%s must have at least %d items, not %d", what, lo, len(items))
	case len(items) > hi:
		d.errorf(n, "%s has %d items; the maximum is %d", what, len(items), hi)
	}
	return items, true
}

// strList reads a list of strings; item names one item in messages.
func (d *decoder) strList(n *yaml.Node, what, item string) []string {
	items, _ := d.list(n, what)
	var out []string
	for _, it := range items {
		if s, ok := d.str(it, item); ok {
			out = append(out, s)
		}
	}
	return out
}
