package pipeline

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// unknownEscapeError is the YAML library's message for a backslash escape
// in a double-quoted string that YAML does not define ("\d").
const unknownEscapeError = "found unknown escape character"

// maxEscapeFixes bounds how many double-quoted strings are rewritten, as
// each one costs a new parse of the file; maxEscapeReparse bounds the bytes
// parsed again in all, so a large file cannot multiply the work by 200.
const (
	maxEscapeFixes   = 200
	maxEscapeReparse = 8 << 20
)

// escapeEdit is a backslash removed from the source: its 1-based line, its
// column in characters (as the YAML scanner counts) and in bytes.
type escapeEdit struct {
	line, col, byteCol int
	char               rune // the escaped character
}

// yamlDefinedEscape reports whether YAML 1.2 defines the escape "\c". The
// YAML library lacks "\/", which is rewritten like the unknown ones but
// without a warning.
func yamlDefinedEscape(c byte) bool {
	return strings.IndexByte("0abt\tnvfre \"'\\/N_LPxuU", c) >= 0
}

// dropUnknownEscapes rewrites the double-quoted string that the YAML library
// refused with an unknown escape: Semaphore keeps the escaped character and
// drops the backslash. errLine is the line the library named (where the
// string starts, or 0). It returns the source without those backslashes
// and the edits, or ok false when the string cannot be found.
func dropUnknownEscapes(src []byte, errLine int) (fixed []byte, edits []escapeEdit, ok bool) {
	text := string(src)
	for _, line := range []int{errLine, 1} {
		if line < 1 {
			continue
		}
		start, found := lineStart(text, line)
		if !found {
			continue
		}
		if edits := scanQuotedLine(text, start, line); len(edits) > 0 {
			return removeBackslashes(text, edits), edits, true
		}
	}
	return nil, nil, false
}

// lineStart returns the byte offset of the 1-based line n of text.
func lineStart(text string, n int) (int, bool) {
	line := 1
	for i := 0; i < len(text); {
		if line == n {
			return i, true
		}
		if l := lineBreakLen(text[i:]); l > 0 {
			i += l
			line++
			continue
		}
		i++
	}
	return len(text), line == n
}

// scanQuotedLine walks the double-quoted strings that start on the line at
// offset start and returns the escapes to rewrite in the first one that
// holds an unknown escape; nil when none does.
func scanQuotedLine(text string, start, line int) []escapeEdit {
	i := start
	for i < len(text) && lineBreakLen(text[i:]) == 0 {
		if text[i] == '#' && (i == start || text[i-1] == ' ' || text[i-1] == '\t') {
			return nil // a comment
		}
		if text[i] != '"' {
			i++
			continue
		}
		edits, end := scanQuoted(text, i+1, start, line)
		if len(edits) > 0 {
			return edits
		}
		if end < 0 {
			return nil
		}
		i = end + 1
		if l, _ := lineStart(text, line+1); end >= l && l > start {
			return nil // the string ran past the line
		}
	}
	return nil
}

// scanQuoted reads a double-quoted string's body from offset i (after the
// opening quote) on the line that starts at lineOff. It returns the escapes
// the library refuses (unknown ones and "\/") and the offset of the closing
// quote (-1 when none).
func scanQuoted(text string, i, lineOff, line int) (edits []escapeEdit, end int) {
	for i < len(text) {
		if l := lineBreakLen(text[i:]); l > 0 {
			i += l
			line++
			lineOff = i
			continue
		}
		switch text[i] {
		case '"':
			return edits, i
		case '\\':
			if i+1 >= len(text) {
				return edits, -1
			}
			if lineBreakLen(text[i+1:]) > 0 {
				i++
				continue
			}
			c, size := utf8.DecodeRuneInString(text[i+1:])
			if c >= utf8.RuneSelf || !yamlDefinedEscape(byte(c)) || c == '/' {
				prefix := text[lineOff:i]
				col := utf8.RuneCountInString(strings.TrimPrefix(prefix, bom)) + 1
				edits = append(edits, escapeEdit{line: line, col: col, byteCol: len(prefix) + 1, char: c})
			}
			i += 1 + size
		default:
			i++
		}
	}
	return edits, -1
}

// removeBackslashes deletes the backslash of every edit from text.
func removeBackslashes(text string, edits []escapeEdit) []byte {
	drop := map[int]bool{}
	for _, e := range edits {
		off, _ := lineStart(text, e.line)
		drop[off+e.byteCol-1] = true
	}
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		if !drop[i] {
			out = append(out, text[i])
		}
	}
	return out
}

// toOriginal converts edits found in source already rewritten by earlier
// edits (in original coordinates) to original coordinates, and returns all
// of them sorted by line and column.
func toOriginal(earlier, found []escapeEdit) []escapeEdit {
	out := slices.Clone(earlier)
	for _, f := range found {
		for _, e := range earlier { // sorted
			if e.line != f.line {
				continue
			}
			if e.col <= f.col {
				f.col++
			}
			if e.byteCol <= f.byteCol {
				f.byteCol++
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b escapeEdit) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col))
	})
	return out
}

// restoreColumns moves the nodes of a document parsed from rewritten source
// back to their columns in the original source.
func restoreColumns(n *yaml.Node, edits []escapeEdit) {
	if len(edits) == 0 {
		return
	}
	byLine := map[int][]int{}
	for _, e := range edits {
		byLine[e.line] = append(byLine[e.line], e.col) // ascending per line
	}
	seen := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		c := n.Column
		for _, e := range byLine[n.Line] {
			if e <= c {
				c++
			}
		}
		n.Column = c
		for _, k := range n.Content {
			walk(k)
		}
	}
	walk(n)
}
