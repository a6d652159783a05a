package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/testenv"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestReadmeTour runs the README's quick tour of the service, command by
// command in its order, against a fresh data directory: the tour's block
// is read from README.md and turned into a test script, so the README
// and the test cannot disagree. The script fills in what the tour leaves
// to the reader: a repository at /src/app, the IDs a command printed
// (ID, JOB_ID), a free port for baton up, and the waits a person does
// by eye (for the server to answer, for a stopped workflow to end).
func TestReadmeTour(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := tourCommands(t, string(readme))
	var b strings.Builder
	b.WriteString("# Generated from README.md's quick tour of the service.\n")
	step := func(format string, args ...any) {
		b.WriteString(strings.ReplaceAll(strings.TrimSpace(strings.NewReplacer("\t", "").Replace(fmt.Sprintf(format, args...))), "\n", "\n") + "\n")
	}
	// baton up runs from a copy that job users may run, as an installed
	// baton would be: its jobs run the toolbox through it.
	step("env BATON_BIN=%s", testenv.BatonBinary(t))
	step("cd app\nexec git init -q -b main\nexec git add -A\nexec git commit -q -m first\ncd $WORK")
	ids := strings.NewReplacer("PIPELINE_ID", "$PL", "JOB_ID", "$JOB", "ID", "$WF", "file:///src/app", "file://$WORK/app")
	for _, c := range cmds {
		args := strings.Fields(c)
		if len(args) < 2 || args[0] != "baton" {
			t.Fatalf("the tour's command %q is not a baton command", c)
		}
		switch {
		case args[1] == "up":
			step("exec $BATON_BIN %s --data $WORK/baton-data --addr 127.0.0.1:0 &up&", strings.TrimPrefix(c, "baton "))
			step("waitfile baton-data/admin-token")
			step("exec bash -c 'for i in $(seq 300); do baton project list >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1'")
			continue
		case len(args) > 2 && args[1] == "project" && args[2] == "delete":
			// A person waits until the stopped workflow has ended.
			step(`exec bash -c 'for i in $(seq 300); do baton workflow list app --json | grep '"'"'"state"'"'"' | grep -qv '"'"'"done"'"'"' || exit 0; sleep 0.1; done; exit 1'`)
		}
		step("exec %s", ids.Replace(c))
		switch {
		case len(args) > 2 && args[1] == "workflow" && args[2] == "run" && strings.Contains(c, "--wait"):
			step(`stdout 'Workflow passed'`)
			step(`capture WF 'Workflow ([0-9a-f-]{36}) '`)
		case len(args) > 2 && args[1] == "workflow" && args[2] == "show":
			step(`stdout 'done passed'`)
			step(`exec baton workflow show $WF --json`)
			step(`capture JOB '"jobs": \[\s+\{\s+"id": "([0-9a-f-]{36})"'`)
			step(`capture PL '"pipelines": \[\s+\{\s+"id": "([0-9a-f-]{36})"'`)
		case len(args) > 2 && args[1] == "job" && args[2] == "logs":
			step(`stdout 'hello from the tour'`)
		case len(args) > 2 && args[1] == "workflow" && args[2] == "rebuild":
			step(`capture WF 'New workflow: ([0-9a-f-]{36})'`)
		case len(args) > 2 && args[1] == "project" && args[2] == "delete":
			step(`stdout 'Deleted project app'`)
		}
	}
	step("kill -INT up\nwait up\nstdout 'Baton is running at'")
	b.WriteString(tourFiles)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "readme_tour.txtar"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("script:\n%s", b.String())
	testscript.Run(t, scriptParams(dir))
}

// tourCommands returns the commands of the README's tour block, in
// order: its "$ " lines without their comments, alternatives ("A | B")
// one after the other.
func tourCommands(t *testing.T, readme string) []string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## A quick tour of the service\n")
	if !ok {
		t.Fatal("README.md has no section \"A quick tour of the service\"")
	}
	_, block, ok := strings.Cut(after, "\n```\n")
	if !ok {
		t.Fatal("the tour has no command block")
	}
	block, _, _ = strings.Cut(block, "\n```")
	comment := regexp.MustCompile(`\s+#.*$`)
	var cmds []string
	for line := range strings.SplitSeq(block, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "$ ") {
			continue
		}
		line = comment.ReplaceAllString(strings.TrimPrefix(line, "$ "), "")
		for alt := range strings.SplitSeq(line, " | ") {
			cmds = append(cmds, strings.TrimSpace(alt))
		}
	}
	if len(cmds) < 5 || !strings.HasPrefix(cmds[0], "baton up") {
		t.Fatalf("the tour's block reads as %q: want baton up first, then the tour", cmds)
	}
	return cmds
}

// tourFiles is the repository the tour builds (/src/app).
const tourFiles = `
-- app/.semaphore/semaphore.yml --
version: v1.0
name: Tour
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Test
    task:
      jobs:
        - name: Hello
          commands:
            - echo hello from the tour
            - echo '<testsuite name="tour" tests="1"><testcase classname="tour" name="greets"/></testsuite>' > junit.xml
            - test-results publish junit.xml
            - "printf 'mode: set\\ntour/greet.go:3.14,5.2 2 1\\ntour/greet.go:7.14,9.2 1 0\\n' > cover.out"
            - coverage publish cover.out
`

// TestUpHasAToolCache: the built-in agent of `baton up` has a tool cache,
// as `baton agent` has: a job's sem-version asks it for a Go release
// (here from a source that does not answer, so the job fails naming it),
// instead of being told that the agent has none.
func TestUpHasAToolCache(t *testing.T) {
	script := `env BATON_BIN=` + testenv.BatonBinary(t) + `
cd app
exec git init -q -b main
exec git add -A
exec git commit -q -m first
cd $WORK
exec $BATON_BIN up --data $WORK/baton-data --addr 127.0.0.1:0 --slots 1 --tool-source go=http://127.0.0.1:9/proxy &up&
waitfile baton-data/admin-token
exec bash -c 'for i in $(seq 300); do baton project list >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1'
exec baton project create app --repo file://$WORK/app
! exec baton workflow run app --wait
capture WF 'Workflow ([0-9a-f-]{36}) '
exec baton workflow show $WF --json
capture JOB '"jobs": \[\s+\{\s+"id": "([0-9a-f-]{36})"'
exec baton job logs $JOB
stdout 'sem-version go 1.19.13'
stdout '127.0.0.1:9'
! stdout 'no tool cache'
! stdout 'after the failure'
kill -INT up
wait up
-- app/.semaphore/semaphore.yml --
version: v1.0
agent:
  machine:
    type: e1-standard-2
blocks:
  - task:
      jobs:
        - name: Go
          commands:
            - sem-version go 1.19.13
            - echo after the failure
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "up_tools.txtar"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, scriptParams(dir))
}
