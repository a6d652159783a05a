package pipeline

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	ds := Diagnostics{
		{Pos: Pos{File: "p.yml", Line: 12, Col: 9}, Message: `unknown key "comands" in job "Test"`, Source: "        comands:"},
		{Pos: Pos{File: "p.yml", Line: 3, Col: 14}, Message: "tab", Source: "\tname: \"🚀\" x"},
		{Pos: Pos{File: "p.yml", Line: 1, Col: 1}, Message: "no source"},
		{Pos: Pos{File: "p.yml", Line: 2, Col: 5}, Message: "past the end", Source: "ab"},
	}
	want := strings.Join([]string{
		`p.yml:12:9: unknown key "comands" in job "Test"`,
		"  12 |         comands:",
		"     |         ^",
		"p.yml:3:14: tab",
		"   3 | \tname: \"🚀\" x",
		"     | \t          ^", // the rocket is two cells wide
		"p.yml:1:1: no source",
		"p.yml:2:5: past the end",
		"   2 | ab",
		"     |     ^",
		"",
	}, "\n")
	if diff := cmp.Diff(want, ds.Format(false)); diff != "" {
		t.Errorf("Format(false) mismatch (-want +got):\n%s", diff)
	}

	colored := ds[:1].Format(true)
	for _, part := range []string{ansiBold + "p.yml:12:9:" + ansiReset, ansiRed + "^" + ansiReset, ansiBlue + "  12 |" + ansiReset} {
		if !strings.Contains(colored, part) {
			t.Errorf("Format(true) = %q, want it to contain %q", colored, part)
		}
	}
	if got := Diagnostics(nil).Format(true); got != "" {
		t.Errorf("Format of no diagnostics = %q, want empty", got)
	}
}

func TestFormatSanitizesControlCharacters(t *testing.T) {
	ds := Diagnostics{{Pos: Pos{File: "f", Line: 1, Col: 3}, Message: "m", Source: "a\x1b[2Jb"}}
	if got := ds.Format(false); strings.Contains(got, "\x1b") {
		t.Errorf("Format = %q, want no escape characters from the source", got)
	}
}

// TestFormatParsed checks the excerpt of a real diagnostic, from a CRLF file
// with a multi-byte character before the column.
func TestFormatParsed(t *testing.T) {
	src := "version: v1.0\r\nagent:\r\n  machine: {type: e1-standard-2}\r\nblocks:\r\n  - name: é\r\n    task: {jobs: [{comands: [x]}]}\r\n"
	_, ds := Parse("p.yml", []byte(src))
	want := strings.Join([]string{
		`p.yml:6:20: unknown key "comands" in job 1 (did you mean "commands"?)`,
		"   6 |     task: {jobs: [{comands: [x]}]}",
		"     |                    ^",
		"",
	}, "\n")
	if diff := cmp.Diff(want, ds.Format(false)); diff != "" {
		t.Errorf("Format mismatch (-want +got):\n%s", diff)
	}
}
