package when

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
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
	ar := txtar.Parse(data)
	var out []txtar.File
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
		out = append(out, f, txtar.File{Name: name + ".err", Data: []byte(got)})
		if !*update && !bytes.Equal(want, []byte(got)) {
			t.Errorf("%s: %s\n got:\n%s\nwant:\n%s", file, name, got, want)
		}
	}
	if *update {
		ar.Files = out
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
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
