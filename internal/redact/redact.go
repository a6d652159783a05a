// Package redact masks secret values in streaming build output before it
// leaves the machine.
//
// A Redactor is built once per job from the job's secret values; it is
// immutable and safe for concurrent use. Each output stream gets its own
// Writer, which replaces every occurrence of a secret by [MASKED], including
// occurrences split across Write calls. A Writer holds back only the bytes
// that could still be the start of a secret, so ordinary output is passed on
// at once, and Flush releases what is held back at the end of a command.
//
// Besides the raw value, a Redactor masks the forms in which a value commonly
// reappears in logs: each line of a multi-line value, its base64 encodings
// (standard and URL alphabets, with and without padding, and of the value
// followed by a newline, as `echo "$V" | base64` prints it), its URL query and
// path escapings, its JSON string escaping, and the single-quoted form
// `set -x` prints for values that contain a single quote.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
)

// MinLength is the length below which a value is not masked: masking every
// "on" or "1" would make logs unreadable. The caller should warn about such
// values (see Redactor.ShortSecrets).
const MinLength = 4

// Mask replaces each occurrence of a secret.
const Mask = "[MASKED]"

// Redactor holds the compiled set of strings to mask. The zero value and a
// Redactor without secrets mask nothing.
type Redactor struct {
	a       *automaton // nil when there is nothing to mask
	needles int
	short   []int
}

// New returns a Redactor for the given secret values. Empty values are
// ignored; values shorter than MinLength are not masked and are reported by
// ShortSecrets.
func New(secrets []string) *Redactor {
	r := &Redactor{}
	set := make(map[string]struct{})
	add := func(v string) {
		if len(v) >= MinLength {
			set[v] = struct{}{}
		}
	}
	for i, s := range secrets {
		if s == "" {
			continue
		}
		if len(s) < MinLength {
			r.short = append(r.short, i)
			continue
		}
		for _, v := range forms(s) {
			add(v)
		}
	}
	if len(set) == 0 {
		return r
	}
	needles := make([]string, 0, len(set))
	for v := range set {
		needles = append(needles, v)
	}
	slices.Sort(needles) // deterministic automaton
	r.a = compile(needles)
	r.needles = len(needles)
	return r
}

// forms returns the strings to mask for one secret value.
func forms(s string) []string {
	out := []string{s}
	if strings.ContainsAny(s, "\r\n") {
		for line := range strings.Lines(s) {
			out = append(out, strings.TrimRight(line, "\r\n"))
		}
	}
	b := []byte(s)
	out = append(out,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		base64.StdEncoding.EncodeToString(append(b, '\n')),
		url.QueryEscape(s),
		url.PathEscape(s),
		jsonEscape(s, true),
		jsonEscape(s, false),
	)
	if strings.Contains(s, "'") {
		out = append(out, strings.ReplaceAll(s, "'", `'\''`))
	}
	return out
}

// jsonEscape returns s as it appears inside a JSON string.
func jsonEscape(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return s
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// Needles returns how many distinct strings (values and their encodings) are
// masked. It is 0 when the Redactor masks nothing.
func (r *Redactor) Needles() int { return r.needles }

// ShortSecrets returns the indexes, in the slice given to New, of the
// non-empty values that are too short to be masked, so that the caller can
// warn about them by name. It never returns the values themselves.
func (r *Redactor) ShortSecrets() []int { return slices.Clone(r.short) }

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r.a == nil {
		return s
	}
	var b strings.Builder
	w := r.Writer(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Flush()
	return b.String()
}

// Writer returns a Writer that writes to w with every secret masked. Each
// Write on it makes at most one Write on w; Flush must be called at the end of
// the stream.
func (r *Redactor) Writer(w io.Writer) *Writer {
	return &Writer{r: r, w: w}
}

// span is a masked byte range [start, end) in hold-relative coordinates.
type span struct{ start, end int }

// Writer is a streaming redacting writer. It is not safe for concurrent use.
type Writer struct {
	r     *Redactor
	w     io.Writer
	state int32  // automaton state after every byte written so far
	hold  []byte // the tail not yet written: the bytes state stands for
	// masked is how many leading bytes of hold are covered by a mask
	// already written.
	masked int
	pend   []span // matches inside hold, not yet written
	buf    []byte // output scratch
}

// Write masks p and writes what can no longer be part of a secret to the
// underlying writer, in at most one Write call (none for an empty p). It
// holds back only the shortest tail of the stream that may still turn out to
// be a secret; with no secrets it passes p through unchanged.
func (w *Writer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	a := w.r.a
	if a == nil {
		return w.w.Write(p)
	}
	base := len(w.hold)
	spans := w.pend
	masked := w.masked
	s := w.state
	next, stride, class := a.next, a.stride, &a.class
	for i := 0; i < len(p); i++ {
		if s == 0 {
			if i = a.skip(p, i); i == len(p) {
				break
			}
		}
		t := next[int(s)*stride+int(class[p[i]])]
		if t >= 0 {
			s = t
			continue
		}
		s = -t - 1
		end := base + i + 1
		start := end - int(a.match[s])
		for len(spans) > 0 && spans[len(spans)-1].end > start {
			start = min(start, spans[len(spans)-1].start)
			spans = spans[:len(spans)-1]
		}
		if start < masked {
			masked = max(masked, end)
			continue
		}
		spans = append(spans, span{start, end})
	}
	w.state = s
	total := base + len(p)
	boundary := total - int(a.depth[s])

	if base == 0 && masked == 0 && len(spans) == 0 {
		// Fast path: nothing held, nothing matched; write p in place.
		w.hold = append(w.hold[:0], p[boundary:]...)
		if boundary == 0 {
			return len(p), nil
		}
		if _, err := w.w.Write(p[:boundary]); err != nil {
			return 0, err
		}
		return len(p), nil
	}

	out := w.buf[:0]
	cursor := masked
	k := 0
	for ; k < len(spans) && spans[k].start < boundary; k++ {
		out = w.appendRange(out, p, cursor, spans[k].start)
		out = append(out, Mask...)
		cursor = spans[k].end
	}
	if cursor < boundary {
		out = w.appendRange(out, p, cursor, boundary)
		cursor = boundary
	}
	// Keep spans[k:], shifted to the new hold.
	n := copy(spans, spans[k:])
	spans = spans[:n]
	for i := range spans {
		spans[i].start -= boundary
		spans[i].end -= boundary
	}
	w.pend = spans
	w.masked = cursor - boundary
	// New hold = data[boundary:total].
	if boundary < base {
		m := copy(w.hold, w.hold[boundary:])
		w.hold = append(w.hold[:m], p...)
	} else {
		w.hold = append(w.hold[:0], p[boundary-base:]...)
	}
	w.buf = out[:0]
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// appendRange appends data[lo:hi] to out, where data is w.hold followed by p.
func (w *Writer) appendRange(out, p []byte, lo, hi int) []byte {
	if lo >= hi {
		return out
	}
	base := len(w.hold)
	if lo < base {
		out = append(out, w.hold[lo:min(hi, base)]...)
		lo = base
	}
	if hi > base {
		out = append(out, p[lo-base:hi-base]...)
	}
	return out
}

// Flush writes the held-back tail (with any secrets in it masked) and resets
// the Writer for a new stream. Call it at the end of each command's output.
func (w *Writer) Flush() error {
	if w.r.a == nil || (len(w.hold) == 0 && len(w.pend) == 0) {
		w.reset()
		return nil
	}
	out := w.buf[:0]
	cursor := w.masked
	for _, sp := range w.pend {
		out = w.appendRange(out, nil, cursor, sp.start)
		out = append(out, Mask...)
		cursor = sp.end
	}
	out = w.appendRange(out, nil, cursor, len(w.hold))
	w.buf = out[:0]
	w.reset()
	if len(out) == 0 {
		return nil
	}
	_, err := w.w.Write(out)
	return err
}

func (w *Writer) reset() {
	w.state = 0
	w.hold = w.hold[:0]
	w.masked = 0
	w.pend = w.pend[:0]
}
