package web

import (
	"fmt"
	"strings"
	"testing"
)

func TestANSIHTML(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text is escaped", `a <b> & "c"`, `a &lt;b&gt; &amp; &#34;c&#34;`},
		{"16 colours and reset", "\x1b[31mred\x1b[0m \x1b[92mbright\x1b[m", `<span class="c1">red</span> <span class="c10">bright</span>`},
		{"bold and colour together", "\x1b[1;34mB\x1b[22mN", `<span class="c4 bold">B</span><span class="c4">N</span>`},
		{"256 colours", "\x1b[38;5;196mX\x1b[38;5;3mY\x1b[38;5;244mZ", `<span class="x196">X</span><span class="c3">Y</span><span class="x244">Z</span>`},
		{"256 colour backgrounds", "\x1b[48;5;3mA\x1b[48;5;250mB", `<span class="b3">A</span><span class="y250">B</span>`},
		{"true colour fg and bg, nearest of the 256", "\x1b[38;2;1;2;3;48;2;255;255;0mT", `<span class="x16 y226">T</span>`},
		{"true colour grey", "\x1b[38;2;128;128;128mG", `<span class="x244">G</span>`},
		{"backgrounds", "\x1b[41mR\x1b[49m", `<span class="b1">R</span>`},
		{"other escapes dropped", "\x1b[2K\x1b]0;title\x07done\x1b[?25h", `done`},
		{"escaped text inside colour", "\x1b[33m<warn>\x1b[0m", `<span class="c3">&lt;warn&gt;</span>`},
		{"malformed parameters ignored", "\x1b[38;5mA\x1b[38;2;300;0;0mB", `AB`},
		{"unterminated escape", "ok\x1b[31", `ok`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(ansiHTML(tt.in)); got != tt.want {
				t.Errorf("ansiHTML(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestANSIStylesheetHasEveryColour checks log.css has a rule for each
// colour class ansiHTML and log.js give: colours are classes because the
// pages' Content-Security-Policy allows no style attribute.
func TestANSIStylesheetHasEveryColour(t *testing.T) {
	css, err := static.ReadFile("static/log.css")
	if err != nil {
		t.Fatal(err)
	}
	for n := 16; n < 256; n++ {
		for _, rule := range []string{fmt.Sprintf(".x%d { color: %s; }", n, xterm256(n)), fmt.Sprintf(".y%d { background: %s; }", n, xterm256(n))} {
			if !strings.Contains(string(css), rule) {
				t.Errorf("log.css lacks %s", rule)
			}
		}
	}
}
