package toolbox

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/testreport"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	bashAvailable(t)
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas []string
		attempts  string
	}{
		{"succeeds at once", []string{"echo ok"}, 0, "ok\n", nil, ""},
		{"succeeds on the third try", []string{"-t", "5", "test", "$(count)", "-ge", "3"}, 0, "", []string{"retry: [1/5] Execution Failed with exit status 1. Retrying.", "[2/5]"}, "3"},
		{"gives up", []string{"--times", "2", "--sleep", "0.01", "count >/dev/null; exit 7"}, 7, "", []string{"[1/2] Execution Failed with exit status 7. Retrying.", "[2/2] Execution Failed with exit status 7. No more retries."}, "2"},
		{"default three times", []string{"count", ">/dev/null", "&&", "false"}, 1, "", []string{"[3/3]"}, "3"},
		{"words are joined", []string{"echo", "a", "&&", "echo", "b"}, 0, "a\nb\n", nil, ""},
		{"signal", []string{"-t", "1", "kill -TERM $$"}, 143, "", []string{"status 143"}, ""},
		{"no command", nil, 1, "", []string{"retry: no command to run"}, ""},
		{"bad times", []string{"-t", "x", "true"}, 1, "", []string{"invalid value"}, ""},
		{"zero times", []string{"-t", "0", "true"}, 1, "", []string{"invalid value"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// count increments and prints a counter in the working directory.
			counter := `count() { n=$(( $(cat n 2>/dev/null || echo 0) + 1 )); echo $n > n; echo $n; }; export -f count`
			env := []string{"BASH_ENV=" + filepath.Join(dir, "env.sh")}
			must(t, os.WriteFile(filepath.Join(dir, "env.sh"), []byte(counter+"\n"), 0o644))
			r := tool(t, dir, env, "retry", tt.args...)
			r.check(t, tt.code, tt.stderrHas...)
			if r.stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, tt.stdout)
			}
			if tt.attempts != "" {
				n, _ := os.ReadFile(filepath.Join(dir, "n"))
				if got := strings.TrimSpace(string(n)); got != tt.attempts {
					t.Errorf("ran %s times, want %s", got, tt.attempts)
				}
			}
		})
	}
}

const junitPassing = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="pkg/a" tests="3" time="1.5">
    <testcase classname="pkg/a" name="TestOne" time="0.5"/>
    <testcase classname="pkg/a" name="TestTwo" time="1.0"><skipped message="later"/></testcase>
    <testcase classname="pkg/a" name="TestThree" time="0"/>
  </testsuite>
</testsuites>
`

const junitFailing = `<testsuite name="rspec" time="2.25">
  <testcase classname="spec.models.user_spec" name="validates email" time="2"><failure message="expected true">trace</failure></testcase>
  <testcase classname="spec.models.user_spec" name="saves" time="0.25"><error message="boom"/></testcase>
  <testsuite name="nested">
    <testcase name="deep"><failure/></testcase>
  </testsuite>
</testsuite>
`

func TestTestResultsPublish(t *testing.T) {
	t.Parallel()
	dir, reports := t.TempDir(), t.TempDir()
	s, err := jobsvc.Start(jobsvc.Config{Scope: jobsvc.Scope{Project: "p", Job: "job-9"}, Reports: jobsvc.NewLocalReports(reports)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	env := s.Env()
	gittest.Write(t, dir, map[string]string{
		"junit.xml":             junitPassing,
		"reports/a/results.xml": strings.ReplaceAll(junitPassing, "pkg/a", "pkg/b"),
		"reports/b/results.xml": junitFailing,
		"reports/b/notes.txt":   "ignored",
		"broken.xml":            "<testsuite>\n<testcase>",
		"html.xml":              "<html/>",
	})
	stored := func() testreport.Result {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(reports, "job-9.json"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := testreport.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	tool(t, dir, env, "test-results", "publish", "junit.xml").check(t, 0,
		"test-results: Generic Suite: 3 tests: 2 passed, 1 skipped in 1.5s (1 file, generic)",
		"Stored with the job's report")
	if got := stored().Summary(); got.Total != 3 || got.Skipped != 1 {
		t.Errorf("stored summary = %+v", got)
	}

	// A second publish adds to the job's report.
	r := tool(t, dir, env, "test-results", "publish", "reports", "--name", "Unit")
	r.check(t, 0, "Unit: 6 tests: 2 passed, 2 failed, 1 errored, 1 skipped in 3.75s (2 files, rspec, generic)",
		"FAILED rspec / spec.models.user_spec.validates email", "ERROR rspec / spec.models.user_spec.saves", `FAILED rspec\nested / deep`,
		"Stored with the job's report (9 tests: 4 passed, 2 failed, 1 errored, 2 skipped")
	if got := stored().Summary(); got.Total != 9 || got.Failed != 2 || got.Error != 1 {
		t.Errorf("stored summary after the second publish = %+v", got)
	}

	// Problems are reported on one line and fail only with --fail-on-error.
	tool(t, dir, env, "test-results", "publish", "missing.xml").check(t, 0, "test-results: missing.xml: no such file or directory")
	tool(t, dir, env, "test-results", "publish", "missing.xml", "--fail-on-error").check(t, 1, "missing.xml: no such file")
	tool(t, dir, env, "test-results", "publish", "missing.xml", "--ignore-missing", "--fail-on-error").check(t, 0, "nothing to publish")
	tool(t, dir, env, "test-results", "publish", "broken.xml").check(t, 0, "test-results: broken.xml:2:11: malformed XML: unexpected EOF")
	tool(t, dir, env, "test-results", "publish", "broken.xml", "--fail-on-error").check(t, 1, "broken.xml:2:11")
	tool(t, dir, env, "test-results", "publish", "html.xml", "junit.xml").check(t, 0, "html.xml:1:1: the root element is <html>", "3 tests")
	tool(t, dir, env, "test-results", "publish").check(t, 1, "publish needs")
	tool(t, dir, env, "test-results", "publish", "junit.xml", "--parser", "nunit").check(t, 1, `unknown parser "nunit"`)
	tool(t, dir, []string{"BATON_JOBSVC="}, "test-results", "publish", "junit.xml").check(t, 0, "3 tests", "not stored: BATON_JOBSVC is not set")
	tool(t, dir, []string{"BATON_JOBSVC="}, "test-results", "publish", "junit.xml", "--fail-on-error").check(t, 1, "not stored")

	// The pipeline's report merges the jobs'.
	tool(t, dir, env, "test-results", "gen-pipeline-report").check(t, 0, "Pipeline report: 9 tests: 4 passed, 2 failed, 1 errored, 2 skipped")
	for _, sub := range []string{"compile", "combine", "command-metrics", "resource-metrics"} {
		tool(t, dir, env, "test-results", sub).check(t, 0, "test-results: '"+sub+"' is not available")
	}
}

func TestSemVersion(t *testing.T) {
	t.Parallel()
	bashAvailable(t)
	// Fake tools that print versions the way the real ones do.
	bin := t.TempDir()
	fakes := map[string]string{
		"go":      `echo "go version go1.22.5 linux/amd64"`,
		"node":    `echo v20.11.1`,
		"python3": `echo "Python 3.12.1"`,
		"java":    `echo 'openjdk version "1.8.0_392"' >&2`,
		"ruby":    `echo "ruby 3.3.0 (2023-12-25 revision 5124f9ac75) [x86_64-linux]"`,
	}
	for name, script := range fakes {
		must(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	}
	env := []string{"PATH=" + bin + ":/usr/bin:/bin"}
	dir := t.TempDir()
	tests := []struct {
		args      []string
		code      int
		stderrHas string
	}{
		{[]string{"go", "1.22"}, 0, "go 1.22 is installed on this machine (go 1.22.5); nothing to switch"},
		{[]string{"go", "1.22.5"}, 0, "nothing to switch"},
		{[]string{"go", "1.21"}, 0, "cannot switch go to 1.21: sem-version is not available in local runs; the job continues with the installed go 1.22.5"},
		{[]string{"node", "20"}, 0, "nothing to switch"},
		{[]string{"node", "18.19.0"}, 0, "continues with the installed node 20.11.1"},
		{[]string{"python", "3.12"}, 0, "nothing to switch"},
		{[]string{"java", "8"}, 0, "nothing to switch"},
		{[]string{"java", "17"}, 0, "continues with the installed java 1.8.0"},
		{[]string{"ruby", "3.3.0", "-i"}, 0, "nothing to switch"},
		{[]string{"php", "8.2"}, 0, "php is not installed on this machine"},
		{[]string{"cobol", "1"}, 1, `unknown language "cobol"`},
		{[]string{"cobol", "1", "--ignore"}, 0, `unknown language "cobol"`},
		{[]string{"go"}, 1, "want a language and a version"},
	}
	for _, tt := range tests {
		tool(t, dir, env, "sem-version", tt.args...).check(t, tt.code, "sem-version: ", tt.stderrHas)
	}
}

func TestVersionMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lang, want, have string
		match            bool
	}{
		{"go", "1.22", "1.22.5", true},
		{"go", "go1.22", "1.22.5", true},
		{"go", "1.2", "1.22.5", false},
		{"node", "v20", "20.1.0", true},
		{"java", "1.8", "1.8.0", true},
		{"java", "8", "1.8.0", true},
		{"java", "11", "11.0.2", true},
		{"python", "3.12.1", "3.12", false},
		{"python", "", "3.12", false},
	}
	for _, tt := range tests {
		if got := versionMatches(tt.lang, tt.want, tt.have); got != tt.match {
			t.Errorf("versionMatches(%s, %q, %q) = %v, want %v", tt.lang, tt.want, tt.have, got, tt.match)
		}
	}
}
