package pipeline

import (
	"fmt"
	"github.com/batonci/baton/internal/editdist"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxAliases bounds how many times the decoder follows YAML aliases, so a
// "billion laughs" document cannot make it walk an exponential tree.
const maxAliases = 10_000

// decoder turns the YAML nodes of one file into pipeline values, reporting
// problems to its session. Its helpers never give up early: each reports what
// is wrong with one node and returns what it could read.
type decoder struct {
	s       *session
	src     *source
	aliases int
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.src.file, Line: max(n.Line, 1), Col: d.src.byteCol(n.Line, n.Column)}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.s.report(d.pos(n), fmt.Sprintf(format, args...))
}

func (d *decoder) warnf(n *yaml.Node, format string, args ...any) {
	d.s.warn(d.pos(n), fmt.Sprintf(format, args...))
}

// resolve follows aliases. It returns nil for a nil node and once the alias
// budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		d.aliases++
		if d.aliases > maxAliases {
			if d.aliases == maxAliases+1 {
				d.errorf(n, "too many alias expansions (more than %d); simplify the anchors and aliases", maxAliases)
			}
			return nil
		}
		n = n.Alias
	}
	return n
}

// object is a decoded YAML mapping whose keys have been checked against the
// schema: duplicates and unknown keys are already reported.
type object struct {
	d    *decoder
	node *yaml.Node
	what string
	keys map[string]*yaml.Node // key nodes, for positions
	vals map[string]*yaml.Node // resolved value nodes
	// suggested holds the known keys offered as "did you mean" for an
	// unknown key; a missing required key that was suggested is not
	// reported a second time.
	suggested map[string]bool
}

// object checks that n is a mapping whose keys are all in known and returns
// it, or reports the problem and returns nil. what names the mapping in
// messages ("job \"Test\""); kind selects hints for misplaced keys.
func (d *decoder) object(n *yaml.Node, what, kind string, known ...string) *object {
	if n = d.resolve(n); n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.typeError(n, what, "a mapping")
		return nil
	}
	o := &object{
		d: d, node: n, what: what,
		keys:      map[string]*yaml.Node{},
		vals:      map[string]*yaml.Node{},
		suggested: map[string]bool{},
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.warnf(k, "merge keys (<<) are a Baton extension: Semaphore refuses this file")
			merges = append(merges, v)
			continue
		}
		name, ok := d.key(k)
		if !ok {
			continue
		}
		if first, dup := o.keys[name]; dup {
			d.warnf(k, "duplicate key %q in %s: line %d is ignored, the first value (line %d) is kept, as Semaphore does; remove one", name, what, k.Line, first.Line)
			continue
		}
		if !slices.Contains(known, name) {
			o.unknown(k, name, kind, known)
			continue
		}
		o.keys[name] = k
		o.vals[name] = d.resolve(v)
	}
	for _, m := range merges {
		o.merge(m, kind, known)
	}
	return o
}

// key returns a mapping key's text, reporting keys that are not strings.
func (d *decoder) key(k *yaml.Node) (string, bool) {
	if k = d.resolve(k); k == nil {
		return "", false
	}
	if k.Kind != yaml.ScalarNode {
		d.errorf(k, "mapping keys must be plain strings, not %s", describe(k))
		return "", false
	}
	return k.Value, true
}

// merge applies a YAML merge key (<<: *anchor or <<: [*a, *b]): keys already
// set win, then earlier mappings win over later ones.
func (o *object) merge(v *yaml.Node, kind string, known []string) {
	d := o.d
	if v = d.resolve(v); v == nil {
		return
	}
	sources := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	}
	for _, m := range sources {
		if m = d.resolve(m); m == nil {
			continue
		}
		if m.Kind != yaml.MappingNode {
			d.typeError(m, "a merge key (<<)", "a mapping or a list of mappings")
			continue
		}
		inner := d.object(m, o.what, kind, known...)
		if inner == nil {
			continue
		}
		for name, k := range inner.keys {
			if _, set := o.keys[name]; !set {
				o.keys[name] = k
				o.vals[name] = inner.vals[name]
			}
		}
	}
}

// unknown reports a key the schema does not allow.
func (o *object) unknown(k *yaml.Node, name, kind string, known []string) {
	msg := fmt.Sprintf("unknown key %q in %s", name, o.what)
	switch hint, standsFor := misplacedKeyHint(kind, name); {
	case hint != "":
		msg += " (" + hint + ")"
		for _, k := range standsFor {
			o.suggested[k] = true
		}
	case editdist.Nearest(name, known) != "":
		s := editdist.Nearest(name, known)
		o.suggested[s] = true
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	default:
		msg += "; allowed keys are " + strings.Join(known, ", ")
	}
	o.d.errorf(k, "%s", msg)
}

func (o *object) has(key string) bool { _, ok := o.keys[key]; return ok }

// get returns the resolved value of key, or nil.
func (o *object) get(key string) *yaml.Node { return o.vals[key] }

// require reports each missing key, positioned at the mapping.
func (o *object) require(keys ...string) {
	for _, k := range keys {
		if !o.has(k) && !o.suggested[k] {
			o.d.errorf(o.node, "%s: missing %q", o.what, k)
		}
	}
}

// exactlyOne reports unless exactly one of a and b is set.
func (o *object) exactlyOne(a, b string) {
	switch {
	case o.has(a) && o.has(b):
		o.d.errorf(o.later(a, b), "%s: use either %q or %q, not both", o.what, a, b)
	case !o.has(a) && !o.has(b) && !o.suggested[a] && !o.suggested[b]:
		o.d.errorf(o.node, "%s: missing %q or %q", o.what, a, b)
	}
}

// anyOf reports unless at least one of keys is set.
func (o *object) anyOf(keys ...string) {
	for _, k := range keys {
		if o.has(k) || o.suggested[k] {
			return
		}
	}
	if len(keys) == 2 {
		o.d.errorf(o.node, "%s: set %q or %q", o.what, keys[0], keys[1])
		return
	}
	o.d.errorf(o.node, "%s: set at least one of %s", o.what, quoteList(keys))
}

// atMostOne reports every key of keys after the first one that is set.
func (o *object) atMostOne(keys ...string) {
	var set []string
	for _, k := range keys {
		if o.has(k) {
			set = append(set, k)
		}
	}
	slices.SortFunc(set, func(a, b string) int { return comparePos(o.keys[a], o.keys[b]) })
	for _, k := range set[min(1, len(set)):] {
		o.d.errorf(o.keys[k], "%s: %q cannot be combined with %q; use only one of %s", o.what, k, set[0], quoteList(keys))
	}
}

// later returns the key node of a or b that comes second in the source.
func (o *object) later(a, b string) *yaml.Node {
	if comparePos(o.keys[a], o.keys[b]) > 0 {
		return o.keys[a]
	}
	return o.keys[b]
}

func comparePos(a, b *yaml.Node) int {
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	return a.Column - b.Column
}

func quoteList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	switch len(q) {
	case 1:
		return q[0]
	case 2:
		return q[0] + " or " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// label names a block or job in messages: by name when it has one, else by
// its 1-based position.
func label(kind string, index int, name string) string {
	if name != "" {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s %d", kind, index+1)
}
