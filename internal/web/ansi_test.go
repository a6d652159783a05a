package web

import "testing"

func TestANSIHTML(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text is escaped", `a <b> & "c"`, `a &lt;b&gt; &amp; &#34;c&#34;`},
		{"16 colours and reset", "\x1b[31mred\x1b[0m \x1b[92mbright\x1b[m", `<span class="c1">red</span> <span class="c10">bright</span>`},
		{"bold and colour together", "\x1b[1;34mB\x1b[22mN", `<span class="c4 bold">B</span><span class="c4">N</span>`},
		{"256 colours", "\x1b[38;5;196mX\x1b[38;5;3mY\x1b[38;5;244mZ", `<span style="color:#ff0000">X</span><span class="c3">Y</span><span style="color:#808080">Z</span>`},
		{"true colour fg and bg", "\x1b[38;2;1;2;3;48;2;255;255;0mT", `<span style="color:#010203;background-color:#ffff00">T</span>`},
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
