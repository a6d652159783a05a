package web

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
)

// ansiHTML renders a log line with ANSI SGR escapes as HTML: text escaped,
// colours as spans. It understands what build tools print: the 16 colours
// (30–37, 90–97 and their backgrounds, as classes c0–c15 and b0–b15),
// 256 colours (38;5;n and 48;5;n, as classes x16–x255 and y16–y255) and
// true colour (38;2;r;g;b and 48;…, as the class of the nearest of the 256),
// bold, italic, underline and the resets. Other escape sequences are
// dropped. The state starts afresh on every line, as log.js does, because
// a viewer that loads ranges cannot know the lines before.
func ansiHTML(line string) template.HTML {
	if !strings.Contains(line, "\x1b") {
		return template.HTML(template.HTMLEscapeString(line))
	}
	var b strings.Builder
	var st sgr
	open := false
	flush := func(text string) {
		if text == "" {
			return
		}
		if !open && !st.zero() {
			b.WriteString(st.span())
			open = true
		}
		b.WriteString(template.HTMLEscapeString(text))
	}
	for line != "" {
		i := strings.IndexByte(line, 0x1b)
		if i < 0 {
			flush(line)
			break
		}
		flush(line[:i])
		line = line[i:]
		params, final, n := escape(line)
		line = line[n:]
		if final != 'm' {
			continue
		}
		if open {
			b.WriteString("</span>")
			open = false
		}
		st.apply(params)
	}
	if open {
		b.WriteString("</span>")
	}
	return template.HTML(b.String())
}

// escape reads the escape sequence at the start of s (s[0] is ESC): a CSI
// sequence's parameters and final byte, or final 0 for anything else. n is
// its length.
func escape(s string) (params string, final byte, n int) {
	if len(s) < 2 {
		return "", 0, len(s)
	}
	switch s[1] {
	case '[':
		for j := 2; j < len(s); j++ {
			if c := s[j]; c >= 0x40 && c <= 0x7e {
				return s[2:j], c, j + 1
			}
		}
		return "", 0, len(s)
	case ']': // OSC, ended by BEL or ESC \
		for j := 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return "", 0, j + 1
			}
			if s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\' {
				return "", 0, j + 2
			}
		}
		return "", 0, len(s)
	}
	return "", 0, 2
}

// sgr is the graphic state: a colour is "" (default) or a class: "cN"/"bN"
// (foreground/background of the 16 colours) or "xN"/"yN" (of the 256).
// Colours are never styles: the Content-Security-Policy allows no style
// attribute.
type sgr struct {
	fg, bg                  string
	bold, italic, underline bool
}

func (s sgr) zero() bool { return s == sgr{} }

func (s *sgr) apply(params string) {
	if params == "" {
		*s = sgr{}
		return
	}
	ps := strings.Split(params, ";")
	for i := 0; i < len(ps); i++ {
		p, err := strconv.Atoi(ps[i])
		if err != nil && ps[i] != "" {
			continue
		}
		switch {
		case p == 0:
			*s = sgr{}
		case p == 1:
			s.bold = true
		case p == 3:
			s.italic = true
		case p == 4:
			s.underline = true
		case p == 22:
			s.bold = false
		case p == 23:
			s.italic = false
		case p == 24:
			s.underline = false
		case p >= 30 && p <= 37:
			s.fg = "c" + strconv.Itoa(p-30)
		case p >= 90 && p <= 97:
			s.fg = "c" + strconv.Itoa(p-90+8)
		case p == 39:
			s.fg = ""
		case p >= 40 && p <= 47:
			s.bg = "b" + strconv.Itoa(p-40)
		case p >= 100 && p <= 107:
			s.bg = "b" + strconv.Itoa(p-100+8)
		case p == 49:
			s.bg = ""
		case p == 38 || p == 48:
			n, used := extendedColour(ps[i+1:])
			i += used
			if p == 38 {
				s.fg = colourClass(n, "c", "x")
			} else {
				s.bg = colourClass(n, "b", "y")
			}
		}
	}
}

// colourClass is the class of xterm colour n (0–255): low+n for the 16,
// high+n for the others; "" for none (n < 0).
func colourClass(n int, low, high string) string {
	switch {
	case n < 0:
		return ""
	case n < 16:
		return low + strconv.Itoa(n)
	}
	return high + strconv.Itoa(n)
}

// extendedColour reads "5;n" or "2;r;g;b" and returns the xterm colour
// (a true colour becomes the nearest of the 256; -1 for none) and how many
// parameters it used.
func extendedColour(ps []string) (int, int) {
	num := func(k int) int {
		if k >= len(ps) {
			return -1
		}
		n, err := strconv.Atoi(ps[k])
		if err != nil || n < 0 || n > 255 {
			return -1
		}
		return n
	}
	if len(ps) == 0 {
		return -1, 0
	}
	switch ps[0] {
	case "5":
		n := num(1)
		if n < 0 {
			return -1, min(len(ps), 2)
		}
		return n, 2
	case "2":
		r, g, b := num(1), num(2), num(3)
		if r < 0 || g < 0 || b < 0 {
			return -1, min(len(ps), 4)
		}
		return nearestXterm(r, g, b), 4
	}
	return -1, 1
}

// cubeLevels are the channel values of the xterm 6×6×6 colour cube.
var cubeLevels = [6]int{0, 95, 135, 175, 215, 255}

// nearestXterm is the xterm colour 16–255 closest to r, g, b: the nearest
// cube colour or the nearest grey, whichever is closer.
func nearestXterm(r, g, b int) int {
	level := func(v int) int {
		best := 0
		for i, l := range cubeLevels {
			if abs(v-l) < abs(v-cubeLevels[best]) {
				best = i
			}
		}
		return best
	}
	dist := func(r2, g2, b2 int) int { return (r-r2)*(r-r2) + (g-g2)*(g-g2) + (b-b2)*(b-b2) }
	ri, gi, bi := level(r), level(g), level(b)
	cube := 16 + 36*ri + 6*gi + bi
	cubeDist := dist(cubeLevels[ri], cubeLevels[gi], cubeLevels[bi])
	grey := min(23, max(0, ((r+g+b)/3-8+5)/10))
	v := 8 + grey*10
	if dist(v, v, v) < cubeDist {
		return 232 + grey
	}
	return cube
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// xterm256 is the RGB of an xterm colour 16–255: a 6×6×6 cube, then 24
// greys. It writes the stylesheet's rules for the x and y classes (see
// TestANSIStylesheetHasEveryColour).
func xterm256(n int) string {
	if n >= 232 {
		v := 8 + (n-232)*10
		return fmt.Sprintf("#%02x%02x%02x", v, v, v)
	}
	n -= 16
	return fmt.Sprintf("#%02x%02x%02x", cubeLevels[n/36], cubeLevels[n/6%6], cubeLevels[n%6])
}

// span opens a span for the state, with classes only (the stylesheet
// picks readable shades of the 16 colours).
func (s sgr) span() string {
	var class []string
	for _, c := range []string{s.fg, s.bg} {
		if c != "" {
			class = append(class, c)
		}
	}
	if s.bold {
		class = append(class, "bold")
	}
	if s.italic {
		class = append(class, "italic")
	}
	if s.underline {
		class = append(class, "underline")
	}
	out := "<span"
	if len(class) > 0 {
		out += ` class="` + strings.Join(class, " ") + `"`
	}
	return out + ">"
}
