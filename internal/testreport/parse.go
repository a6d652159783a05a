package testreport

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Parsers are the names --parser accepts besides "auto". Detection tries
// rspec, exunit, mocha and golang in that order and falls back to generic,
// as Semaphore's test-results does; phpunit and embedded are only used when
// named. Every parser reads nested suites (PHPUnit, Surefire's
// parameterised tests) as flat suites named "outer\inner", each counted once.
var Parsers = []string{"generic", "golang", "rspec", "exunit", "mocha", "phpunit", "embedded"}

// Options tune Parse. The zero value detects the framework and keeps
// outputs whole.
type Options struct {
	Parser      string // "" or "auto" detects; else one of Parsers
	Name        string // the report's name; default: the root's name attribute or "<Framework> Suite"
	SuitePrefix string // put in front of every suite's name
	TrimOutput  int    // keep the last this many bytes of system-out and system-err (0: all)
}

// ParseError is a report that cannot be read: bad XML, or not JUnit. Its
// message is one line naming the file and the position.
type ParseError struct {
	File      string
	Line, Col int // 0 when the problem is the whole file
	Msg       string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// maxDepth bounds how deeply suites may nest, so a hostile file cannot
// exhaust the stack.
const maxDepth = 64

// Parse reads one JUnit XML document; file names it in errors. The result
// holds one report.
func Parse(file string, data []byte, opt Options) (Result, error) {
	p := strings.ToLower(opt.Parser)
	if p != "" && p != "auto" && !slices.Contains(Parsers, p) {
		return Result{}, &ParseError{File: file, Msg: fmt.Sprintf("unknown parser %q (one of auto, %s)", opt.Parser, strings.Join(Parsers, ", "))}
	}
	root, err := readTree(file, data)
	if err != nil {
		return Result{}, err
	}
	if p == "" || p == "auto" {
		p = detect(root)
	}
	tr := build(root, p, opt)
	return Result{TestResults: []TestResults{tr}}, nil
}

// node is a <testsuites> or <testsuite> element as read.
type node struct {
	tag      string
	attrs    map[string]string
	props    map[string]string
	out, err string
	suites   []*node
	tests    []*rawTest
}

type rawTest struct {
	attrs    map[string]string
	state    State
	failure  *Failure
	error    *Failure
	out, err string
}

func attrMap(as []xml.Attr) map[string]string {
	m := make(map[string]string, len(as))
	for _, a := range as {
		if _, dup := m[a.Name.Local]; !dup {
			m[a.Name.Local] = a.Value
		}
	}
	return m
}

// position turns a byte offset into a line and column (in characters).
func position(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// tokens is what readTree reads a document with: an *xml.Decoder, or
// the fast scanner.
type tokens interface {
	Token() (xml.Token, error)
	Skip() error
	InputOffset() int64
}

// readTree reads the document with the fast scanner, and again with
// encoding/xml when the scanner cannot (see scanner), which also makes
// the errors of malformed documents.
func readTree(file string, data []byte) (*node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ParseError{File: file, Msg: "empty file, expected JUnit XML"}
	}
	if sc := newScanner(data); sc != nil {
		if root, err := readTokens(file, data, sc); err == nil {
			return root, nil
		}
	}
	return readTreeXML(file, data)
}

// readTreeXML reads the document with encoding/xml.
func readTreeXML(file string, data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		case "iso-8859-1", "latin1":
			return latin1Reader(r)
		}
		return nil, errors.New("not supported, write the report in UTF-8")
	}
	fail := func(err error) error {
		line, col := position(data, dec.InputOffset())
		msg := strings.TrimPrefix(err.Error(), "xml: ")
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			msg = "malformed XML: " + se.Msg
		} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			msg = "malformed XML: unexpected end of file"
		}
		return &ParseError{File: file, Line: line, Col: col, Msg: msg}
	}
	root, err := readTokens(file, data, dec)
	var pe *ParseError
	if err != nil && !errors.As(err, &pe) {
		return nil, fail(err)
	}
	return root, err
}

// readTokens builds the tree of suites and tests from dec's tokens. An
// error that is not a *ParseError is dec's.
func readTokens(file string, data []byte, dec tokens) (*node, error) {
	var root *node
	var suites []*node // open suites, innermost last
	var test *rawTest
	var text *strings.Builder // collecting character data, if non-nil
	var textTo func(string)
	depth, textDepth := 0, 0
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			if root == nil {
				return nil, &ParseError{File: file, Msg: "no XML element, expected <testsuites> or <testsuite>"}
			}
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				line, col := position(data, off)
				return nil, &ParseError{File: file, Line: line, Col: col, Msg: fmt.Sprintf("elements nested more than %d deep", maxDepth)}
			}
			if text != nil {
				continue // markup inside a failure body: keep its text only
			}
			name := t.Name.Local
			switch {
			case root == nil:
				if name != "testsuites" && name != "testsuite" {
					line, col := position(data, off)
					return nil, &ParseError{File: file, Line: line, Col: col, Msg: fmt.Sprintf("the root element is <%s>, not <testsuites> or <testsuite>", name)}
				}
				root = &node{tag: name, attrs: attrMap(t.Attr)}
				if name == "testsuite" {
					suites = append(suites, root)
				}
			case test != nil:
				switch name {
				case "failure", "error", "skipped":
					a := attrMap(t.Attr)
					f := &Failure{Message: a["message"], Type: a["type"]}
					cur := test
					switch name {
					case "failure":
						cur.state, cur.failure = StateFailed, f
					case "error":
						cur.state, cur.error = StateError, f
					case "skipped":
						if cur.state == StatePassed {
							cur.state = StateSkipped
						}
					}
					if name != "skipped" {
						text, textDepth = &strings.Builder{}, depth
						textTo = func(s string) { f.Body = s }
					}
				case "system-out", "system-err":
					cur := test
					text, textDepth = &strings.Builder{}, depth
					if name == "system-out" {
						textTo = func(s string) { cur.out += s }
					} else {
						textTo = func(s string) { cur.err += s }
					}
				default:
					if err := dec.Skip(); err != nil {
						return nil, err
					}
					depth--
				}
			case name == "testsuite" && (len(suites) > 0 || root.tag == "testsuites"):
				s := &node{tag: name, attrs: attrMap(t.Attr)}
				if len(suites) == 0 {
					root.suites = append(root.suites, s)
				} else {
					parent := suites[len(suites)-1]
					parent.suites = append(parent.suites, s)
				}
				suites = append(suites, s)
			case name == "testcase" && len(suites) > 0:
				test = &rawTest{attrs: attrMap(t.Attr), state: StatePassed}
				s := suites[len(suites)-1]
				s.tests = append(s.tests, test)
			case name == "property" && len(suites) > 0:
				a := attrMap(t.Attr)
				s := suites[len(suites)-1]
				if s.props == nil {
					s.props = map[string]string{}
				}
				if _, ok := a["name"]; ok {
					s.props[a["name"]] = a["value"]
				}
				if err := dec.Skip(); err != nil {
					return nil, err
				}
				depth--
			case name == "properties" && len(suites) > 0:
				// its <property> children are read above
			case (name == "system-out" || name == "system-err") && len(suites) > 0:
				s := suites[len(suites)-1]
				text, textDepth = &strings.Builder{}, depth
				if name == "system-out" {
					textTo = func(v string) { s.out += v }
				} else {
					textTo = func(v string) { s.err += v }
				}
			default:
				if err := dec.Skip(); err != nil {
					return nil, err
				}
				depth--
			}
		case xml.EndElement:
			if text != nil && depth == textDepth {
				textTo(text.String())
				text, textTo = nil, nil
			} else if text == nil {
				switch t.Name.Local {
				case "testcase":
					test = nil
				case "testsuite":
					if len(suites) > 0 {
						suites = suites[:len(suites)-1]
					}
				}
			}
			depth--
		case xml.CharData:
			if text != nil {
				text.Write(t)
			}
		}
	}
}

// detect picks a parser as Semaphore's test-results does.
func detect(root *node) string {
	top := []*node{root}
	if root.tag == "testsuites" {
		top = root.suites
	}
	switch {
	case root.tag == "testsuite" && root.attrs["name"] == "rspec":
		return "rspec"
	case slices.ContainsFunc(top, func(s *node) bool { return strings.HasPrefix(s.attrs["name"], "Elixir.") }):
		return "exunit"
	case root.tag == "testsuites" && strings.Contains(strings.ToLower(root.attrs["name"]), "mocha"):
		return "mocha"
	case slices.ContainsFunc(top, func(s *node) bool { _, ok := s.props["go.version"]; return ok }):
		return "golang"
	}
	return "generic"
}

var titles = map[string]string{
	"generic": "Generic", "golang": "Golang", "rspec": "Rspec", "exunit": "Exunit",
	"mocha": "Mocha", "phpunit": "PHPUnit", "embedded": "Embedded",
}

// build turns the tree into a report for the framework p.
func build(root *node, p string, opt Options) TestResults {
	tr := TestResults{Framework: p, Status: StatusSuccess, Suites: []Suite{}}
	top := []*node{root}
	if root.tag == "testsuites" {
		top = root.suites
		tr.Name = root.attrs["name"]
		tr.IsDisabled, _ = strconv.ParseBool(root.attrs["disabled"])
	}
	if tr.Name == "" {
		tr.Name = titles[p] + " Suite"
	}
	if opt.Name != "" {
		tr.Name = opt.Name
	}
	for _, s := range top {
		name := s.attrs["name"]
		if p == "exunit" {
			name = strings.TrimPrefix(name, "Elixir.")
		}
		flatten(&tr, s, name, p, opt)
	}
	if p == "rspec" {
		bySuiteFile(&tr)
	}
	for i := range tr.Suites {
		if opt.SuitePrefix != "" {
			tr.Suites[i].Name = opt.SuitePrefix + tr.Suites[i].Name
		}
		tr.Suites[i].aggregate()
	}
	tr.aggregate()
	tr.assignIDs()
	return tr
}

// flatten adds s (if it has test cases) and the suites nested in it.
func flatten(tr *TestResults, s *node, name, p string, opt Options) {
	if len(s.tests) > 0 || len(s.suites) == 0 {
		tr.Suites = append(tr.Suites, newSuite(s, name, p, opt))
	}
	for _, sub := range s.suites {
		n := sub.attrs["name"]
		switch {
		case name == "":
		case n == "":
			n = name
		default:
			n = name + `\` + n
		}
		flatten(tr, sub, n, p, opt)
	}
}

func newSuite(s *node, name, p string, opt Options) Suite {
	a := s.attrs
	out := Suite{
		Name:       name,
		Timestamp:  a["timestamp"],
		Hostname:   a["hostname"],
		Package:    a["package"],
		Properties: s.props,
		SystemOut:  trim(s.out, opt.TrimOutput),
		SystemErr:  trim(s.err, opt.TrimOutput),
		Tests:      make([]Test, 0, len(s.tests)),
	}
	out.IsDisabled, _ = strconv.ParseBool(a["disabled"])
	out.Summary.Duration = seconds(a["time"])
	for _, t := range s.tests {
		ta := t.attrs
		test := Test{
			Name:      ta["name"],
			Classname: ta["classname"],
			Package:   ta["package"],
			File:      strings.TrimPrefix(ta["file"], "./"),
			Duration:  seconds(ta["time"]),
			State:     t.state,
			SystemOut: trim(t.out, opt.TrimOutput),
			SystemErr: trim(t.err, opt.TrimOutput),
		}
		test.Failure, test.Error = t.failure, t.error
		if test.Failure != nil && test.Error != nil {
			test.State = StateError // an error outweighs a failure
		}
		out.Tests = append(out.Tests, test)
	}
	// JUnit's skipped attribute is a count; a suite is skipped when all
	// its tests are.
	out.IsSkipped = len(out.Tests) > 0 && !slices.ContainsFunc(out.Tests, func(t Test) bool { return t.State != StateSkipped })
	return out
}

// bySuiteFile regroups RSpec's single suite into one suite per spec file,
// as Semaphore does.
func bySuiteFile(tr *TestResults) {
	var out []Suite
	at := map[string]int{}
	for _, s := range tr.Suites {
		for _, t := range s.Tests {
			name := s.Name
			if t.File != "" {
				name = t.File
			}
			i, ok := at[name]
			if !ok {
				i = len(out)
				at[name] = i
				ns := s
				ns.Name, ns.Tests, ns.Summary = name, []Test{}, Summary{}
				out = append(out, ns)
			}
			out[i].Tests = append(out[i].Tests, t)
		}
	}
	if out == nil {
		out = []Suite{}
	}
	tr.Suites = out
}

// seconds reads a JUnit time attribute ("1.5", "1,234.5", "0.001s").
func seconds(s string) time.Duration {
	s = strings.TrimSuffix(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), "s")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// trim keeps the last n bytes of s (from a character boundary), saying
// how much went: the end of an output is where a test's trouble shows.
func trim(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	cut := len(s) - n
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return fmt.Sprintf("[%d bytes trimmed] ...\n", cut) + s[cut:]
}

// latin1Reader decodes ISO-8859-1, which some older tools still declare.
func latin1Reader(r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	for _, c := range b {
		out.WriteRune(rune(c))
	}
	return strings.NewReader(out.String()), nil
}
