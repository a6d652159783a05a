package cli

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/localrun"
)

// ANSI styles used on terminals.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYell  = "\x1b[33m"
)

var jobColors = []string{"\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[33m", "\x1b[32m", "\x1b[96m", "\x1b[95m", "\x1b[94m"}

// jsonRenderer writes every event as one JSON object per line.
type jsonRenderer struct {
	w   *liveWriter
	enc *json.Encoder
}

func newJSONRenderer(w io.Writer) *jsonRenderer {
	lw := newLiveWriter(w, liveBlock, liveDelay)
	return &jsonRenderer{w: lw, enc: json.NewEncoder(lw)}
}

func (r *jsonRenderer) event(ev ci.Event) {
	r.enc.Encode(ev)
	if ev.Kind != ci.EventCmdOutput {
		r.w.Flush()
	}
}

func (r *jsonRenderer) flush() { r.w.Flush() }

// textRenderer writes a readable, live view of a run: every output line
// prefixed with its job, each command with its duration and exit code.
// Output lines are written in blocks (liveWriter), the rest at once.
type textRenderer struct {
	w       *liveWriter
	color   bool
	prefix  map[string]string // "block\x00job" -> rendered prefix
	partial map[string][]byte // unfinished output line per job
	hide    map[string]bool   // job is inside a pseudo-command
	unique  map[string]int    // job name -> number of blocks using it
	started map[string]time.Time
	n       int
	// single drops the job prefix: the output of one job.
	single bool
	// block names the job's block when its events do not (a job's stored
	// log, printed by baton job logs).
	block string
	// withheld are the notices of secrets withheld from each job, shown
	// again next to its failure.
	withheld map[string][]string
}

func newTextRenderer(w io.Writer, color bool, jobNames map[string]int) *textRenderer {
	return &textRenderer{
		w: newLiveWriter(w, liveBlock, liveDelay), color: color,
		prefix: map[string]string{}, partial: map[string][]byte{}, hide: map[string]bool{},
		unique: jobNames, started: map[string]time.Time{},
	}
}

func (r *textRenderer) style(s, text string) string {
	if !r.color {
		return text
	}
	return s + text + ansiReset
}

func (r *textRenderer) prefixOf(ev ci.Event) string {
	if r.single {
		return ""
	}
	key := ev.Block + "\x00" + ev.Job
	if p, ok := r.prefix[key]; ok {
		return p
	}
	name := ev.Job
	if r.unique[ev.Job] > 1 {
		name = ev.Block + " › " + ev.Job
	}
	p := "[" + name + "] "
	if r.color {
		p = jobColors[r.n%len(jobColors)] + p + ansiReset
	}
	r.n++
	r.prefix[key] = p
	return p
}

func (r *textRenderer) event(ev ci.Event) {
	key := ev.Block + "\x00" + ev.Job
	switch ev.Kind {
	case ci.EventJobStarted:
		r.started[key] = ev.Timestamp.Time()
		if block := cmp.Or(ev.Block, r.block); block != "" {
			fmt.Fprintf(r.w, "%s%s\n", r.prefixOf(ev), r.style(ansiDim, "started in block "+block))
		} else {
			fmt.Fprintf(r.w, "%s%s\n", r.prefixOf(ev), r.style(ansiDim, "started"))
		}
	case ci.EventCmdStarted:
		r.hide[key] = jobspec.Pseudo(ev.Directive)
		if !r.hide[key] {
			fmt.Fprintf(r.w, "%s%s\n", r.prefixOf(ev), r.style(ansiBold, "$ "+firstLine(ev.Directive)))
		}
	case ci.EventCmdOutput:
		notices := r.noteWithheld(key, ev.Output)
		if r.hide[key] {
			// The runner's own steps are folded away, but not the
			// notices in them.
			for _, n := range notices {
				fmt.Fprintf(r.w, "%s%s\n", r.prefixOf(ev), r.style(ansiYell, n))
			}
			return
		}
		r.output(key, ev)
	case ci.EventCmdFinished:
		r.flushPartial(key, ev)
		if jobspec.Pseudo(ev.Directive) {
			return
		}
		code := 0
		if ev.ExitCode != nil {
			code = *ev.ExitCode
		}
		dur := formatDuration(ev.FinishedAt.Time().Sub(ev.StartedAt.Time()))
		mark, st, what := "✔", ansiGreen, firstLine(ev.Directive)
		if code != 0 {
			mark, st = "✘", ansiRed
			what += fmt.Sprintf(" (exit %d)", code)
		}
		fmt.Fprintf(r.w, "%s%s %s %s\n", r.prefixOf(ev), r.style(st, mark), what, r.style(ansiDim, dur))
	case ci.EventJobFinished:
		r.flushPartial(key, ev)
		dur := ev.Timestamp.Time().Sub(r.started[key])
		fmt.Fprintf(r.w, "%sjob %s in %s\n", r.prefixOf(ev), r.resultText(ev.Result), formatDuration(dur))
		if ev.Result == ci.ResultFailed {
			for _, n := range r.withheld[key] {
				fmt.Fprintf(r.w, "%s%s\n", r.prefixOf(ev), r.style(ansiYell, "note: "+n+" (the job may have failed for want of it)"))
			}
		}
	case ci.EventBlockFinished:
		switch ev.Result {
		case ci.ResultCanceled:
			fmt.Fprintf(r.w, "%s\n", r.style(ansiYell, fmt.Sprintf("block %q canceled (%s)", ev.Block, reasonText(ev.Reason))))
		case ci.ResultPassed:
			if ev.Reason == ci.ReasonSkipped {
				fmt.Fprintf(r.w, "%s\n", r.style(ansiDim, fmt.Sprintf("block %q skipped", ev.Block)))
			}
		}
	}
	if ev.Kind != ci.EventCmdOutput {
		r.w.Flush()
	}
}

// noteWithheld remembers the notices of withheld secrets in a job's
// output, to repeat them next to its failure, and returns them. The
// output is lent (localrun.Session.Run): what is kept is copied.
func (r *textRenderer) noteWithheld(key, output string) []string {
	if !strings.Contains(output, "withheld") {
		return nil
	}
	var found []string
	for line := range strings.Lines(output) {
		line = strings.TrimRight(line, "\r\n")
		if jobspec.IsWithheldNotice(line) {
			line = strings.Clone(line)
			found = append(found, line)
			if !slices.Contains(r.withheld[key], line) {
				if r.withheld == nil {
					r.withheld = map[string][]string{}
				}
				r.withheld[key] = append(r.withheld[key], line)
			}
		}
	}
	return found
}

// output prints the complete lines of a chunk, keeping a trailing partial
// line until the rest arrives. The prefixed lines are assembled in the
// writer's own buffer, a block at a time: a million short lines are then
// neither two million small writes nor copied twice.
func (r *textRenderer) output(key string, ev ci.Event) {
	data := ev.Output
	prefix := r.prefixOf(ev)
	if p := r.partial[key]; len(p) > 0 {
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			r.partial[key] = append(p, data...)
			return
		}
		buf := append(r.w.hold(), prefix...)
		buf = append(buf, p...)
		r.w.release(append(buf, data[:i+1]...))
		r.partial[key] = p[:0]
		data = data[i+1:]
	}
	for data != "" {
		buf, rest, full := appendLines(r.w.hold(), prefix, data, r.w.block)
		r.w.release(buf)
		data = rest
		if !full {
			break
		}
	}
	if data != "" {
		r.partial[key] = append(r.partial[key][:0], data...)
	}
}

// appendLines appends the complete lines of data to buf, each after
// prefix, until buf holds limit bytes. It returns the rest of data (a
// last partial line, or lines left for the next block) and whether it
// stopped at the limit.
//
// Lines of at most 8 bytes, the most common in a flood (counters,
// dots), are found and copied as one 8-byte word, with no call, after
// a prefix of up to 32 bytes stored as four words, with no call or
// loop: the words' bytes past the prefix or the line are overwritten by
// what follows, or lie past the buffer's length.
func appendLines(buf []byte, prefix, data string, limit int) (_ []byte, rest string, full bool) {
	var words [4]uint64 // the prefix, if it fits
	short := len(prefix) <= 8*len(words)
	if short {
		for i, p := 0, prefix; p != ""; i, p = i+1, p[min(8, len(p)):] {
			var w [8]byte
			copy(w[:], p)
			words[i] = binary.LittleEndian.Uint64(w[:])
		}
	}
	room := 8*len(words) + 8 // the bytes a short line's stores touch
	for len(buf) < limit {
		if short && len(data) >= 8 && cap(buf)-len(buf) >= room {
			w := firstWord(data)
			if m := newlineMarks(w); m != 0 {
				// Four short lines in 32 bytes: their newlines are
				// found from the same four words, so the next lines'
				// search waits for one search, not four.
				if len(data) >= 40 && cap(buf)-len(buf) >= 4*room {
					nl := newlineBits8(w) | newlineBits8(firstWord(data[8:]))<<8 |
						newlineBits8(firstWord(data[16:]))<<16 | newlineBits8(firstWord(data[24:]))<<24
					e1 := bits.TrailingZeros64(nl)
					nl &= nl - 1
					e2 := bits.TrailingZeros64(nl)
					nl &= nl - 1
					e3 := bits.TrailingZeros64(nl)
					nl &= nl - 1
					e4 := bits.TrailingZeros64(nl)
					if e2-e1 <= 8 && e3-e2 <= 8 && e4-e3 <= 8 && e4 < 32 {
						n := len(buf)
						out := buf[n:cap(buf)]
						putShortLine(out, &words, len(prefix), w)
						out = out[len(prefix)+e1+1:]
						putShortLine(out, &words, len(prefix), firstWord(data[e1+1:]))
						out = out[len(prefix)+e2-e1:]
						putShortLine(out, &words, len(prefix), firstWord(data[e2+1:]))
						out = out[len(prefix)+e3-e2:]
						putShortLine(out, &words, len(prefix), firstWord(data[e3+1:]))
						buf = buf[:n+4*len(prefix)+e4+1]
						data = data[e4+1:]
						continue
					}
				}
				i := bits.TrailingZeros64(m) / 8
				n := len(buf)
				putShortLine(buf[n:cap(buf)], &words, len(prefix), w)
				buf = buf[:n+len(prefix)+i+1]
				data = data[i+1:]
				continue
			}
		}
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			return buf, data, false
		}
		buf = append(buf, prefix...)
		buf = append(buf, data[:i+1]...)
		data = data[i+1:]
	}
	return buf, data, true
}

// firstWord is the first 8 bytes of s, the first in the lowest byte.
func firstWord(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// newlineMarks sets the high bit of each '\n' byte among the 8 bytes of
// w (firstWord), and no other bit.
func newlineMarks(w uint64) uint64 {
	const low7, high = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	x := w ^ 0x0a0a0a0a0a0a0a0a // '\n' bytes become 0
	// Exactly the zero bytes of x get their high bit set: adding 0x7f to
	// each byte's low 7 bits carries into the high bit unless all are 0.
	return ^(((x & low7) + low7) | x) & high
}

// putShortLine stores a prefix of n bytes, given as words, and after it
// the word w of a line of up to 8 bytes, at the start of out, which holds
// at least 40 bytes: the words' bytes past the prefix and the line are
// overwritten by what follows, or lie past the buffer's length.
func putShortLine(out []byte, words *[4]uint64, n int, w uint64) {
	_ = out[39]
	binary.LittleEndian.PutUint64(out[0:], words[0])
	binary.LittleEndian.PutUint64(out[8:], words[1])
	binary.LittleEndian.PutUint64(out[16:], words[2])
	binary.LittleEndian.PutUint64(out[24:], words[3])
	binary.LittleEndian.PutUint64(out[n:], w)
}

// newlineBits8 marks the '\n' bytes among the 8 bytes of w (firstWord)
// as the low 8 bits of the result, the first byte in the lowest.
func newlineBits8(w uint64) uint64 {
	// The marks, one per byte at its high bit, shifted to its low bit and
	// gathered into the top byte of the product: no two partial products
	// meet.
	return (newlineMarks(w) >> 7) * 0x0102040810204080 >> 56
}

func (r *textRenderer) flushPartial(key string, ev ci.Event) {
	if p := r.partial[key]; len(p) > 0 {
		r.w.WriteString(r.prefixOf(ev))
		r.w.Write(bytes.TrimRight(p, "\r"))
		r.w.WriteString("\n")
		r.partial[key] = p[:0]
	}
}

func (r *textRenderer) flush() { r.w.Flush() }

func (r *textRenderer) resultText(res ci.Result) string {
	switch res {
	case ci.ResultPassed:
		return r.style(ansiGreen, string(res))
	case ci.ResultFailed:
		return r.style(ansiRed, string(res))
	default:
		return r.style(ansiYell, string(res))
	}
}

// summary prints the table of blocks and jobs with their results and
// durations, marking the critical path.
func (r *textRenderer) summary(rep *localrun.Report) {
	critical, total := criticalPath(rep.Blocks)
	onPath := map[string]bool{}
	for _, b := range critical {
		onPath[b] = true
	}
	rows := [][]string{{"BLOCK", "JOB", "RESULT", "DURATION", ""}}
	add := func(b *localrun.BlockReport) {
		for _, j := range b.Jobs {
			mark := ""
			if onPath[b.Name] {
				mark = "*"
			}
			res := string(j.Result)
			if j.Reason != "" && j.Reason != ci.ReasonTest {
				res += " (" + reasonText(j.Reason) + ")"
			}
			rows = append(rows, []string{b.Name, j.Name, res, jobDuration(j), mark})
		}
		if len(b.Jobs) == 0 {
			rows = append(rows, []string{b.Name, "", string(b.Result), "", ""})
		}
	}
	for _, b := range rep.Blocks {
		add(b)
	}
	if rep.AfterPipeline != nil {
		add(rep.AfterPipeline)
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	fmt.Fprintln(r.w)
	for i, row := range rows {
		var line strings.Builder
		for c, cell := range row {
			pad := widths[c] - len([]rune(cell))
			if c == 2 && i > 0 {
				cell = r.resultCell(cell)
			}
			line.WriteString(cell)
			if c < len(row)-1 {
				line.WriteString(strings.Repeat(" ", pad+2))
			}
		}
		text := strings.TrimRight(line.String(), " ")
		if i == 0 {
			text = r.style(ansiBold, text)
		}
		fmt.Fprintln(r.w, text)
	}
	fmt.Fprintf(r.w, "\nPipeline %s in %s", r.resultText(rep.Result), formatDuration(rep.Done.Sub(rep.Started)))
	if rep.Reason != "" && rep.Reason != ci.ReasonTest {
		fmt.Fprintf(r.w, " (%s)", reasonText(rep.Reason))
	}
	fmt.Fprintln(r.w)
	if len(critical) > 0 {
		fmt.Fprintf(r.w, "Critical path (*): %s, %s\n", strings.Join(critical, " → "), formatDuration(total))
	}
	r.w.Flush()
}

func (r *textRenderer) resultCell(cell string) string {
	switch {
	case strings.HasPrefix(cell, "passed"):
		return r.style(ansiGreen, cell)
	case strings.HasPrefix(cell, "failed"):
		return r.style(ansiRed, cell)
	}
	return r.style(ansiYell, cell)
}

// criticalPath returns the chain of blocks that decided the pipeline's
// duration: from the block that finished last, back through the dependency
// that finished last, and the time from the first block's start to the end.
func criticalPath(blocks []*localrun.BlockReport) ([]string, time.Duration) {
	byName := map[string]*localrun.BlockReport{}
	var last *localrun.BlockReport
	for _, b := range blocks {
		byName[b.Name] = b
		if b.Started.IsZero() {
			continue
		}
		if last == nil || b.Done.After(last.Done) {
			last = b
		}
	}
	if last == nil {
		return nil, 0
	}
	path := []string{last.Name}
	first := last
	for cur := last; ; {
		var next *localrun.BlockReport
		for _, d := range cur.Dependencies {
			if b := byName[d]; b != nil && !b.Started.IsZero() && (next == nil || b.Done.After(next.Done)) {
				next = b
			}
		}
		if next == nil {
			break
		}
		path = append([]string{next.Name}, path...)
		first, cur = next, next
	}
	return path, last.Done.Sub(first.Started)
}

func jobDuration(j *localrun.JobReport) string {
	if j.Started.IsZero() || j.Done.IsZero() {
		return "-"
	}
	return formatDuration(j.Done.Sub(j.Started))
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

func reasonText(r ci.Reason) string {
	switch r {
	case ci.ReasonDependency:
		return "a dependency did not pass"
	case ci.ReasonFastFailing:
		return "fail_fast"
	case ci.ReasonTimeout:
		return "execution_time_limit reached"
	case ci.ReasonUser:
		return "stopped by user"
	case ci.ReasonSkipped:
		return "skipped"
	case ci.ReasonMalformed:
		return "could not start"
	}
	return string(r)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
