package cli

import (
	"flag"
	"io"
	"slices"
	"testing"
)

// TestParseDoubleDash: everything after "--" is positional (a remote
// command's own flags), wherever the "--" is, unless it is a flag's value.
func TestParseDoubleDash(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		key     string
		verbose bool
	}{
		{[]string{"-i", "KEY", "JOB", "--", "bash", "-c", "echo hi"}, []string{"JOB", "bash", "-c", "echo hi"}, "KEY", false},
		{[]string{"JOB", "-i", "KEY", "--", "bash", "-c", "echo hi"}, []string{"JOB", "bash", "-c", "echo hi"}, "KEY", false},
		{[]string{"JOB", "-v", "--", "ls", "-l"}, []string{"JOB", "ls", "-l"}, "", true},
		{[]string{"--", "-i", "x"}, []string{"-i", "x"}, "", false},
		{[]string{"-i", "--", "JOB", "-v"}, []string{"JOB"}, "--", true},
		{[]string{"JOB", "cmd", "-v"}, []string{"JOB", "cmd"}, "", true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		key := fs.String("i", "", "")
		verbose := fs.Bool("v", false, "")
		pos, _, stop := parse(fs, tc.args)
		if stop || !slices.Equal(pos, tc.pos) || *key != tc.key || *verbose != tc.verbose {
			t.Errorf("parse(%q) = %q, -i %q, -v %v, stop %v; want %q, -i %q, -v %v", tc.args, pos, *key, *verbose, stop, tc.pos, tc.key, tc.verbose)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("i", "", "")
	if _, code, stop := parse(fs, []string{"JOB", "bash", "-c", "echo hi"}); !stop || code != ExitUsage {
		t.Errorf("without --, a remote command's flag is the CLI's: want a usage error")
	}
}
