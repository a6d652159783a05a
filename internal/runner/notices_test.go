package runner_test

import (
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
)

func TestNoticesOpenTheLog(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	job.Env = []jobspec.Var{{Name: "TOKEN", Value: "granted-value"}}
	job.Notices = []string{`secret "aws" withheld: this pull request comes from a fork`}
	job.Commands = []string{"true"}
	res, _, l := runJob(t, t.Context(), job)
	if res != ci.ResultPassed {
		t.Fatalf("result = %s", res)
	}
	want := "secret \"aws\" withheld: this pull request comes from a fork\nExporting TOKEN\n"
	if got := l.output(jobspec.DirectiveExportEnv, 0); got != want {
		t.Errorf("export output = %q, want %q", got, want)
	}
}
