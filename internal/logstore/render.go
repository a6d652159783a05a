package logstore

import (
	"bytes"

	"github.com/batonci/baton/internal/ci"
)

// Line kinds.
const (
	KindCmd = "cmd" // the "$ directive" header of a command
	KindOut = "out" // a line of output
)

// renderer turns events into plain-text lines, keeping those numbered in
// [from, to). It starts at a chunk boundary with that boundary's lineState;
// a line left open there began before the chunk, so its rest is skipped.
//
// Line numbering must agree with advance: a cmd_started event is one line;
// output starts a line at its first byte after a line end and ends it at
// '\n'; every other event ends an open line.
type renderer struct {
	from, to int64
	n        int64 // lines started so far
	cmd      int32

	open bool // a line is open
	keep bool // the open line is in range: its text is collected
	cr   bool // the open line's text ended with CRs not yet resolved
	text []byte
	at   ci.Timestamp
	lcmd int32

	out []Line
}

func newRenderer(s lineState, from, to int64) *renderer {
	return &renderer{
		from: from, to: to, n: s.lines, cmd: s.cmd, open: s.open,
		out: make([]Line, 0, min(to-from, 4096)),
	}
}

// done reports whether every wanted line is complete.
func (r *renderer) done() bool { return r.n >= r.to && !(r.open && r.keep) }

func (r *renderer) event(ev *eventView) {
	switch ev.kind {
	case ci.EventCmdStarted:
		r.closeLine()
		r.cmd++
		if r.n >= r.from && r.n < r.to {
			d := ev.directive
			if i := bytes.IndexByte(d, '\n'); i >= 0 {
				d = d[:i]
			}
			d = bytes.TrimRight(d, "\r")
			r.out = append(r.out, Line{N: int(r.n), Text: "$ " + string(d), Cmd: int(r.cmd), Kind: KindCmd, At: ev.ts})
		}
		r.n++
	case ci.EventCmdOutput:
		r.output(ev.output, ev.ts)
	default:
		r.closeLine()
	}
}

func (r *renderer) output(data []byte, at ci.Timestamp) {
	for len(data) > 0 {
		if !r.open {
			if r.n >= r.to {
				return
			}
			r.open, r.keep = true, r.n >= r.from
			r.n++
			r.at, r.lcmd = at, r.cmd
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if r.keep {
				r.appendText(data)
			}
			return
		}
		if r.keep {
			r.appendText(data[:i])
		}
		r.closeLine()
		data = data[i+1:]
	}
}

// appendText adds a piece of the open line, handling carriage returns as a
// terminal would for progress bars: CRs at the end of the line are dropped
// (CRLF), and text after a CR replaces what the line held before it.
func (r *renderer) appendText(seg []byte) {
	rest := bytes.TrimRight(seg, "\r")
	trailing := len(rest) < len(seg)
	if len(rest) > 0 {
		if r.cr {
			r.text = r.text[:0]
		}
		if j := bytes.LastIndexByte(rest, '\r'); j >= 0 {
			r.text = r.text[:0]
			rest = rest[j+1:]
		}
		if room := maxLineBytes - len(r.text); room < len(rest) {
			rest = rest[:max(room, 0)]
		}
		r.text = append(r.text, rest...)
		r.cr = trailing
	} else if trailing {
		r.cr = true
	}
}

func (r *renderer) closeLine() {
	if r.open && r.keep {
		r.out = append(r.out, Line{N: int(r.n - 1), Text: string(r.text), Cmd: int(r.lcmd), Kind: KindOut, At: r.at})
	}
	r.open, r.keep, r.cr = false, false, false
	r.text = r.text[:0]
}
