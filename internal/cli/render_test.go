package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
)

// TestJobLogShowsWithheldSecrets: baton job logs names the job's block in
// its first line, shows a withheld secret's notice although the runner's
// step holding it is folded away, and repeats it next to the failure.
func TestJobLogShowsWithheldSecrets(t *testing.T) {
	t.Parallel()
	at := func(s int) ci.Timestamp { return ci.Timestamp(time.Unix(1700000000+int64(s), 0)) }
	pat := func(s int) *ci.Timestamp { ts := at(s); return &ts }
	code := func(n int) *int { return &n }
	notice := jobspec.WithheldNotice("aws")
	events := []ci.Event{
		{Kind: ci.EventJobStarted, Timestamp: at(0)},
		{Kind: ci.EventCmdStarted, Timestamp: at(0), Directive: jobspec.DirectiveExportEnv},
		{Kind: ci.EventCmdOutput, Timestamp: at(0), Output: notice + "\nExporting TOKEN\n"},
		{Kind: ci.EventCmdFinished, Timestamp: at(0), Directive: jobspec.DirectiveExportEnv, ExitCode: code(0), StartedAt: pat(0), FinishedAt: pat(0)},
		{Kind: ci.EventCmdStarted, Timestamp: at(0), Directive: "aws s3 ls"},
		{Kind: ci.EventCmdOutput, Timestamp: at(1), Output: "Unable to locate credentials\n"},
		{Kind: ci.EventCmdFinished, Timestamp: at(1), Directive: "aws s3 ls", ExitCode: code(255), StartedAt: pat(0), FinishedAt: pat(1)},
		{Kind: ci.EventJobFinished, Timestamp: at(1), Result: ci.ResultFailed, Reason: ci.ReasonTest},
	}
	var out bytes.Buffer
	r := newTextRenderer(&out, false, nil)
	r.single, r.block = true, "Deploy"
	for _, ev := range events {
		r.event(ev)
	}
	r.flush()
	got := out.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if lines[0] != "started in block Deploy" {
		t.Errorf("first line %q, want the block's name", lines[0])
	}
	if len(lines) < 2 || lines[1] != notice {
		t.Errorf("second line %q, want the notice %q:\n%s", lines[1], notice, got)
	}
	if strings.Contains(got, "Exporting TOKEN") {
		t.Errorf("the runner's step is shown:\n%s", got)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(lines[len(lines)-2], "job failed in") || !strings.Contains(last, notice) || !strings.Contains(last, "may have failed") {
		t.Errorf("the failure does not say the secret was withheld:\n%s", got)
	}

	// A passed job, or one without notices, says nothing more.
	out.Reset()
	r = newTextRenderer(&out, false, nil)
	r.single = true
	for _, ev := range events {
		if ev.Kind == ci.EventCmdOutput && strings.Contains(ev.Output, "withheld") {
			ev.Output = "Exporting TOKEN\n"
		}
		r.event(ev)
	}
	r.flush()
	if strings.Contains(out.String(), "withheld") || !strings.HasPrefix(out.String(), "started\n") {
		t.Errorf("without notices or block:\n%s", out.String())
	}
}
