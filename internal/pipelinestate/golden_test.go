package pipelinestate_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipelinestate"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// TestGolden runs the specifications in testdata: each file holds a
// pipeline ("graph"), a sequence of events ("events") and, in "want",
// the decisions and the states of every unit after each event.
//
// graph lines:
//
//	pipeline [fail_fast=stop|cancel] [time_limit=D]
//	block NAME [deps=A,B] [fail_fast=stop|cancel] [time_limit=D] [skipped]
//	after_pipeline
//	  job NAME [time_limit=D]     (indented, under its block)
//
// event lines: check | queued REASON... (not admitted) | start JOB |
// finish JOB RESULT [REASON] | lost JOB | stop [REASON] | stop_job JOB |
// supersede STRATEGY | interrupt [REASON] | wait DURATION (the clock
// moves, nothing happens) | tick.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			a, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string]string{}
			for _, f := range a.Files {
				sections[f.Name] = string(f.Data)
			}
			p := parseGraph(t, sections["graph"])
			got := play(t, p, sections["events"])
			if *update {
				for i := range a.Files {
					if a.Files[i].Name == "want" {
						a.Files[i].Data = []byte(got)
					}
				}
				if sections["want"] == "" {
					a.Files = append(a.Files, txtar.File{Name: "want", Data: []byte(got)})
				}
				if err := os.WriteFile(file, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(sections["want"], got); diff != "" {
				t.Errorf("states differ from %s (-want +got; go test -update rewrites them):\n%s", file, diff)
			}
		})
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func parseGraph(t *testing.T, text string) *ci.Pipeline {
	t.Helper()
	p := &ci.Pipeline{ID: "p", State: ci.StatePending}
	var cur *ci.Block
	for n, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		opts := map[string]string{}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			opts[k] = v
		}
		limit := func() time.Duration {
			if opts["time_limit"] == "" {
				return 0
			}
			d, err := time.ParseDuration(opts["time_limit"])
			if err != nil {
				t.Fatalf("graph line %d: %v", n+1, err)
			}
			return d
		}
		switch fields[0] {
		case "pipeline":
			p.FailFast, p.TimeLimit = opts["fail_fast"], limit()
		case "block", "after_pipeline":
			cur = &ci.Block{ID: fmt.Sprint(len(p.Blocks)), Index: len(p.Blocks), State: ci.StatePending, AfterPipeline: fields[0] == "after_pipeline"}
			if cur.AfterPipeline {
				cur.Name = "after_pipeline"
			} else {
				cur.Name = fields[1]
				_, cur.Skipped = opts["skipped"]
				cur.FailFast, cur.TimeLimit = opts["fail_fast"], limit()
				if opts["deps"] != "" {
					cur.Dependencies = strings.Split(opts["deps"], ",")
				}
			}
			p.Blocks = append(p.Blocks, cur)
		case "job":
			if cur == nil || len(fields) < 2 {
				t.Fatalf("graph line %d: a job needs a name and a block before it", n+1)
			}
			cur.Jobs = append(cur.Jobs, &ci.Job{ID: fields[1], BlockID: cur.ID, Index: len(cur.Jobs), Name: fields[1],
				State: ci.StatePending, MachineType: "m1", TimeLimit: limit()})
		default:
			t.Fatalf("graph line %d: unknown %q", n+1, fields[0])
		}
	}
	return p
}

// play applies the events one by one and describes the decisions and the
// tree after each.
func play(t *testing.T, p *ci.Pipeline, events string) string {
	t.Helper()
	now := t0
	var out strings.Builder
	for n, line := range strings.Split(events, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		arg := func(i int) string {
			if i < len(fields) {
				return fields[i]
			}
			return ""
		}
		f := pipelinestate.Facts{Now: now, Admitted: true}
		var ev pipelinestate.Event
		switch fields[0] {
		case "check":
			ev.Kind = pipelinestate.Check
		case "queued":
			ev.Kind = pipelinestate.Check
			f.Admitted, f.QueueWait = false, strings.Join(fields[1:], " ")
		case "start":
			ev = pipelinestate.Event{Kind: pipelinestate.JobStarted, Job: arg(1), Agent: "agent-" + arg(1)}
		case "finish":
			ev = pipelinestate.Event{Kind: pipelinestate.JobFinished, Job: arg(1), Result: ci.Result(arg(2)), Reason: ci.Reason(arg(3))}
		case "lost":
			ev = pipelinestate.Event{Kind: pipelinestate.AgentLost, Job: arg(1)}
		case "stop":
			ev = pipelinestate.Event{Kind: pipelinestate.Stop, Reason: ci.Reason(arg(1))}
		case "stop_job":
			ev = pipelinestate.Event{Kind: pipelinestate.StopJob, Job: arg(1)}
		case "supersede":
			ev = pipelinestate.Event{Kind: pipelinestate.Supersede, Strategy: arg(1)}
		case "interrupt":
			ev = pipelinestate.Event{Kind: pipelinestate.Interrupt, Reason: ci.Reason(arg(1))}
		case "tick":
			ev.Kind = pipelinestate.Tick
		case "wait":
			d, err := time.ParseDuration(arg(1))
			if err != nil {
				t.Fatalf("events line %d: %v", n+1, err)
			}
			now = now.Add(d)
			fmt.Fprintf(&out, "> %s\n", line)
			continue
		default:
			t.Fatalf("events line %d: unknown event %q", n+1, fields[0])
		}
		d := pipelinestate.Apply(p, ev, f)
		fmt.Fprintf(&out, "> %s\n", line)
		if s := describeDecisions(d); s != "" {
			fmt.Fprintf(&out, "  decide: %s\n", s)
		}
		out.WriteString(describeTree(p))
		// Advance is level-triggered: a second call changes nothing.
		before := describeTree(p)
		again := &pipelinestate.Decisions{}
		pipelinestate.Advance(p, f, again)
		if after := describeTree(p); after != before || len(again.Queue)+len(again.Stop) > 0 || again.Done {
			t.Errorf("after %q, advancing again changed the tree:\n%s\n%s", line, before, after)
		}
	}
	return out.String()
}

func describeDecisions(d *pipelinestate.Decisions) string {
	var parts []string
	if d.Started {
		parts = append(parts, "started")
	}
	if len(d.Queue) > 0 {
		parts = append(parts, "queue "+names(d.Queue))
	}
	if len(d.AfterPipeline) > 0 {
		parts = append(parts, fmt.Sprintf("after_pipeline sees %s", outcome(d.Result, d.Reason)))
	}
	if len(d.Stop) > 0 {
		var s []string
		for _, j := range d.Stop {
			s = append(s, j.Name+"("+string(j.StopReason)+")")
		}
		parts = append(parts, "stop "+strings.Join(s, ","))
	}
	if d.Done {
		parts = append(parts, "done")
	}
	return strings.Join(parts, "; ")
}

func names(js []*ci.Job) string {
	var s []string
	for _, j := range js {
		s = append(s, j.Name)
	}
	return strings.Join(s, ",")
}

func outcome(r ci.Result, reason ci.Reason) string {
	if reason == "" {
		return string(r)
	}
	return string(r) + "/" + string(reason)
}

func state(s ci.State, r ci.Result, reason ci.Reason) string {
	if s == ci.StateDone {
		return "done " + outcome(r, reason)
	}
	return string(s)
}

func describeTree(p *ci.Pipeline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  pipeline: %s\n", state(p.State, p.Result, p.Reason))
	for _, bl := range p.Blocks {
		var jobs []string
		for _, j := range bl.Jobs {
			s := j.Name + " " + state(j.State, j.Result, j.Reason)
			if j.StopRequested {
				s += " (stop: " + string(j.StopReason) + ")"
			}
			if j.WaitReason != "" && j.State != ci.StateDone {
				s += " (" + j.WaitReason + ")"
			}
			jobs = append(jobs, s)
		}
		fmt.Fprintf(&b, "  %s: %s [%s]\n", bl.Name, state(bl.State, bl.Result, bl.Reason), strings.Join(jobs, ", "))
	}
	return b.String()
}
