package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
)

// TestJobLogShowsWithheldSecrets: baton job logs names the job's block in
// its first line, shows a withheld secret's notice although the runner's
// step holding it is folded away, and repeats it next to the failure. The
// output is lent, as baton run's is (localrun.Session.Run): its buffer is
// overwritten after each event, and the notice kept must be a copy.
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
	var lent []byte
	for _, ev := range events {
		if ev.Kind == ci.EventCmdOutput {
			lent = append(lent[:0], ev.Output...)
			ev.Output = unsafe.String(&lent[0], len(lent))
		}
		r.event(ev)
		for i := range lent {
			lent[i] = '#'
		}
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

// TestTextRendererFormat pins the live view's bytes, plain (a pipe) and
// coloured (a terminal): each job's prefix (with its block when two blocks
// use the job's name), commands, output lines, a partial last line, the
// runner's folded steps and the results.
func TestTextRendererFormat(t *testing.T) {
	t.Parallel()
	at := func(ms int) ci.Timestamp { return ci.Timestamp(time.Unix(1700000000, int64(ms)*1e6)) }
	pat := func(ms int) *ci.Timestamp { ts := at(ms); return &ts }
	code := func(n int) *int { return &n }
	job := func(block, name string, evs ...ci.Event) []ci.Event {
		for i := range evs {
			evs[i].Block, evs[i].Job = block, name
		}
		return evs
	}
	var events []ci.Event
	events = append(events, job("Build", "Compile",
		ci.Event{Kind: ci.EventJobStarted, Timestamp: at(0)},
		ci.Event{Kind: ci.EventCmdStarted, Timestamp: at(0), Directive: jobspec.DirectiveExportEnv},
		ci.Event{Kind: ci.EventCmdOutput, Timestamp: at(0), Output: "Exporting CI\n"},
		ci.Event{Kind: ci.EventCmdFinished, Timestamp: at(1), Directive: jobspec.DirectiveExportEnv, ExitCode: code(0), StartedAt: pat(0), FinishedAt: pat(1)},
		ci.Event{Kind: ci.EventCmdStarted, Timestamp: at(1), Directive: "make\nmake install"},
	)...)
	events = append(events, job("Test", "Compile",
		ci.Event{Kind: ci.EventJobStarted, Timestamp: at(2)},
		ci.Event{Kind: ci.EventCmdStarted, Timestamp: at(2), Directive: "go vet"},
	)...)
	events = append(events, job("Build", "Compile",
		ci.Event{Kind: ci.EventCmdOutput, Timestamp: at(3), Output: "cc -o app main.c\nlinking"},
		ci.Event{Kind: ci.EventCmdOutput, Timestamp: at(4), Output: " app\n\nwarning: none\r\nno newline"},
	)...)
	events = append(events, job("Test", "Compile",
		ci.Event{Kind: ci.EventCmdOutput, Timestamp: at(5), Output: "vet: ok\n"},
		ci.Event{Kind: ci.EventCmdFinished, Timestamp: at(1500), Directive: "go vet", ExitCode: code(2), StartedAt: pat(2), FinishedAt: pat(1500)},
		ci.Event{Kind: ci.EventJobFinished, Timestamp: at(1500), Result: ci.ResultFailed, Reason: ci.ReasonTest},
	)...)
	events = append(events, job("Build", "Compile",
		ci.Event{Kind: ci.EventCmdFinished, Timestamp: at(2000), Directive: "make\nmake install", ExitCode: code(0), StartedAt: pat(1), FinishedAt: pat(2000)},
		ci.Event{Kind: ci.EventJobFinished, Timestamp: at(2000), Result: ci.ResultPassed},
	)...)
	events = append(events, ci.Event{Kind: ci.EventBlockFinished, Timestamp: at(2000), Block: "Deploy", Result: ci.ResultCanceled, Reason: ci.ReasonDependency})

	for _, tc := range []struct {
		name  string
		color bool
		want  string
	}{
		{"pipe", false, "" +
			"[Build › Compile] started in block Build\n" +
			"[Build › Compile] $ make …\n" +
			"[Test › Compile] started in block Test\n" +
			"[Test › Compile] $ go vet\n" +
			"[Build › Compile] cc -o app main.c\n" +
			"[Build › Compile] linking app\n" +
			"[Build › Compile] \n" +
			"[Build › Compile] warning: none\r\n" +
			"[Test › Compile] vet: ok\n" +
			"[Test › Compile] ✘ go vet (exit 2) 1.50s\n" +
			"[Test › Compile] job failed in 1.50s\n" +
			"[Build › Compile] no newline\n" +
			"[Build › Compile] ✔ make … 2.00s\n" +
			"[Build › Compile] job passed in 2.00s\n" +
			"block \"Deploy\" canceled (a dependency did not pass)\n"},
		{"terminal", true, "" +
			"\x1b[36m[Build › Compile] \x1b[0m\x1b[2mstarted in block Build\x1b[0m\n" +
			"\x1b[36m[Build › Compile] \x1b[0m\x1b[1m$ make …\x1b[0m\n" +
			"\x1b[35m[Test › Compile] \x1b[0m\x1b[2mstarted in block Test\x1b[0m\n" +
			"\x1b[35m[Test › Compile] \x1b[0m\x1b[1m$ go vet\x1b[0m\n" +
			"\x1b[36m[Build › Compile] \x1b[0mcc -o app main.c\n" +
			"\x1b[36m[Build › Compile] \x1b[0mlinking app\n" +
			"\x1b[36m[Build › Compile] \x1b[0m\n" +
			"\x1b[36m[Build › Compile] \x1b[0mwarning: none\r\n" +
			"\x1b[35m[Test › Compile] \x1b[0mvet: ok\n" +
			"\x1b[35m[Test › Compile] \x1b[0m\x1b[31m✘\x1b[0m go vet (exit 2) \x1b[2m1.50s\x1b[0m\n" +
			"\x1b[35m[Test › Compile] \x1b[0mjob \x1b[31mfailed\x1b[0m in 1.50s\n" +
			"\x1b[36m[Build › Compile] \x1b[0mno newline\n" +
			"\x1b[36m[Build › Compile] \x1b[0m\x1b[32m✔\x1b[0m make … \x1b[2m2.00s\x1b[0m\n" +
			"\x1b[36m[Build › Compile] \x1b[0mjob \x1b[32mpassed\x1b[0m in 2.00s\n" +
			"\x1b[33mblock \"Deploy\" canceled (a dependency did not pass)\x1b[0m\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			r := newTextRenderer(&out, tc.color, map[string]int{"Compile": 2})
			for _, ev := range events {
				r.event(ev)
			}
			r.flush()
			if got := out.String(); got != tc.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

// TestAppendLines: the prefixed lines are those of a plain line-by-line
// loop, for lines of every length around the 8-byte words the short
// lines are copied in, prefixes up to and past the 32 bytes stored as
// words, bytes that differ from '\n' in one bit or only in the high
// bit, a buffer that is full, and a partial last line.
func TestAppendLines(t *testing.T) {
	t.Parallel()
	want := func(prefix, data string) (string, string) {
		var b strings.Builder
		for {
			i := strings.IndexByte(data, '\n')
			if i < 0 {
				return b.String(), data
			}
			b.WriteString(prefix + data[:i+1])
			data = data[i+1:]
		}
	}
	bytes := []byte{'a', '\n', '\n' ^ 0x80, '\n' ^ 1, '\n' - 1, 0, 0xff}
	seed := uint32(1)
	random := func(n int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % n
	}
	for _, prefix := range []string{"", "[P] ", "[Print] ", "\x1b[36m[Build › Compile] \x1b[0m", "[" + strings.Repeat("x", 29) + "] ", "[" + strings.Repeat("x", 30) + "] "} {
		for range 2000 {
			var data []byte
			for range random(300) {
				data = append(data, bytes[random(len(bytes))])
			}
			for _, capacity := range []int{0, 8, 1 << 10} {
				buf := append(make([]byte, 0, capacity), "held"...)
				got, rest, full := appendLines(buf, prefix, string(data), 1<<20)
				wantOut, wantRest := want(prefix, string(data))
				if string(got) != "held"+wantOut || rest != wantRest || full {
					t.Fatalf("appendLines(%q, %q) = %q, %q, %v; want %q, %q, false", prefix, data, got, rest, full, "held"+wantOut, wantRest)
				}
			}
		}
	}
	// A full buffer stops after the line that filled it.
	got, rest, full := appendLines(nil, "> ", "one\ntwo\nthree\n", 5)
	if string(got) != "> one\n" || rest != "two\nthree\n" || !full {
		t.Errorf("with a limit: %q, %q, %v", got, rest, full)
	}
}
