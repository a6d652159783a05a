package when

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokenKind classifies a token. The set mirrors the terminals of
// renderedtext/when's src/when_lexer.xrl and src/when_parser.yrl.
type tokenKind int

const (
	tEOF tokenKind = iota
	tError
	tLParen
	tRParen
	tLBrack
	tRBrack
	tLBrace
	tRBrace
	tComma
	tOp      // = != =~ !~
	tBoolOp  // and or (val is lower case)
	tKeyword // branch tag pull_request result result_reason (val is lower case)
	tBool    // true false (val is lower case)
	tString  // '…' (val is the text between the quotes)
	tInt
	tFloat
	tIdent
	tMapKey // name: (val is the name without the colon)
)

// token is one lexeme. pos and end are byte offsets into the source.
type token struct {
	kind     tokenKind
	pos, end int
	text     string // the source text of the token
	val      string // the normalised value, see tokenKind
	err      *SyntaxError
}

// describe renders t for an error message.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of condition"
	case tString:
		return "string " + quote(t.val)
	case tInt, tFloat:
		return "number " + t.text
	case tKeyword:
		return "keyword " + quote(t.text)
	case tIdent:
		return quote(t.text)
	default:
		return quote(t.text)
	}
}

// quote wraps s in single quotes, the way the condition language writes
// strings.
func quote(s string) string { return "'" + s + "'" }

var keywords = map[string]string{
	"branch": "branch", "BRANCH": "branch",
	"tag": "tag", "TAG": "tag",
	"pull_request": "pull_request", "PULL_REQUEST": "pull_request",
	"result": "result", "RESULT": "result",
	"result_reason": "result_reason", "RESULT_REASON": "result_reason",
}

var boolOps = map[string]string{"and": "and", "AND": "and", "or": "or", "OR": "or"}

var booleans = map[string]string{"true": "true", "TRUE": "true", "false": "false", "FALSE": "false"}

// lex splits src into tokens. The list always ends with a tEOF token, or
// with a tError token carrying the lexical error, so that the parser reports
// whichever problem comes first in the source.
func lex(src string) []token {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, pos: len(src), end: len(src)})
		}
		t := lexOne(src, i)
		toks = append(toks, t)
		if t.kind == tError {
			return toks
		}
		i = t.end
	}
}

// isSpace reports whether c is one of the whitespace characters the
// upstream lexer skips: space, tab, newline and carriage return.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isIdentChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' || c == '-' }

func lexOne(src string, i int) token {
	mk := func(kind tokenKind, end int, val string) token {
		return token{kind: kind, pos: i, end: end, text: src[i:end], val: val}
	}
	fail := func(format string, args ...any) token {
		return token{kind: tError, pos: i, end: i, err: &SyntaxError{Offset: i, Msg: fmt.Sprintf(format, args...)}}
	}
	next := byte(0)
	if i+1 < len(src) {
		next = src[i+1]
	}
	c := src[i]
	switch {
	case c == '(':
		return mk(tLParen, i+1, "(")
	case c == ')':
		return mk(tRParen, i+1, ")")
	case c == '[':
		return mk(tLBrack, i+1, "[")
	case c == ']':
		return mk(tRBrack, i+1, "]")
	case c == '{':
		return mk(tLBrace, i+1, "{")
	case c == '}':
		return mk(tRBrace, i+1, "}")
	case c == ',':
		return mk(tComma, i+1, ",")
	case c == '=' && next == '~':
		return mk(tOp, i+2, "=~")
	case c == '=' && next == '=':
		return fail("'==' is not an operator; use '=' to compare")
	case c == '=':
		return mk(tOp, i+1, "=")
	case c == '!' && (next == '=' || next == '~'):
		return mk(tOp, i+2, src[i:i+2])
	case c == '!':
		return fail("there is no '!' (NOT) operator; use '!=' or '!~' to negate a comparison")
	case c == '&':
		return fail("unexpected '&'; use 'and' to combine conditions")
	case c == '|':
		return fail("unexpected '|'; use 'or' to combine conditions")
	case c == '<' || c == '>':
		return fail("unexpected %q; only =, !=, =~ and !~ compare values", string(c))
	case c == ':':
		return fail("unexpected ':'; a map key is written directly before its colon, like {default_branch: 'main'}")
	case c == '"':
		return fail("double-quoted strings are not supported; use single quotes")
	case c == '`':
		return fail("backquoted strings are not supported; use single quotes")
	case c == '\'':
		return lexString(src, i)
	case c == '-' || isDigit(c):
		return lexNumber(src, i)
	case isLetter(c):
		j := i + 1
		for j < len(src) && isIdentChar(src[j]) {
			j++
		}
		word := src[i:j]
		// The upstream lexer takes the longest match, so "name:" is a map key
		// wherever it appears, and "branches" is an identifier, not "branch".
		if j < len(src) && src[j] == ':' {
			return mk(tMapKey, j+1, word)
		}
		if v, ok := keywords[word]; ok {
			return mk(tKeyword, j, v)
		}
		if v, ok := boolOps[word]; ok {
			return mk(tBoolOp, j, v)
		}
		if v, ok := booleans[word]; ok {
			return mk(tBool, j, v)
		}
		return mk(tIdent, j, word)
	case c == '_':
		return fail("unexpected '_'; names start with a letter")
	case c < utf8.RuneSelf:
		return fail("unexpected character %q", string(c))
	}
	r, size := utf8.DecodeRuneInString(src[i:])
	if r == utf8.RuneError && size == 1 {
		return fail("invalid UTF-8 byte 0x%02x", c)
	}
	return fail("unexpected character %q", string(r))
}

func lexString(src string, i int) token {
	j := strings.IndexByte(src[i+1:], '\'')
	if j < 0 {
		return token{kind: tError, pos: i, end: i, err: &SyntaxError{Offset: i, Msg: "unterminated string; add the closing '"}}
	}
	end := i + 1 + j + 1
	if j == 0 {
		msg := "'' (empty string) is not allowed"
		if k := i + 2; k < len(src) && !isSpace(src[k]) && !strings.ContainsRune(")]},", rune(src[k])) {
			// As in change_in(''/lib''): YAML's doubled quotes, which only
			// mean a quote inside a single-quoted YAML string.
			msg += "; write 'text' with single quotes once (doubling them, '', is YAML's escape inside a single-quoted YAML string only)"
		}
		return token{kind: tError, pos: i, end: i, err: &SyntaxError{Offset: i, Msg: msg}}
	}
	return token{kind: tString, pos: i, end: end, text: src[i:end], val: src[i+1 : end-1]}
}

func lexNumber(src string, i int) token {
	fail := func(msg string) token {
		return token{kind: tError, pos: i, end: i, err: &SyntaxError{Offset: i, Msg: msg}}
	}
	j := i
	if src[j] == '-' {
		j++
		if j >= len(src) || !isDigit(src[j]) {
			return fail("unexpected '-'; a minus sign must be directly followed by a digit")
		}
	}
	start := j
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	if src[start] == '0' && j-start > 1 {
		return fail(fmt.Sprintf("malformed number %q: leading zeros are not allowed", src[i:j]))
	}
	if j < len(src) && src[j] == '.' {
		if j+1 >= len(src) || !isDigit(src[j+1]) {
			return fail(fmt.Sprintf("malformed number %q: a digit must follow '.'", src[i:j+1]))
		}
		j++
		for j < len(src) && isDigit(src[j]) {
			j++
		}
		return token{kind: tFloat, pos: i, end: j, text: src[i:j], val: src[i:j]}
	}
	return token{kind: tInt, pos: i, end: j, text: src[i:j], val: src[i:j]}
}
