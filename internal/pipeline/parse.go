package pipeline

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// CondChecker validates a when expression; it returns the byte offset and
// message of the first error, or ok. allowResult reports whether the
// `result` and `result_reason` keywords may appear (only in
// promotions[].auto_promote.when).
type CondChecker func(expr string, allowResult bool) (offset int, msg string, ok bool)

// Options configures ParseWith, LoadWith and ParseTaskWith.
type Options struct {
	// CheckCondition validates every `when` string. When nil, conditions
	// are only checked to be non-empty strings or booleans.
	CheckCondition CondChecker
	// Libraries are the file trees of the organisation's script
	// libraries by name, for commands_file values "@NAME/path" (Load
	// reads them; Parse only records them). A name not in the map is a
	// diagnostic that lists the names that are.
	Libraries map[string]fs.FS
	// LibraryHint ends the diagnostic of an unknown library when no
	// library is available (e.g. how to give one to a local check).
	LibraryHint string
}

// Parse parses one pipeline file's source. file is the path used in
// diagnostics and as Pos.File (e.g. ".semaphore/semaphore.yml"). It
// validates everything that needs no other file: the v1.0 schema (types,
// required keys, unknown keys, enums, limits) and the semantic rules of spec
// §1.12. task_file and commands_file are recorded (Block.TaskFile,
// Commands.File) but not read. It returns the pipeline (possibly partial;
// nil when the YAML itself is broken) and all diagnostics, sorted by
// position.
func Parse(file string, src []byte) (*Pipeline, Diagnostics) {
	return ParseWith(file, src, Options{})
}

// ParseWith is Parse with options.
func ParseWith(file string, src []byte, opts Options) (*Pipeline, Diagnostics) {
	s := newSession(opts)
	p := s.parsePipeline(file, src)
	if p != nil {
		s.validate(p)
		p.Warnings = s.sorted(s.warnings)
	}
	return p, s.result()
}

// ParseTask parses a standalone task file, the content of a block's or
// after_pipeline's task_file. Its commands_file references are recorded but
// not read.
func ParseTask(file string, src []byte) (*Task, Diagnostics) {
	return ParseTaskWith(file, src, Options{})
}

// ParseTaskWith is ParseTask with options.
func ParseTaskWith(file string, src []byte, opts Options) (*Task, Diagnostics) {
	s := newSession(opts)
	t := s.parseTask(file, src)
	return t, s.result()
}

// session collects the diagnostics of one Parse or Load call, over every
// file it reads.
type session struct {
	opts  Options
	files []*source
	diags []Diagnostic
	// warnings do not make the file invalid.
	warnings []Diagnostic
	// Positions of task_file values, for diagnostics about the files.
	taskFiles     map[*Block]Pos
	afterTaskFile Pos
}

func newSession(opts Options) *session {
	return &session{opts: opts, taskFiles: map[*Block]Pos{}}
}

func (s *session) report(p Pos, msg string) {
	s.diags = append(s.diags, Diagnostic{Pos: p, Message: msg})
}

func (s *session) warn(p Pos, msg string) {
	s.warnings = append(s.warnings, Diagnostic{Pos: p, Message: msg})
}

// result returns the error diagnostics, see sorted.
func (s *session) result() Diagnostics {
	return s.sorted(s.diags)
}

// sorted returns diags with their source lines, sorted by file (in the
// order files were read), line and column, without duplicates (aliases can
// make the decoder visit a node twice).
func (s *session) sorted(diags []Diagnostic) Diagnostics {
	order := map[string]int{}
	for i, src := range s.files {
		if _, ok := order[src.file]; !ok {
			order[src.file] = i
		}
	}
	for i := range diags {
		d := &diags[i]
		d.Pos.Line, d.Pos.Col = max(d.Pos.Line, 1), max(d.Pos.Col, 1)
		if i, ok := order[d.Pos.File]; ok {
			d.Source = strings.TrimPrefix(s.files[i].line(d.Pos.Line), bom)
		}
	}
	slices.SortStableFunc(diags, func(a, b Diagnostic) int {
		fa, oka := order[a.Pos.File]
		fb, okb := order[b.Pos.File]
		if !oka {
			fa = len(order)
		}
		if !okb {
			fb = len(order)
		}
		return cmp.Or(cmp.Compare(fa, fb), strings.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	var out Diagnostics
	seen := map[Diagnostic]bool{}
	for _, d := range diags {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// parsePipeline decodes one pipeline file; nil when there is no pipeline to
// speak of.
func (s *session) parsePipeline(file string, src []byte) *Pipeline {
	d, root := s.document(file, src, "pipeline")
	if root == nil {
		return nil
	}
	return d.pipeline(root)
}

// parseTask decodes one task file.
func (s *session) parseTask(file string, src []byte) *Task {
	d, root := s.document(file, src, "task")
	if root == nil {
		return nil
	}
	return d.task(root, "task file")
}

// document reads the single YAML document of a file and returns a decoder
// for it with the document's root node, or a nil root after reporting why
// there is none. what names the expected content in messages.
func (s *session) document(file string, src []byte, what string) (*decoder, *yaml.Node) {
	text := newSource(file, src)
	s.files = append(s.files, text)
	d := &decoder{s: s, src: text}
	at := func(line, col int, format string, args ...any) {
		s.report(Pos{File: file, Line: line, Col: col}, fmt.Sprintf(format, args...))
	}
	// Semaphore reads "\d" in a double-quoted string as "d": drop such
	// backslashes and parse again, with a warning at each.
	var doc, extra yaml.Node
	var err, extraErr error
	var edits []escapeEdit
	parsed := text
	for fixes := 0; ; fixes++ {
		doc, extra, err, extraErr = decodeDocuments(src)
		failed := cmp.Or(err, extraErr)
		if failed == nil || !strings.HasSuffix(failed.Error(), unknownEscapeError) || fixes >= maxEscapeFixes || (fixes+1)*len(src) > maxEscapeReparse {
			break
		}
		fixed, found, ok := dropUnknownEscapes(src, errorLine(failed))
		if !ok {
			break
		}
		src, edits = fixed, toOriginal(edits, found)
		parsed = newSource(file, src)
	}
	for _, e := range edits {
		if e.char != '/' {
			s.warn(Pos{File: file, Line: e.line, Col: e.byteCol}, fmt.Sprintf(
				"unknown escape \"\\%c\" in a double-quoted string, read as %q as Semaphore does; write \"\\\\%c\" to keep the backslash, or use single quotes", e.char, string(e.char), e.char))
		}
	}
	restoreColumns(&doc, edits)
	restoreColumns(&extra, edits)
	switch {
	case errors.Is(err, io.EOF):
		at(1, 1, "the file is empty; a %s file needs %s", what, needs(what))
		return d, nil
	case err != nil:
		s.yamlError(parsed, err)
		return d, nil
	}
	switch err := extraErr; {
	case errors.Is(err, io.EOF):
	case err != nil:
		s.yamlError(parsed, err)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		at(extra.Line, 1, "the file holds more than one YAML document; a %s file must be a single document (remove this \"---\" and what follows, or move it to its own file)", what)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		at(max(doc.Line, 1), 1, "the file is empty; a %s file needs %s", what, needs(what))
		return d, nil
	}
	return d, doc.Content[0]
}

func needs(what string) string {
	if what == "task" {
		return "jobs"
	}
	return "version, agent and blocks"
}

// decodeDocuments decodes the first document of src and the start of the
// second, if any, with their errors (io.EOF when absent).
func decodeDocuments(src []byte) (doc, extra yaml.Node, err, extraErr error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err = decodeSafely(dec, &doc); err != nil {
		return doc, extra, err, io.EOF
	}
	extraErr = decodeSafely(dec, &extra)
	return doc, extra, err, extraErr
}

// errorLine is the line a YAML library error names, or 0.
func errorLine(err error) int {
	rest, ok := strings.CutPrefix(err.Error(), "yaml: line ")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ":")
	n, _ := strconv.Atoi(num)
	return n
}

// decodeSafely decodes the next document, turning a panic in the YAML
// library into an error.
func decodeSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal parser error: %v", r)
		}
	}()
	return dec.Decode(n)
}

// yamlError reports a YAML syntax error. The library gives a line for most
// errors; for the others the line is found by decoding ever longer prefixes
// of the file, or by looking for the offending byte.
func (s *session) yamlError(text *source, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, detail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, detail
			}
		}
	}
	col := 1
	if line == 0 {
		l, c, ok := badByte(text)
		switch {
		case ok && (strings.Contains(msg, "control characters") || strings.Contains(msg, "UTF-8")):
			line, col = l, c
		default:
			line = failingLine(text, msg)
		}
	}
	line = min(max(line, 1), len(text.lines))
	if col == 1 {
		src := text.line(line)
		col = len(src) - len(strings.TrimLeft(src, " \t")) + 1
		if strings.Contains(src[:col-1], "\t") {
			msg += " (tabs are not allowed for indentation; use spaces)"
		}
	}
	s.report(Pos{File: text.file, Line: line, Col: col}, "invalid YAML: "+msg)
}

// badByte finds the first byte YAML does not accept: invalid UTF-8 or a
// control character.
func badByte(text *source) (line, col int, ok bool) {
	for i, l := range text.lines {
		for j := 0; j < len(l); {
			r, size := utf8.DecodeRuneInString(l[j:])
			if (r == utf8.RuneError && size <= 1) || !yamlPrintable(r) {
				return i + 1, j + 1, true
			}
			j += size
		}
	}
	return 0, 0, false
}

// yamlPrintable reports whether r may appear in a YAML stream (YAML 1.2
// c-printable; line breaks are already split off).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t', r >= 0x20 && r <= 0x7E, r == 0x85:
		return true
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD:
		return true
	}
	return r >= 0x10000 && r <= 0x10FFFF
}

// failingLine finds the first line at which the YAML library reports msg,
// by binary search over prefixes of the file. It returns 1 when it cannot
// tell.
func failingLine(text *source, msg string) int {
	fails := func(n int) bool {
		prefix := strings.Join(text.lines[:n], "\n") + "\n"
		dec := yaml.NewDecoder(strings.NewReader(prefix))
		for {
			var doc yaml.Node
			err := decodeSafely(dec, &doc)
			if err == nil {
				continue
			}
			return !errors.Is(err, io.EOF) && strings.HasSuffix(err.Error(), msg)
		}
	}
	lo, hi := 1, len(text.lines)
	if !fails(hi) {
		return 1
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
