package pipeline

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ANSI escapes used by Format.
const (
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiBlue  = "\x1b[34m"
	ansiReset = "\x1b[0m"
)

// Format renders each diagnostic as "file:line:col: message" followed, when
// its source line is known, by the line and a caret under the column, the
// way compilers do:
//
//	.semaphore/semaphore.yml:12:9: unknown key "comands" in job "Test" (did you mean "commands"?)
//	   12 |         comands:
//	      |         ^
//
// With color, the location is bold, the caret red and the gutter blue
// (ANSI escapes, for terminals).
func (ds Diagnostics) Format(color bool) string {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for _, d := range ds {
		loc := d.Pos.File + ":" + strconv.Itoa(d.Pos.Line) + ":" + strconv.Itoa(d.Pos.Col) + ":"
		b.WriteString(paint(ansiBold, loc))
		b.WriteString(" " + d.Message + "\n")
		if d.Source == "" {
			continue
		}
		num := strconv.Itoa(d.Pos.Line)
		width := max(len(num), 4)
		gutter := strings.Repeat(" ", width-len(num)) + num + " |"
		blank := strings.Repeat(" ", width) + " |"
		b.WriteString(paint(ansiBlue, gutter) + " " + sanitize(d.Source) + "\n")
		b.WriteString(paint(ansiBlue, blank) + " " + caretPad(d.Source, d.Pos.Col) + paint(ansiRed, "^") + "\n")
	}
	return b.String()
}

// sanitize replaces control characters (other than tab) so that a quoted
// line cannot move the terminal's cursor.
func sanitize(line string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && unicode.IsControl(r) {
			return '?'
		}
		return r
	}, line)
}

// caretPad returns the padding that puts a caret under byte column col of
// line: tabs are kept, and each character counts its display width.
func caretPad(line string, col int) string {
	var b strings.Builder
	for i := 0; i < len(line) && i < col-1; {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == '\t':
			b.WriteByte('\t')
		default:
			b.WriteString(strings.Repeat(" ", runeWidth(r)))
		}
		i += size
	}
	if col-1 > len(line) {
		b.WriteString(strings.Repeat(" ", col-1-len(line)))
	}
	return b.String()
}

// runeWidth approximates how many terminal cells r takes: 0 for combining
// marks and joiners, 2 for wide East Asian characters and emoji, else 1.
func runeWidth(r rune) int {
	switch {
	case r == 0x200D, r >= 0xFE00 && r <= 0xFE0F, unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r):
		return 0
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F, r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6, r >= 0x1F300 && r <= 0x1FAFF, r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}
