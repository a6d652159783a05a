package when

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dlclark/regexp2/v2"

	"github.com/batonci/baton/internal/editdist"
)

// Expr is a parsed condition. It is immutable and safe for concurrent use.
// String renders it in canonical form: lower-case keywords and operators,
// single spaces, map keys sorted, and parentheses exactly where the
// left-to-right reading needs them or where 'and' and 'or' are mixed. Parsing
// the canonical form gives the same Expr back.
type Expr interface {
	String() string
	walk(func(Expr))
}

// SyntaxError is a problem found by Parse, at a byte offset of the source.
// Besides grammar errors it reports the mistakes Parse can see in literal
// values: unknown functions, bad change_in arguments and invalid regular
// expressions.
type SyntaxError struct {
	Offset int // 0-based byte offset in the source; len(src) for its end
	Msg    string
}

// Error renders the error with its offset.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at offset %d: %s", e.Offset, e.Msg)
}

// maxDepth bounds the nesting of parentheses, lists and maps.
const maxDepth = 100

// Parse parses a condition. Errors are *SyntaxError.
func Parse(src string) (Expr, error) {
	p := &parser{src: src, toks: lex(src)}
	if p.peek().kind == tEOF {
		return nil, &SyntaxError{Offset: 0, Msg: "empty condition"}
	}
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.afterTerm(t, false)
	}
	return e, nil
}

// The syntax tree. Nodes are unexported so that the package can change its
// representation; callers use String, Eval and the Uses* helpers.
type (
	// boolOp is "left and right" or "left or right".
	boolOp struct {
		op          string
		left, right Expr
	}
	// compare is "left OP right" with OP one of = != =~ !~.
	compare struct {
		op          string
		left, right Expr
		re          *regexp2.Regexp // compiled when right is a string literal and op is =~ or !~
	}
	keywordRef struct{ name string }
	strLit     struct {
		s   string
		pos int
	}
	boolLit struct {
		b   bool
		pos int
	}
	intLit struct {
		i   int64
		pos int
	}
	floatLit struct {
		f   float64
		pos int
	}
	listLit struct {
		elems []Expr
		pos   int
	}
	mapLit struct {
		entries []mapEntry
		pos     int
	}
	mapEntry struct {
		key    string
		keyPos int
		val    Expr
	}
	// call is a function call; change_in is the only function.
	call struct {
		name     string
		args     []Expr
		pos      int
		changeIn *ChangeInCall // decoded arguments
	}
)

func (n *boolOp) walk(f func(Expr))     { f(n); n.left.walk(f); n.right.walk(f) }
func (n *compare) walk(f func(Expr))    { f(n); n.left.walk(f); n.right.walk(f) }
func (n *keywordRef) walk(f func(Expr)) { f(n) }
func (n *strLit) walk(f func(Expr))     { f(n) }
func (n *boolLit) walk(f func(Expr))    { f(n) }
func (n *intLit) walk(f func(Expr))     { f(n) }
func (n *floatLit) walk(f func(Expr))   { f(n) }
func (n *listLit) walk(f func(Expr)) {
	f(n)
	for _, e := range n.elems {
		e.walk(f)
	}
}
func (n *mapLit) walk(f func(Expr)) {
	f(n)
	for _, e := range n.entries {
		e.val.walk(f)
	}
}
func (n *call) walk(f func(Expr)) {
	f(n)
	for _, a := range n.args {
		a.walk(f)
	}
}

func (n *boolOp) String() string {
	l, r := n.left.String(), n.right.String()
	// Left-to-right evaluation makes "a or b or c" need no parentheses, but
	// mixing 'and' and 'or' is spelled out so nobody reads a precedence
	// into it.
	if lb, ok := n.left.(*boolOp); ok && lb.op != n.op {
		l = "(" + l + ")"
	}
	if _, ok := n.right.(*boolOp); ok {
		r = "(" + r + ")"
	}
	return l + " " + n.op + " " + r
}

func (n *compare) String() string {
	r := n.right.String()
	switch n.right.(type) {
	case *boolOp, *compare:
		r = "(" + r + ")"
	}
	return n.left.String() + " " + n.op + " " + r
}

func (n *keywordRef) String() string { return n.name }
func (n *strLit) String() string     { return quote(n.s) }
func (n *boolLit) String() string    { return strconv.FormatBool(n.b) }
func (n *intLit) String() string     { return strconv.FormatInt(n.i, 10) }
func (n *floatLit) String() string   { return formatFloat(n.f) }

func (n *listLit) String() string {
	parts := make([]string, len(n.elems))
	for i, e := range n.elems {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (n *mapLit) String() string {
	entries := slices.Clone(n.entries)
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = e.key + ": " + e.val.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (n *call) String() string {
	parts := make([]string, len(n.args))
	for i, a := range n.args {
		parts[i] = a.String()
	}
	return n.name + "(" + strings.Join(parts, ", ") + ")"
}

// formatFloat renders f so that it lexes back as the same float.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF && t.kind != tError {
		p.i++
	}
	return t
}

// prev returns the token before the current one, or a zero token.
func (p *parser) prev() token {
	if p.i == 0 {
		return token{}
	}
	return p.toks[p.i-1]
}

// errAt reports msg at t; a lexical error at t takes precedence, since it is
// the real reason the parser could not go on.
func errAt(t token, format string, args ...any) error {
	if t.kind == tError {
		return t.err
	}
	return &SyntaxError{Offset: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func errAtPos(pos int, format string, args ...any) error {
	return &SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxDepth {
		return errAt(t, "condition is nested too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

// expression := expression BOOL_OP term | term
func (p *parser) expression() (Expr, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tBoolOp {
		op := p.next()
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		left = &boolOp{op: op.val, left: left, right: right}
	}
	return left, nil
}

// afterTerm explains a token found where 'and', 'or', the end of the
// condition or (inParens) a ')' was expected.
func (p *parser) afterTerm(t token, inParens bool) error {
	want := "'and', 'or' or the end of the condition"
	if inParens {
		want = "'and', 'or' or ')'"
	}
	switch t.kind {
	case tOp:
		return errAt(t, "unexpected %s; only a keyword, a quoted string or a function call can be compared, and a comparison cannot be compared again", t.describe())
	case tRParen:
		return errAt(t, "unexpected ')' without a matching '('")
	case tEOF:
		return errAt(t, "unexpected end of condition; expected %s", want)
	case tIdent:
		if s := suggest(t.text, []string{"and", "or"}); s != "" {
			return errAt(t, "unknown operator %s (did you mean '%s'?)", quote(t.text), s)
		}
	case tString:
		if prev := p.prev(); prev.kind == tString && prev.end == t.pos {
			return errAt(t, "quotes cannot be escaped inside a string; a string ends at the next '")
		}
	}
	return errAt(t, "unexpected %s; expected %s", t.describe(), want)
}

// term := '(' expression ')' | KEYWORD OP STRING | STRING OP KEYWORD |
// STRING OP STRING | basic_val | fun | fun OP term
func (p *parser) term() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind == tRParen {
			return nil, errAt(c, "empty parentheses; expected a condition inside '(' ')'")
		}
		e, err := p.expression()
		if err != nil {
			return nil, err
		}
		switch c := p.peek(); c.kind {
		case tRParen:
			p.next()
		case tEOF:
			return nil, errAt(c, "missing ')' to close the '(' at offset %d", t.pos)
		default:
			return nil, p.afterTerm(c, true)
		}
		p.depth--
		return e, nil

	case tKeyword:
		p.next()
		kw := &keywordRef{name: t.val}
		op := p.peek()
		if op.kind != tOp {
			return nil, errAt(op, "expected an operator (=, !=, =~ or !~) after %s, found %s", quote(t.text), op.describe())
		}
		p.next()
		rhs := p.peek()
		if rhs.kind != tString {
			return nil, p.badRight(op, rhs, false)
		}
		p.next()
		return p.comparison(op, kw, &strLit{s: rhs.val, pos: rhs.pos})

	case tString:
		p.next()
		s := &strLit{s: t.val, pos: t.pos}
		op := p.peek()
		if op.kind != tOp {
			return s, nil
		}
		p.next()
		rhs := p.peek()
		switch rhs.kind {
		case tKeyword:
			p.next()
			return p.comparison(op, s, &keywordRef{name: rhs.val})
		case tString:
			p.next()
			return p.comparison(op, s, &strLit{s: rhs.val, pos: rhs.pos})
		}
		return nil, p.badRight(op, rhs, true)

	case tBool, tInt, tFloat, tLBrack, tLBrace:
		v, err := p.basicVal()
		if err != nil {
			return nil, err
		}
		if op := p.peek(); op.kind == tOp {
			return nil, errAt(op, "unexpected %s after %s; only a keyword, a quoted string or a function call can be compared", op.describe(), t.describe())
		}
		return v, nil

	case tIdent:
		if p.peekAt(1).kind != tLParen {
			return nil, unknownWord(t)
		}
		c, err := p.call()
		if err != nil {
			return nil, err
		}
		op := p.peek()
		if op.kind != tOp {
			return c, nil
		}
		p.next()
		if r := p.peek(); r.kind == tEOF {
			return nil, errAt(r, "expected a value after %s", quote(op.val))
		}
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		return p.comparison(op, c, right)

	case tMapKey:
		return nil, errAt(t, "unexpected %s; 'name:' map keys only appear inside { }", t.describe())
	case tEOF:
		if prev := p.prev(); prev.kind != tEOF {
			return nil, errAt(t, "unexpected end of condition; expected a condition after %s", prev.describe())
		}
		return nil, errAt(t, "empty condition")
	case tOp:
		return nil, errAt(t, "unexpected %s; a comparison needs a keyword, a quoted string or a function call on its left", t.describe())
	case tBoolOp:
		if prev := p.prev(); prev.kind == tBoolOp || prev.kind == tLParen {
			return nil, errAt(t, "unexpected %s; expected a condition after %s", t.describe(), prev.describe())
		}
		return nil, errAt(t, "unexpected %s; expected a condition before it", t.describe())
	case tRParen:
		if prev := p.prev(); prev.kind == tBoolOp {
			return nil, errAt(t, "unexpected ')'; expected a condition after %s", prev.describe())
		}
	}
	return nil, errAt(t, "unexpected %s; expected a condition", t.describe())
}

// badRight explains a token found on the right of op where a string (or,
// when stringLeft, a keyword or a string) was expected.
func (p *parser) badRight(op, rhs token, stringLeft bool) error {
	want := "a quoted string"
	if stringLeft {
		want = "a keyword or a quoted string"
	}
	switch rhs.kind {
	case tBool, tInt, tFloat, tIdent:
		if rhs.kind == tIdent && p.peekAt(1).kind == tLParen {
			break
		}
		return errAt(rhs, "expected %s after %s, found %s; quote it: '%s'", want, quote(op.val), rhs.describe(), rhs.text)
	case tKeyword:
		if !stringLeft {
			return errAt(rhs, "expected a quoted string after %s, found %s; two keywords cannot be compared", quote(op.val), rhs.describe())
		}
	}
	return errAt(rhs, "expected %s after %s, found %s", want, quote(op.val), rhs.describe())
}

// comparison builds a compare node, compiling a literal regular expression
// now so that a bad pattern is reported with its position.
func (p *parser) comparison(op token, left, right Expr) (Expr, error) {
	c := &compare{op: op.val, left: left, right: right}
	if op.val == "=~" || op.val == "!~" {
		if s, ok := right.(*strLit); ok {
			re, err := compileRegex(s.s)
			if err != nil {
				return nil, errAtPos(s.pos, "%v", err)
			}
			c.re = re
		}
	}
	return c, nil
}

// unknownWord explains an identifier that is not followed by '('.
func unknownWord(t token) error {
	w := t.text
	lower := strings.ToLower(w)
	if _, ok := keywords[lower]; ok {
		return errAt(t, "unknown keyword %s; keywords are all lower case or all upper case (did you mean '%s'?)", quote(w), lower)
	}
	if _, ok := booleans[lower]; ok {
		return errAt(t, "unknown keyword %s; booleans are all lower case or all upper case (did you mean '%s'?)", quote(w), lower)
	}
	if _, ok := boolOps[lower]; ok {
		return errAt(t, "unexpected %s; operators are all lower case or all upper case, and a condition must come before '%s'", quote(w), lower)
	}
	if lower == "not" {
		return errAt(t, "there is no NOT operator; negate the comparison instead, with '!=' or '!~'")
	}
	if s := suggest(w, []string{"branch", "tag", "pull_request", "result", "result_reason", "true", "false"}); s != "" {
		return errAt(t, "unknown keyword %s (did you mean '%s'?)", quote(w), s)
	}
	if s := suggest(w, functionNames); s != "" {
		return errAt(t, "unknown keyword %s (did you mean the function '%s(...)'?)", quote(w), s)
	}
	return errAt(t, "unknown keyword %s; expected branch, tag, pull_request, result, result_reason, a quoted string, true, false or a function call", quote(w))
}

// basic_val := STRING | BOOLEAN | INTEGER | FLOAT | list | map
func (p *parser) basicVal() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.next()
		return &strLit{s: t.val, pos: t.pos}, nil
	case tBool:
		p.next()
		return &boolLit{b: t.val == "true", pos: t.pos}, nil
	case tInt:
		p.next()
		i, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, errAt(t, "integer %s is out of range", t.text)
		}
		return &intLit{i: i, pos: t.pos}, nil
	case tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.val, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errAt(t, "number %s is out of range", t.text)
		}
		return &floatLit{f: f, pos: t.pos}, nil
	case tLBrack:
		return p.list()
	case tLBrace:
		return p.mapLiteral()
	case tKeyword:
		return nil, errAt(t, "unexpected %s; lists, maps and function arguments hold only literal values (quoted strings, numbers, booleans, lists and maps)", t.describe())
	case tIdent:
		return nil, errAt(t, "unexpected %s; lists, maps and function arguments hold only literal values; quote it: '%s'", t.describe(), t.text)
	}
	return nil, errAt(t, "unexpected %s; expected a value", t.describe())
}

// list := '[' ']' | '[' basic_val (',' basic_val)* ']'
func (p *parser) list() (Expr, error) {
	open := p.next()
	if err := p.enter(open); err != nil {
		return nil, err
	}
	l := &listLit{pos: open.pos}
	if p.peek().kind == tRBrack {
		p.next()
		p.depth--
		return l, nil
	}
	for {
		if t := p.peek(); t.kind == tRBrack && p.prev().kind == tComma {
			return nil, errAt(t, "unexpected ']'; a trailing comma is not allowed")
		}
		v, err := p.basicVal()
		if err != nil {
			return nil, err
		}
		l.elems = append(l.elems, v)
		switch t := p.next(); t.kind {
		case tComma:
			continue
		case tRBrack:
			p.depth--
			return l, nil
		case tEOF:
			return nil, errAt(t, "missing ']' to close the '[' at offset %d", open.pos)
		default:
			return nil, errAt(t, "unexpected %s in list; expected ',' or ']'", t.describe())
		}
	}
}

// map := '{' '}' | '{' MAP_KEY basic_val (',' MAP_KEY basic_val)* '}'
func (p *parser) mapLiteral() (Expr, error) {
	open := p.next()
	if err := p.enter(open); err != nil {
		return nil, err
	}
	m := &mapLit{pos: open.pos}
	if p.peek().kind == tRBrace {
		p.next()
		p.depth--
		return m, nil
	}
	for {
		k := p.next()
		switch k.kind {
		case tMapKey:
		case tRBrace:
			return nil, errAt(k, "unexpected '}'; a trailing comma is not allowed")
		case tEOF:
			return nil, errAt(k, "missing '}' to close the '{' at offset %d", open.pos)
		case tString:
			return nil, errAt(k, "map keys are not quoted; write %s: value", k.val)
		default:
			if k.kind == tIdent || k.kind == tKeyword || k.kind == tBool || k.kind == tBoolOp {
				return nil, errAt(k, "expected ':' right after the map key %s", quote(k.text))
			}
			return nil, errAt(k, "unexpected %s; expected a map key like default_branch:", k.describe())
		}
		for _, e := range m.entries {
			if e.key == k.val {
				return nil, errAt(k, "duplicate map key %s", quote(k.val))
			}
		}
		if v := p.peek(); v.kind == tComma || v.kind == tRBrace || v.kind == tEOF {
			return nil, errAt(v, "expected a value after %s", quote(k.text))
		}
		v, err := p.basicVal()
		if err != nil {
			return nil, err
		}
		m.entries = append(m.entries, mapEntry{key: k.val, keyPos: k.pos, val: v})
		switch t := p.next(); t.kind {
		case tComma:
			continue
		case tRBrace:
			p.depth--
			return m, nil
		case tEOF:
			return nil, errAt(t, "missing '}' to close the '{' at offset %d", open.pos)
		default:
			return nil, errAt(t, "unexpected %s in map; expected ',' or '}'", t.describe())
		}
	}
}

// functionNames lists the functions a condition may call.
var functionNames = []string{"change_in"}

// fun := IDENT '(' ')' | IDENT '(' basic_val (',' basic_val)* ')'
func (p *parser) call() (Expr, error) {
	name := p.next()
	if strings.ToLower(name.text) == "not" {
		return nil, errAt(name, "there is no NOT operator; negate the comparison instead, with '!=' or '!~'")
	}
	if !slices.Contains(functionNames, name.text) {
		if s := suggest(name.text, functionNames); s != "" {
			return nil, errAt(name, "unknown function %s (did you mean '%s'?)", quote(name.text), s)
		}
		return nil, errAt(name, "unknown function %s; the only function is change_in", quote(name.text))
	}
	open := p.next()
	if err := p.enter(open); err != nil {
		return nil, err
	}
	c := &call{name: name.text, pos: name.pos}
	if p.peek().kind == tRParen {
		p.next()
	} else {
	args:
		for {
			if t := p.peek(); t.kind == tRParen && p.prev().kind == tComma {
				return nil, errAt(t, "unexpected ')'; a trailing comma is not allowed")
			}
			v, err := p.basicVal()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, v)
			switch t := p.next(); t.kind {
			case tComma:
			case tRParen:
				break args
			case tEOF:
				return nil, errAt(t, "missing ')' to close the '(' at offset %d", open.pos)
			default:
				return nil, errAt(t, "unexpected %s in the arguments of %s; expected ',' or ')'", t.describe(), name.text)
			}
		}
	}
	p.depth--
	ci, err := decodeChangeIn(c)
	if err != nil {
		return nil, err
	}
	c.changeIn = ci
	return c, nil
}

// suggest returns the candidate closest to w, when it is close enough to be
// a likely typo, or "".
func suggest(w string, candidates []string) string {
	lw := strings.ToLower(w)
	best, bestD := "", 3
	for _, c := range candidates {
		if lw == c {
			return c
		}
		d := editdist.Distance(lw, c)
		if d < bestD && d <= len(c)/2 {
			best, bestD = c, d
		}
	}
	return best
}
