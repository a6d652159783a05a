package coverage

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseError is a report that cannot be read, with where: File:Line:Col
// (Col 0 when unknown, Line 0 for the whole file).
type ParseError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	switch {
	case e.Line == 0:
		return e.File + ": " + e.Msg
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Detect tells a report's format from its first bytes: XML is Cobertura,
// "mode:" starts a Go profile, and LCOV's records are KEY:value lines
// (TN:, SF:...). It returns "" when it is none of them.
func Detect(data []byte) Format {
	s := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case bytes.HasPrefix(s, []byte("<")):
		return Cobertura
	case bytes.HasPrefix(s, []byte("mode:")):
		return Go
	}
	line, _, _ := bytes.Cut(s, []byte("\n"))
	for _, k := range []string{"TN:", "SF:", "VER:"} {
		if bytes.HasPrefix(line, []byte(k)) {
			return LCOV
		}
	}
	return ""
}

// Parse reads the report in data, named name in errors, in format f ("":
// detect it). Malformed input is a *ParseError naming the line.
func Parse(name string, data []byte, f Format) (Report, error) {
	if f == "" {
		f = Detect(data)
	}
	var r Report
	var err error
	switch f {
	case Cobertura:
		r, err = parseCobertura(name, data)
	case LCOV:
		r, err = parseLCOV(name, data)
	case Go:
		r, err = parseGo(name, data)
	case "":
		return Report{}, &ParseError{File: name, Msg: "not a coverage report: want Cobertura XML, LCOV or a Go cover profile (mode: ...)"}
	default:
		return Report{}, &ParseError{File: name, Msg: fmt.Sprintf("unknown format %q (one of cobertura, lcov, go)", f)}
	}
	if err != nil {
		return Report{}, err
	}
	r.Format = f
	return r, nil
}

// files collects blocks by path, in the order paths first appear.
type files struct {
	byPath map[string]int
	list   []File
}

func (fs *files) file(path string) *File {
	if !utf8.ValidString(path) {
		path = strings.ToValidUTF8(path, "\uFFFD") // as JSON would
	}
	if fs.byPath == nil {
		fs.byPath = map[string]int{}
	}
	i, ok := fs.byPath[path]
	if !ok {
		i = len(fs.list)
		fs.byPath[path] = i
		fs.list = append(fs.list, File{Path: path})
	}
	return &fs.list[i]
}

func (fs *files) report(set bool) Report {
	for i := range fs.list {
		fs.list[i].Blocks = normalise(fs.list[i].Blocks, set)
	}
	slices.SortFunc(fs.list, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	if fs.list == nil {
		fs.list = []File{}
	}
	return Report{Files: fs.list}
}

// lineBlock is a Cobertura or LCOV line.
func lineBlock(n int, hits int64) Block {
	return Block{StartLine: n, EndLine: n, Stmts: 1, Count: max(hits, 0)}
}

// parseLCOV reads LCOV tracefiles (geninfo, istanbul/nyc, c8...): SF
// starts a file, DA:line,hits measures a line, end_of_record ends it.
// Other records (functions, branches, summaries) are skipped.
func parseLCOV(name string, data []byte) (Report, error) {
	var fs files
	var cur *File
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		lineNo++
		line = bytes.TrimRight(line, " \t\r")
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			continue
		}
		if string(line) == "end_of_record" {
			cur = nil
			continue
		}
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok || !lcovKey(key) {
			return Report{}, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf("not an LCOV record: %q", clip(line))}
		}
		switch string(key) {
		case "SF":
			if len(val) == 0 {
				return Report{}, &ParseError{File: name, Line: lineNo, Msg: "SF: names no source file"}
			}
			cur = fs.file(string(val))
		case "DA":
			if cur == nil {
				return Report{}, &ParseError{File: name, Line: lineNo, Msg: "DA: outside a file's record (no SF: before it)"}
			}
			ln, rest, ok := bytes.Cut(val, []byte(","))
			hits, _, _ := bytes.Cut(rest, []byte(",")) // a checksum may follow
			n, err1 := strconv.Atoi(string(ln))
			h, err2 := strconv.ParseInt(string(hits), 10, 64)
			if !ok || err1 != nil || err2 != nil || n < 1 {
				return Report{}, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf("malformed DA: %q (want DA:LINE,HITS)", clip(line))}
			}
			cur.Blocks = append(cur.Blocks, lineBlock(n, h))
		}
	}
	return fs.report(false), nil
}

// parseGo reads a Go cover profile (go test -coverprofile): "mode: set,
// count or atomic", then "file.go:l.c,l.c stmts count" per block. The
// same block may appear more than once (profiles of several packages run
// with -coverpkg): as go tool cover, its counts add up (set: it is
// covered if any was) and its statement count must agree.
func parseGo(name string, data []byte) (Report, error) {
	var fs files
	mode := ""
	lineNo := 0
	type place struct {
		file  string
		block [4]int
	}
	stmts := map[place]int{}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		lineNo++
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 0 {
			continue
		}
		if m, ok := bytes.CutPrefix(line, []byte("mode: ")); ok {
			switch string(m) {
			case "set", "count", "atomic":
			default:
				return Report{}, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf("unknown mode %q (set, count or atomic)", clip(m))}
			}
			if mode != "" && mode != string(m) {
				return Report{}, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf("mode %s after mode %s: profiles of different modes cannot be merged", m, mode)}
			}
			mode = string(m)
			continue
		}
		if mode == "" {
			return Report{}, &ParseError{File: name, Line: lineNo, Msg: `a Go cover profile starts with "mode: set|count|atomic"`}
		}
		b, path, err := goBlock(line)
		if err != nil {
			return Report{}, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf("%v in %q (want FILE:LINE.COL,LINE.COL STATEMENTS COUNT)", err, clip(line))}
		}
		f := fs.file(path)
		k := place{f.Path, [4]int{b.StartLine, b.StartCol, b.EndLine, b.EndCol}}
		if n, ok := stmts[k]; ok && n != b.Stmts {
			return Report{}, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf("inconsistent statement count for %s:%d.%d,%d.%d: %d, was %d", path, b.StartLine, b.StartCol, b.EndLine, b.EndCol, b.Stmts, n)}
		}
		stmts[k] = b.Stmts
		f.Blocks = append(f.Blocks, b)
	}
	if mode == "" {
		return Report{}, &ParseError{File: name, Msg: `empty Go cover profile (no "mode:" line)`}
	}
	return fs.report(mode == "set"), nil
}

// lcovKey reports whether k is an LCOV record's key: capitals (TN, SF,
// DA, BRDA, FNL...).
func lcovKey(k []byte) bool {
	for _, c := range k {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return len(k) > 0
}

var errBlock = errors.New("malformed block")

// goBlock parses "path:l.c,l.c stmts count" from the right, as a path
// may contain colons.
func goBlock(line []byte) (Block, string, error) {
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 {
		return Block{}, "", errBlock
	}
	count, err := strconv.ParseInt(string(line[sp+1:]), 10, 64)
	if err != nil || count < 0 {
		return Block{}, "", fmt.Errorf("malformed count")
	}
	line = line[:sp]
	sp = bytes.LastIndexByte(line, ' ')
	if sp < 0 {
		return Block{}, "", errBlock
	}
	stmts, err := strconv.Atoi(string(line[sp+1:]))
	if err != nil || stmts < 0 {
		return Block{}, "", fmt.Errorf("malformed statement count")
	}
	line = line[:sp]
	colon := bytes.LastIndexByte(line, ':')
	if colon <= 0 {
		return Block{}, "", errBlock
	}
	var pos [4]int
	rest := line[colon+1:]
	for i := range pos {
		sep := byte('.')
		if i%2 == 1 {
			sep = ','
		}
		j := len(rest)
		if i < 3 {
			j = bytes.IndexByte(rest, sep)
			if j < 0 {
				return Block{}, "", errBlock
			}
		}
		n, err := atoi(rest[:j])
		if err != nil {
			return Block{}, "", errBlock
		}
		pos[i] = n
		if i < 3 {
			rest = rest[j+1:]
		}
	}
	if pos[0] < 1 || pos[2] < pos[0] {
		return Block{}, "", fmt.Errorf("block ends before it starts")
	}
	return Block{StartLine: pos[0], StartCol: pos[1], EndLine: pos[2], EndCol: pos[3], Stmts: stmts, Count: count}, string(line[:colon]), nil
}

// atoi parses a small non-negative decimal without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 9 {
		return 0, errBlock
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errBlock
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// parseCobertura reads Cobertura XML (coverage.py, JaCoCo and istanbul's
// cobertura reporters, gcovr): each class's filename and its
// <lines><line number hits>. The lines listed again under a class's
// methods are the same lines and are not counted twice.
func parseCobertura(name string, data []byte) (Report, error) {
	var fs files
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []string
	var cur *File
	sawRoot := false
	fail := func(msg string) error {
		line, col := d.InputPos()
		return &ParseError{File: name, Line: line, Col: col, Msg: msg}
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return Report{}, &ParseError{File: name, Line: se.Line, Msg: "malformed XML: " + se.Msg}
			}
			return Report{}, fail("malformed XML: " + err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			el := t.Name.Local
			if len(stack) == 0 {
				if el != "coverage" {
					return Report{}, fail(fmt.Sprintf("<%s> is not a Cobertura report (its root is <coverage>)", el))
				}
				sawRoot = true
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			stack = append(stack, el)
			switch {
			case el == "class":
				fn := attr(t, "filename")
				if fn == "" {
					return Report{}, fail("<class> has no filename")
				}
				cur = fs.file(fn)
			case el == "line" && parent == "lines" && len(stack) >= 3 && stack[len(stack)-3] == "class":
				if cur == nil {
					return Report{}, fail("<line> outside a <class>")
				}
				n, err1 := strconv.Atoi(attr(t, "number"))
				h, err2 := strconv.ParseInt(attr(t, "hits"), 10, 64)
				if err2 != nil {
					// Some writers print large counts as floats.
					f, err := strconv.ParseFloat(attr(t, "hits"), 64)
					h, err2 = int64(f), err
				}
				if err1 != nil || err2 != nil || n < 1 {
					return Report{}, fail(fmt.Sprintf("<line number=%q hits=%q>: want a line number and a count", attr(t, "number"), attr(t, "hits")))
				}
				cur.Blocks = append(cur.Blocks, lineBlock(n, h))
			}
		case xml.EndElement:
			if t.Name.Local == "class" {
				cur = nil
			}
			stack = stack[:len(stack)-1]
		}
	}
	if !sawRoot {
		return Report{}, &ParseError{File: name, Msg: "no <coverage> element: not a Cobertura report"}
	}
	return fs.report(false), nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// clip shortens a quoted input line for an error.
func clip(b []byte) string {
	const n = 60
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
