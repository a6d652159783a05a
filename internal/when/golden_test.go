package when

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestErrorsGolden checks the syntax errors of testdata/errors.txtar. Each
// case is a pair of files: NAME.when holds the condition (its final newline
// removed) and NAME.err the error as a user sees it, with a caret under the
// offending spot. Run with -update to rewrite the .err files.
func TestErrorsGolden(t *testing.T) {
	const file = "testdata/errors.txtar"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ar := parseTxtar(data)
	var out []txtarFile
	for i := 0; i < len(ar.Files); i++ {
		f := ar.Files[i]
		name, ok := strings.CutSuffix(f.Name, ".when")
		if !ok {
			t.Fatalf("%s: file %s: want NAME.when, then NAME.err", file, f.Name)
		}
		src := strings.TrimSuffix(string(f.Data), "\n")
		got := renderParseError(src)
		var want []byte
		if i+1 < len(ar.Files) && ar.Files[i+1].Name == name+".err" {
			want = ar.Files[i+1].Data
			i++
		}
		out = append(out, f, txtarFile{Name: name + ".err", Data: []byte(got)})
		if !*update && !bytes.Equal(want, []byte(got)) {
			t.Errorf("%s: %s\n got:\n%s\nwant:\n%s", file, name, got, want)
		}
	}
	if *update {
		ar.Files = out
		if err := os.WriteFile(file, ar.format(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// renderParseError parses src and renders its error as
//
//	offset N: message
//	the line holding the offset
//	    ^
func renderParseError(src string) string {
	_, err := Parse(src)
	if err == nil {
		return "no error\n"
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		return fmt.Sprintf("not a *SyntaxError: %v\n", err)
	}
	start := strings.LastIndexByte(src[:se.Offset], '\n') + 1
	end := strings.IndexByte(src[se.Offset:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += se.Offset
	}
	line := src[start:end]
	pad := []byte(src[start:se.Offset])
	for i, c := range pad {
		if c != '\t' {
			pad[i] = ' '
		}
	}
	return fmt.Sprintf("offset %d: %s\n%s\n%s^\n", se.Offset, se.Msg, line, pad)
}

// A minimal txtar archive (the format of golang.org/x/tools/txtar): a
// comment, then files introduced by "-- NAME --" lines. It stands in for
// github.com/rogpeppe/go-internal/txtar, which this module cannot import
// until go.mod lists that module's own requirements.
type txtarArchive struct {
	Comment []byte
	Files   []txtarFile
}

type txtarFile struct {
	Name string
	Data []byte
}

func parseTxtar(data []byte) *txtarArchive {
	a := &txtarArchive{}
	var cur *[]byte = &a.Comment
	for len(data) > 0 {
		line := data
		rest := []byte(nil)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, rest = data[:i+1], data[i+1:]
		}
		data = rest
		trimmed := bytes.TrimRight(line, "\n")
		if name, ok := bytes.CutPrefix(trimmed, []byte("-- ")); ok && bytes.HasSuffix(name, []byte(" --")) {
			a.Files = append(a.Files, txtarFile{Name: string(bytes.TrimSpace(name[:len(name)-3]))})
			cur = &a.Files[len(a.Files)-1].Data
			continue
		}
		*cur = append(*cur, line...)
		if len(rest) == 0 && !bytes.HasSuffix(line, []byte("\n")) {
			*cur = append(*cur, '\n')
		}
	}
	return a
}

func (a *txtarArchive) format() []byte {
	var b bytes.Buffer
	b.Write(a.Comment)
	for _, f := range a.Files {
		fmt.Fprintf(&b, "-- %s --\n", f.Name)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
