package pipeline

import (
	"strings"
	"unicode/utf8"
)

// source is one file's text split into lines the way the YAML scanner counts
// them, so that node positions can be turned into byte columns and
// diagnostics can quote their line.
type source struct {
	file  string
	lines []string // without line endings
}

const bom = "\uFEFF"

// newSource splits src at every line break the YAML scanner recognises:
// CRLF, LF, CR, NEL (U+0085), LS (U+2028) and PS (U+2029).
func newSource(file string, src []byte) *source {
	s := &source{file: file}
	text := string(src)
	start := 0
	for i := 0; i < len(text); {
		n := lineBreakLen(text[i:])
		if n == 0 {
			i++
			continue
		}
		s.lines = append(s.lines, text[start:i])
		i += n
		start = i
	}
	s.lines = append(s.lines, text[start:])
	return s
}

// lineBreakLen returns the length of the line break at the start of s, or 0.
func lineBreakLen(s string) int {
	switch {
	case strings.HasPrefix(s, "\r\n"):
		return 2
	case s[0] == '\n' || s[0] == '\r':
		return 1
	case strings.HasPrefix(s, "\u0085"):
		return 2
	case strings.HasPrefix(s, "\u2028"), strings.HasPrefix(s, "\u2029"):
		return 3
	}
	return 0
}

// line returns the text of the 1-based line n, or "" when out of range.
func (s *source) line(n int) string {
	if n < 1 || n > len(s.lines) {
		return ""
	}
	return s.lines[n-1]
}

// byteCol converts the scanner's 1-based column, which counts characters,
// into a 1-based column counting bytes. The scanner skips a leading byte
// order mark without counting it.
func (s *source) byteCol(line, col int) int {
	if col < 1 {
		return 1
	}
	text := s.line(line)
	skip := 0
	if line == 1 && strings.HasPrefix(text, bom) {
		skip = len(bom)
	}
	b := skip
	for i := 1; i < col; i++ {
		if b >= len(text) {
			// Past the end of the line (the scanner's position after the
			// last character): keep counting one byte per column.
			b += col - i
			break
		}
		_, size := utf8.DecodeRuneInString(text[b:])
		b += size
	}
	return b + 1
}

// scalarOffset maps offset, a byte offset into a scalar's value, to a byte
// column on the scalar's first line. It succeeds only when the scalar is
// written on a single line as plain, single-quoted or double-quoted text,
// which it verifies by decoding the raw text and comparing it with value.
func (s *source) scalarOffset(line, byteCol int, style scalarStyle, value string, offset int) (int, bool) {
	text := s.line(line)
	if byteCol < 1 || byteCol > len(text) || offset < 0 || offset > len(value) {
		return 0, false
	}
	raw := text[byteCol-1:]
	switch style {
	case stylePlain:
		if !strings.HasPrefix(raw, value) {
			return 0, false
		}
		return byteCol + offset, true
	case styleSingle, styleDouble:
		rawOffsets, decoded, ok := decodeQuoted(raw, style)
		if !ok || decoded != value {
			return 0, false
		}
		return byteCol + rawOffsets[offset], true
	}
	return 0, false
}

// scalarStyle is the subset of YAML scalar styles scalarOffset understands.
type scalarStyle int

const (
	styleOther scalarStyle = iota
	stylePlain
	styleSingle
	styleDouble
)

// decodeQuoted decodes the quoted scalar at the start of raw (which begins
// with its opening quote) up to its closing quote on the same line. It
// returns, for every byte offset of the decoded value (and one past its end),
// the offset in raw where that byte's source starts.
func decodeQuoted(raw string, style scalarStyle) (rawOffsets []int, decoded string, ok bool) {
	quote := byte('\'')
	if style == styleDouble {
		quote = '"'
	}
	if raw == "" || raw[0] != quote {
		return nil, "", false
	}
	var b strings.Builder
	i := 1
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == quote && style == styleSingle && i+1 < len(raw) && raw[i+1] == '\'':
			rawOffsets = append(rawOffsets, i)
			b.WriteByte('\'')
			i += 2
		case c == quote:
			rawOffsets = append(rawOffsets, i)
			return rawOffsets, b.String(), true
		case c == '\\' && style == styleDouble:
			piece, n, ok := unescape(raw[i:])
			if !ok {
				return nil, "", false
			}
			for range len(piece) {
				rawOffsets = append(rawOffsets, i)
			}
			b.WriteString(piece)
			i += n
		default:
			rawOffsets = append(rawOffsets, i)
			b.WriteByte(c)
			i++
		}
	}
	return nil, "", false // no closing quote on this line
}

// unescape decodes the double-quoted escape sequence at the start of s. It
// returns the decoded text and the number of bytes consumed.
func unescape(s string) (string, int, bool) {
	if len(s) < 2 {
		return "", 0, false
	}
	if v := simpleEscape(s[1]); v != "" {
		return v, 2, true
	}
	digits := 0
	switch s[1] {
	case 'x':
		digits = 2
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	default:
		return "", 0, false
	}
	if len(s) < 2+digits {
		return "", 0, false
	}
	var r rune
	for i := 2; i < 2+digits; i++ {
		v, ok := hexValue(s[i])
		if !ok {
			return "", 0, false
		}
		r = r<<4 | v
	}
	if !utf8.ValidRune(r) {
		return "", 0, false
	}
	return string(r), 2 + digits, true
}

// simpleEscape returns what the one-character escape \c stands for, or "".
func simpleEscape(c byte) string {
	switch c {
	case '0':
		return "\x00"
	case 'a':
		return "\a"
	case 'b':
		return "\b"
	case 't', '\t':
		return "\t"
	case 'n':
		return "\n"
	case 'v':
		return "\v"
	case 'f':
		return "\f"
	case 'r':
		return "\r"
	case 'e':
		return "\x1b"
	case ' ', '"', '/', '\\':
		return string(c)
	case 'N':
		return "\u0085"
	case '_':
		return "\u00a0"
	case 'L':
		return "\u2028"
	case 'P':
		return "\u2029"
	}
	return ""
}

func hexValue(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}
