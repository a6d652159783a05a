package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// TestUnknownEscapePositions checks where the warnings for unknown escapes
// point and that later nodes on the same line keep their columns, on the
// first line, after a byte order mark, with CRLF line ends, with several
// rewritten strings on one line and with non-ASCII text before the escape.
func TestUnknownEscapePositions(t *testing.T) {
	const rest = "agent: {machine: {type: e1-standard-2}}\nblocks: [{task: {jobs: [{commands: [make]}]}}]\n"
	tests := []struct {
		name, src string
		warnings  []string // "line:col"
		check     func(*Pipeline) string
	}{
		{
			name:     "first line",
			src:      "name: \"a\\qb\"\nversion: v1.0\n" + rest,
			warnings: []string{"1:9"},
			check:    func(p *Pipeline) string { return p.Name },
		},
		{
			name:     "byte order mark",
			src:      bom + "name: \"a\\qb\"\nversion: v1.0\n" + rest,
			warnings: []string{"1:12"}, // byte columns count the mark
			check:    func(p *Pipeline) string { return p.Name },
		},
		{
			name:     "crlf",
			src:      strings.ReplaceAll("version: v1.0\nname: \"a\\qb\"\n"+rest, "\n", "\r\n"),
			warnings: []string{"2:9"},
			check:    func(p *Pipeline) string { return p.Name },
		},
		{
			name: "two strings on one line",
			src: "version: v1.0\n" + rest[:len(rest)-len("blocks: [{task: {jobs: [{commands: [make]}]}}]\n")] +
				"blocks: [{name: \"é\\d\", task: {jobs: [{commands: [\"x\\w\\.\", make]}]}}]\n",
			warnings: []string{"3:20", "3:53", "3:55"},
			check: func(p *Pipeline) string {
				b := p.Blocks[0]
				j := b.Task.Jobs[0]
				return fmt.Sprintf("%s %q job@%d:%d", b.Name, j.Commands.Commands, j.Pos.Line, j.Pos.Col)
			},
		},
	}
	want := map[string]string{
		"first line":              "aqb",
		"byte order mark":         "aqb",
		"crlf":                    "aqb",
		"two strings on one line": `éd ["xw." "make"] job@3:39`,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, diags := Parse("p.yml", []byte(tt.src))
			if len(diags) > 0 {
				t.Fatalf("unexpected errors:\n%s", diags.Format(false))
			}
			var got []string
			for _, w := range p.Warnings {
				if !strings.Contains(w.Message, "unknown escape") {
					t.Errorf("unexpected warning %s", w)
				}
				got = append(got, fmt.Sprintf("%d:%d", w.Pos.Line, w.Pos.Col))
			}
			if strings.Join(got, " ") != strings.Join(tt.warnings, " ") {
				t.Errorf("warnings at %v, want %v\n%s", got, tt.warnings, p.Warnings.Format(false))
			}
			if g := tt.check(p); g != want[tt.name] {
				t.Errorf("read %s, want %s", g, want[tt.name])
			}
		})
	}
}

// TestUnknownEscapeBudget checks that a file with more rewritten strings
// than the budget is refused with the YAML error instead of parsed again
// and again.
func TestUnknownEscapeBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: v1.0\nagent: {machine: {type: e1-standard-2}}\nblocks: [{task: {jobs: [{commands: [\n")
	for range maxEscapeFixes + 1 {
		b.WriteString("  \"\\d\",\n")
	}
	b.WriteString("]}]}}]\n")
	_, diags := Parse("p.yml", []byte(b.String()))
	if len(diags) != 1 || !strings.Contains(diags[0].Message, unknownEscapeError) {
		t.Fatalf("diagnostics = %v, want one %q", diags, unknownEscapeError)
	}
	if want := fmt.Sprintf("p.yml:%d:3", 4+maxEscapeFixes); !strings.HasPrefix(diags[0].String(), want) {
		t.Errorf("diagnostic %s, want at %s", diags[0], want)
	}
}

// TestUnknownEscapeLargeFile checks that a large file is not parsed again
// for every rewritten string: past the byte budget the YAML error stands.
func TestUnknownEscapeLargeFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: v1.0\nagent: {machine: {type: e1-standard-2}}\nblocks: [{task: {jobs: [{commands: [\n")
	for range 100 {
		b.WriteString("  \"\\d\",\n")
	}
	for b.Len() < maxEscapeReparse/50 {
		b.WriteString("  \"plain text, plain text, plain text, plain text\",\n")
	}
	b.WriteString("]}]}}]\n")
	_, diags := Parse("p.yml", []byte(b.String()))
	if len(diags) != 1 || !strings.Contains(diags[0].Message, unknownEscapeError) {
		t.Fatalf("diagnostics = %v, want one %q", diags, unknownEscapeError)
	}
	if want := "p.yml:54:3"; !strings.HasPrefix(diags[0].String(), want) {
		t.Errorf("diagnostic %s, want at %s (after 50 rewrites)", diags[0], want)
	}
}
