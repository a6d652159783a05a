package when

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxError with an offset inside the source, and that the canonical
// form of a parsed condition parses back to the same canonical form and
// evaluates the same way.
func FuzzParse(f *testing.F) {
	for _, s := range spec25 {
		f.Add(s)
	}
	for _, tc := range parseCases {
		f.Add(tc.src)
	}
	for _, tc := range parseErrorCases {
		f.Add(tc.src)
	}
	for _, s := range corpusConditions(f) {
		f.Add(s)
	}
	if data, err := os.ReadFile("testdata/errors.txtar"); err == nil {
		for _, file := range txtar.Parse(data).Files {
			if strings.HasSuffix(file.Name, ".when") {
				f.Add(strings.TrimSuffix(string(file.Data), "\n"))
			}
		}
	}
	inputs := []Input{
		{Branch: "master", ChangeIn: changeInStub},
		{Tag: "v1.2.3", Result: "passed", ResultReason: "test", ChangeIn: changeInStub},
		{PullRequest: "42", ChangeIn: changeInStub},
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", src, err, err)
			}
			if se.Offset < 0 || se.Offset > len(src) {
				t.Fatalf("Parse(%q) error offset %d outside [0, %d]: %s", src, se.Offset, len(src), se.Msg)
			}
			if se.Msg == "" {
				t.Fatalf("Parse(%q) error without a message", src)
			}
			return
		}
		s := e.String()
		e2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", src, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("round trip of %q: %q then %q", src, s, s2)
		}
		for _, in := range inputs {
			got1, err1 := Eval(e, in)
			got2, err2 := Eval(e2, in)
			if got1 != got2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("Eval(%q) = %v, %v but Eval(%q) = %v, %v", src, got1, err1, s, got2, err2)
			}
		}
	})
}
