package pipeline

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewSourceLines(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"lf", "a\nb\n", []string{"a", "b", ""}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b", ""}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"lone cr", "a\rb", []string{"a", "b"}},
		{"unicode breaks", "a\u0085b\u2028c\u2029d", []string{"a", "b", "c", "d"}},
		{"empty", "", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newSource("f", []byte(tt.src)).lines
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestByteCol(t *testing.T) {
	s := newSource("f", []byte(bom+"a: [x]\nname: \"🚀\", y\n"))
	tests := []struct {
		line, col, want int
	}{
		{1, 1, 4},   // after the byte order mark the scanner does not count
		{1, 5, 8},   // x
		{2, 7, 7},   // the opening quote
		{2, 8, 8},   // the rocket
		{2, 9, 12},  // the closing quote, after 4 bytes of rocket
		{2, 30, 33}, // past the end: one byte per column
		{9, 3, 3},   // no such line
		{1, 0, 1},
	}
	for _, tt := range tests {
		if got := s.byteCol(tt.line, tt.col); got != tt.want {
			t.Errorf("byteCol(%d, %d) = %d, want %d", tt.line, tt.col, got, tt.want)
		}
	}
}

func TestScalarOffset(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		col    int
		style  scalarStyle
		value  string
		offset int
		want   int
		wantOK bool
	}{
		{"plain", "when: a = 'b", 7, stylePlain, "a = 'b", 4, 11, true},
		{"plain end", "when: a", 7, stylePlain, "a", 1, 8, true},
		{"plain continued on next line", "when: a", 7, stylePlain, "a b", 2, 0, false},
		{"single doubled quotes", "when: 'x(''a'') y'", 7, styleSingle, "x('a') y", 7, 17, true},
		{"single end", "when: 'ab'", 7, styleSingle, "ab", 2, 10, true},
		{"single multi-line", "when: 'ab", 7, styleSingle, "ab cd", 1, 0, false},
		{"double escapes", `when: "\"v\" \u00e9x"`, 7, styleDouble, "\"v\" éx", 6, 20, true},
		{"double hex", `when: "\x41b"`, 7, styleDouble, "Ab", 1, 12, true},
		{"double bad escape", `when: "\q"`, 7, styleDouble, "q", 0, 0, false},
		{"block", "when: >", 7, styleOther, "x", 0, 0, false},
		{"offset out of range", "when: a", 7, stylePlain, "a", 5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource("f", []byte(tt.line))
			got, ok := s.scalarOffset(1, tt.col, tt.style, tt.value, tt.offset)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("scalarOffset = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
