package toolbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/coverage"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/jobsvc"
)

func TestCoveragePublish(t *testing.T) {
	t.Parallel()
	dir, store := t.TempDir(), t.TempDir()
	s, err := jobsvc.Start(jobsvc.Config{Scope: jobsvc.Scope{Project: "p", Job: "job-7"}, Coverage: jobsvc.NewLocalCoverage(store)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	env := s.Env()
	gittest.Write(t, dir, map[string]string{
		"cover.out":    "mode: set\nexample.com/a/a.go:3.10,5.2 2 1\nexample.com/a/a.go:7.10,9.2 2 0\n",
		"lcov.info":    "TN:\nSF:src/a.js\nDA:1,1\nDA:2,0\nend_of_record\n",
		"coverage.xml": `<coverage><packages><package><classes><class filename="a.py"><lines><line number="1" hits="1"/><line number="2" hits="1"/></lines></class></classes></package></packages></coverage>`,
		"broken.info":  "TN:\nSF:src/b.js\nDA:1,1\nDA:two,0\n",
	})
	stored := func() coverage.Totals {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(store, "job-7.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r coverage.Report
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		return r.Totals()
	}

	tool(t, dir, env, "coverage", "publish", "cover.out").check(t, 0,
		"coverage: cover.out: 50.0% (2 of 4 lines), 1 file (go)", "Stored with the job's coverage")
	if got := stored(); got != (coverage.Totals{Lines: 4, Covered: 2}) {
		t.Errorf("stored = %+v", got)
	}
	// Another publish adds to the job's coverage; --format names one.
	tool(t, dir, env, "coverage", "publish", "lcov.info", "coverage.xml", "--format", "auto").check(t, 0,
		"lcov.info: 50.0% (1 of 2 lines)", "coverage.xml: 100.0% (2 of 2 lines)", "Stored with the job's coverage: 62.5% (5 of 8 lines)")
	tool(t, dir, env, "coverage", "publish", "--format", "lcov", "lcov.info").check(t, 0, "Stored")

	// Problems are one line naming the file and where, and fail the job
	// only with --fail-on-error.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"missing.out"}, 0, "coverage: missing.out: no such file or directory"},
		{[]string{"missing.out", "--fail-on-error"}, 1, "missing.out: no such file"},
		{[]string{"broken.info"}, 0, `coverage: broken.info:4: malformed DA: "DA:two,0"`},
		{[]string{"broken.info", "--fail-on-error"}, 1, "broken.info:4:"},
		{[]string{"cover.out", "--format", "lcov"}, 0, `cover.out:1: not an LCOV record`},
		{[]string{"cover.out", "--format", "jacoco"}, 0, `cover.out: unknown format "jacoco"`},
		{[]string{"cover.out", "--format", "jacoco", "--fail-on-error"}, 1, `unknown format "jacoco"`},
		{[]string{"broken.info", "cover.out", "--fail-on-error"}, 1, "Stored with the job's coverage"},
	} {
		r := tool(t, dir, env, "coverage", append([]string{"publish"}, tc.args...)...)
		r.check(t, tc.code, tc.want)
		if n := strings.Count(r.stderr, tc.want); n != 1 {
			t.Errorf("%v: %q printed %d times", tc.args, tc.want, n)
		}
	}
	tool(t, dir, env, "coverage", "publish").check(t, 1, "publish needs a coverage file")
	tool(t, dir, []string{"BATON_JOBSVC="}, "coverage", "publish", "cover.out").check(t, 0, "50.0%", "not stored: BATON_JOBSVC is not set")
	tool(t, dir, []string{"BATON_JOBSVC="}, "coverage", "publish", "cover.out", "--fail-on-error").check(t, 1, "not stored")
}

// TestCoveragePassesThrough: coverage.py is called coverage too; what is
// not publish runs the next coverage on PATH, skipping the toolbox's own
// link.
func TestCoveragePassesThrough(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	toolboxDir, pyDir := t.TempDir(), t.TempDir()
	if err := os.Symlink(self, filepath.Join(toolboxDir, "coverage")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pyDir, "coverage"), []byte("#!/bin/sh\necho \"coverage.py $*\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + toolboxDir + string(filepath.ListSeparator) + pyDir + string(filepath.ListSeparator) + os.Getenv("PATH")}
	tool(t, t.TempDir(), env, "coverage", "run", "-m", "pytest").check(t, 3, "coverage.py run -m pytest")
	tool(t, t.TempDir(), []string{"PATH=" + toolboxDir}, "coverage", "xml").check(t, 1, `unknown subcommand "xml" (and no other coverage command is on PATH)`)
}
