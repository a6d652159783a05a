package when

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// Input is what a condition is evaluated against.
type Input struct {
	// Branch, Tag and PullRequest are the values of the branch, tag and
	// pull_request keywords: exactly one is non-empty for a git event (the
	// branch name, the tag name, or the pull request number as a string).
	// On a pull request Branch is empty, so branch = 'master' is false there.
	Branch, Tag, PullRequest string
	// Result and ResultReason are the finished pipeline's result and its
	// reason; only auto-promotions have them.
	Result, ResultReason string
	// ChangeIn evaluates a change_in call. Nil means change_in is not
	// available; evaluating one is then an error wrapping
	// ErrChangeInUnavailable.
	ChangeIn func(ChangeInCall) (bool, error)
}

// ErrChangeInUnavailable is wrapped by the error Eval returns when the
// condition calls change_in and Input.ChangeIn is nil.
var ErrChangeInUnavailable = errors.New("change_in is not available here")

// regexTimeout bounds one regular expression match, so that a
// catastrophically backtracking pattern fails the condition instead of
// hanging the server. Branch and tag names are short; real matches take
// microseconds.
const regexTimeout = time.Second

// compileRegex compiles a =~ / !~ pattern. Semaphore uses Erlang's PCRE;
// regexp2 is the closest backtracking engine in Go (lookarounds,
// backreferences, atomic groups, inline flags).
func compileRegex(pattern string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %s: %v", quote(pattern), err)
	}
	re.MatchTimeout = regexTimeout
	return re, nil
}

// matchRegex reports whether re finds a match anywhere in s.
func matchRegex(re *regexp2.Regexp, s string) (bool, error) {
	ok, err := re.MatchString(s)
	if err != nil {
		return false, fmt.Errorf("regular expression %s on %s: %w", quote(re.String()), quote(s), err)
	}
	return ok, nil
}

// Eval evaluates e against in. 'and' and 'or' evaluate both sides, as
// upstream does, so an error never depends on the order of the operands.
// Errors come from change_in (unavailable, or its callback failed), from a
// regular expression that is not a literal (for example 'v1' =~ tag, where
// the tag is the pattern) failing to compile or timing out, and from =~ on
// a value that is not a string.
func Eval(e Expr, in Input) (bool, error) {
	if e == nil {
		return false, errors.New("evaluate condition: nil expression")
	}
	v, err := eval(e, &in)
	if err != nil {
		return false, err
	}
	return v.truthy(), nil
}

// valueKind is the type of a runtime value.
type valueKind int

const (
	vString valueKind = iota
	vBool
	vInt
	vFloat
	vList
	vMap
)

func (k valueKind) String() string {
	return [...]string{"a string", "a boolean", "an integer", "a number", "a list", "a map"}[k]
}

type value struct {
	kind valueKind
	s    string
	b    bool
	i    int64
	f    float64
	list []value
	m    map[string]value
}

// truthy converts v to a boolean the way renderedtext/when does: false is
// false, the string 'false' is false, negative numbers are false, empty lists
// and maps are false, and everything else is true.
func (v value) truthy() bool {
	switch v.kind {
	case vBool:
		return v.b
	case vString:
		return v.s != "false"
	case vInt:
		return v.i >= 0
	case vFloat:
		return v.f >= 0
	case vList:
		return len(v.list) > 0
	default:
		return len(v.m) > 0
	}
}

// equal is the = operator. The grammar only lets it compare two strings
// (keywords and string literals) or a function's boolean result with a
// literal. Strings compare exactly; a boolean equals the string 'true' or
// 'false' naming it, because upstream reads those two string literals as
// booleans (so change_in('/a') = 'true' works); other values never equal a
// boolean.
func equal(a, b value) bool {
	if a.kind == vBool && b.kind == vString {
		a, b = b, a
	}
	switch {
	case a.kind == vString && b.kind == vString:
		return a.s == b.s
	case a.kind == vString && b.kind == vBool:
		return a.s == strconv.FormatBool(b.b)
	case a.kind == vBool && b.kind == vBool:
		return a.b == b.b
	}
	return false
}

func eval(e Expr, in *Input) (value, error) {
	switch n := e.(type) {
	case *boolOp:
		l, errL := eval(n.left, in)
		r, errR := eval(n.right, in)
		if errL != nil {
			return value{}, errL
		}
		if errR != nil {
			return value{}, errR
		}
		if n.op == "and" {
			return value{kind: vBool, b: l.truthy() && r.truthy()}, nil
		}
		return value{kind: vBool, b: l.truthy() || r.truthy()}, nil
	case *compare:
		return evalCompare(n, in)
	case *keywordRef:
		return value{kind: vString, s: keywordValue(n.name, in)}, nil
	case *strLit:
		return value{kind: vString, s: n.s}, nil
	case *boolLit:
		return value{kind: vBool, b: n.b}, nil
	case *intLit:
		return value{kind: vInt, i: n.i}, nil
	case *floatLit:
		return value{kind: vFloat, f: n.f}, nil
	case *listLit:
		l := make([]value, len(n.elems))
		for i, el := range n.elems {
			v, err := eval(el, in)
			if err != nil {
				return value{}, err
			}
			l[i] = v
		}
		return value{kind: vList, list: l}, nil
	case *mapLit:
		m := make(map[string]value, len(n.entries))
		for _, ent := range n.entries {
			v, err := eval(ent.val, in)
			if err != nil {
				return value{}, err
			}
			m[ent.key] = v
		}
		return value{kind: vMap, m: m}, nil
	case *call:
		return evalCall(n, in)
	}
	return value{}, fmt.Errorf("evaluate condition: unexpected node %T", e)
}

func keywordValue(name string, in *Input) string {
	switch name {
	case "branch":
		return in.Branch
	case "tag":
		return in.Tag
	case "pull_request":
		return in.PullRequest
	case "result":
		return in.Result
	default:
		return in.ResultReason
	}
}

func evalCompare(n *compare, in *Input) (value, error) {
	l, err := eval(n.left, in)
	if err != nil {
		return value{}, err
	}
	r, err := eval(n.right, in)
	if err != nil {
		return value{}, err
	}
	var b bool
	switch n.op {
	case "=":
		b = equal(l, r)
	case "!=":
		b = !equal(l, r)
	default: // =~ and !~: the right side is the pattern, the left the text.
		re := n.re
		if re == nil {
			if r.kind != vString {
				return value{}, fmt.Errorf("%s: the pattern on the right of %s must be a string, not %s", n, n.op, r.kind)
			}
			if re, err = compileRegex(r.s); err != nil {
				return value{}, fmt.Errorf("%s: %w", n, err)
			}
		}
		if l.kind != vString {
			return value{}, fmt.Errorf("%s: the left side of %s must be a string, not %s", n, n.op, l.kind)
		}
		// An empty value never matches, so tag =~ '.*' means "this is a tag".
		matched := false
		if l.s != "" {
			if matched, err = matchRegex(re, l.s); err != nil {
				return value{}, fmt.Errorf("%s: %w", n, err)
			}
		}
		b = matched == (n.op == "=~")
	}
	return value{kind: vBool, b: b}, nil
}

func evalCall(n *call, in *Input) (value, error) {
	// Parse accepts no other function, and decodes change_in's arguments.
	if in.ChangeIn == nil {
		return value{}, fmt.Errorf("%s: %w", n, ErrChangeInUnavailable)
	}
	b, err := in.ChangeIn(n.changeIn.clone())
	if err != nil {
		return value{}, fmt.Errorf("%s: %w", n, err)
	}
	return value{kind: vBool, b: b}, nil
}

// UsesResult reports whether the expression refers to result or
// result_reason.
func UsesResult(e Expr) bool {
	found := false
	if e != nil {
		e.walk(func(x Expr) {
			if k, ok := x.(*keywordRef); ok && (k.name == "result" || k.name == "result_reason") {
				found = true
			}
		})
	}
	return found
}

// UsesChangeIn reports whether the expression calls change_in.
func UsesChangeIn(e Expr) bool { return len(ChangeInCalls(e)) > 0 }

// ChangeInCalls returns the expression's change_in calls, decoded, in
// source order. An init step can compute each one (see Range and Match) and
// later answer Input.ChangeIn from the results, keyed by ChangeInCall.String.
func ChangeInCalls(e Expr) []ChangeInCall {
	var calls []ChangeInCall
	if e != nil {
		e.walk(func(x Expr) {
			if c, ok := x.(*call); ok && c.changeIn != nil {
				calls = append(calls, c.changeIn.clone())
			}
		})
	}
	return calls
}
