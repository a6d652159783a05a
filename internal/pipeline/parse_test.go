package pipeline

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestParseTask(t *testing.T) {
	src := "agent:\n  machine:\n    type: e1-standard-2\njobs:\n  - commands_file: build.sh\n  - name: Lint\n    commands: [make lint]\n"
	task, diags := ParseTask(".semaphore/task.yml", []byte(src))
	if len(diags) > 0 {
		t.Fatalf("ParseTask: unexpected diagnostics:\n%s", diags.Format(false))
	}
	var got []string
	for _, j := range task.Jobs {
		got = append(got, j.Name+": "+j.Commands.File+strings.Join(j.Commands.Commands, ";"))
	}
	want := []string{"Nameless 1: build.sh", "Lint: make lint"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobs mismatch (-want +got):\n%s", diff)
	}
	if task.Agent == nil || task.Agent.Machine.Type != "e1-standard-2" {
		t.Errorf("agent = %+v, want machine type e1-standard-2", task.Agent)
	}

	_, diags = ParseTaskWith("t.yml", []byte("jobs:\n  - commands: [x]\n    priority:\n      - value: 1\n        when: \"(x\"\n"), Options{CheckCondition: fakeCheck})
	if want := `t.yml:5:18: invalid condition: missing ")"`; diags.Error() != want {
		t.Errorf("ParseTaskWith diagnostics = %q, want %q", diags.Error(), want)
	}
}

func TestLoadMissingPipeline(t *testing.T) {
	p, diags := Load(fstest.MapFS{}, ".semaphore/semaphore.yml")
	if p != nil {
		t.Errorf("Load = %+v, want nil", p)
	}
	want := ".semaphore/semaphore.yml:1:1: cannot read the pipeline file: file not found"
	if diags.Error() != want {
		t.Errorf("diagnostics = %q, want %q", diags.Error(), want)
	}
}

// TestAliasBudget checks that aliases cannot make the decoder walk an
// exponentially large document.
func TestAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: v1.0\nagent: {machine: {type: x}}\n")
	b.WriteString("x-job: &j {commands: [a]}\n")
	b.WriteString("x-task: &t {jobs: [" + strings.Repeat("*j, ", 49) + "*j]}\n")
	b.WriteString("x-block: &b {task: *t}\n")
	b.WriteString("blocks: [" + strings.Repeat("*b, ", 299) + "*b]\n")
	_, diags := Parse("p.yml", []byte(b.String()))
	found := false
	for _, d := range diags {
		found = found || strings.Contains(d.Message, "too many alias expansions")
	}
	if !found {
		t.Errorf("want a diagnostic about alias expansions, got:\n%s", diags.Error())
	}
}

// TestAliasedErrorsReportedOnce checks that a mistake inside an anchored
// node used twice is reported once.
func TestAliasedErrorsReportedOnce(t *testing.T) {
	src := `version: v1.0
agent: {machine: {type: x}}
blocks:
  - name: A
    task:
      jobs:
        - &job {name: J, comands: [x], commands: [y]}
  - name: B
    task:
      jobs:
        - *job
`
	_, diags := Parse("p.yml", []byte(src))
	want := `p.yml:7:26: unknown key "comands" in job "J" (did you mean "commands"?)`
	if diags.Error() != want {
		t.Errorf("diagnostics = %q, want %q", diags.Error(), want)
	}
}

func TestDiagnosticsErr(t *testing.T) {
	_, diags := Parse("p.yml", []byte("version: v1.0\nagent: {machine: {type: x}}\nblocks: [{task: {jobs: [{commands: [x]}]}}]\n"))
	if err := diags.Err(); err != nil {
		t.Errorf("Err() = %v, want nil for a valid pipeline", err)
	}
}
