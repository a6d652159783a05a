package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestEveryCommandHasAScript: every command of the table is run by a
// testscript of testdata/script (other than with --help), so that each has
// its behaviour specified. A new command fails this test until a script
// runs it.
func TestEveryCommandHasAScript(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testscripts: %v", err)
	}
	ran := map[string]bool{}
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(ar.Comment), "\n") {
			if args := scriptBatonArgs(line); args != nil {
				if c, rest := find(args); c != nil && !slices.Contains(rest, "--help") && !slices.Contains(rest, "-h") {
					ran[c.name] = true
				}
			}
		}
	}
	for _, c := range commands() {
		if !ran[c.name] {
			t.Errorf("no testscript in testdata/script runs 'baton %s' (beyond --help): add one that specifies what it does and refuses", c.name)
		}
	}
}

// scriptBatonArgs returns the arguments of a script line that runs baton
// ("[cond] ! exec baton ARGS..."), or nil.
func scriptBatonArgs(line string) []string {
	words := strings.Fields(line)
	for len(words) > 0 && (strings.HasPrefix(words[0], "[") || words[0] == "!" || words[0] == "?" || words[0] == "exec") {
		words = words[1:]
	}
	if len(words) == 0 || words[0] != "baton" {
		return nil
	}
	return words[1:]
}

func TestScriptBatonArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"exec baton job stop $ONE", []string{"job", "stop", "$ONE"}},
		{"[root] ! exec baton agent --job-user x", []string{"agent", "--job-user", "x"}},
		{"! baton run", []string{"run"}},
		{"exec git commit -m baton", nil},
		{"# exec baton run", nil},
		{"stdout 'baton run'", nil},
	} {
		if got := scriptBatonArgs(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("scriptBatonArgs(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
