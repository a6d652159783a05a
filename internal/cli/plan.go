package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/batonci/baton/internal/plan"
)

func planCommand() *command {
	c := &command{
		name:    "plan",
		summary: "show the job graph a pipeline compiles to, without running it",
		usage:   "[--branch B | --tag T | --pr N] [--set K=V] [--json] [FILE]",
		help: `Compiles a pipeline (default .semaphore/semaphore.yml) for a git event and
prints its job graph: blocks in order with their dependencies, skip decisions,
and every expanded job (matrix, parallelism) with its commands and variables.
change_in is evaluated against the local git history, including uncommitted
changes. Nothing runs.

Exit status: 0 on success, 2 for invalid input.`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		var ev eventFlags
		fs := c.flags(o)
		ev.register(fs)
		asJSON := fs.Bool("json", false, "print the graph as JSON")
		files, code, stop := parse(fs, args)
		if stop {
			return code
		}
		fail := func(format string, args ...any) int {
			fmt.Fprintf(o.Err, "baton plan: "+format+"\n", args...)
			return ExitUsage
		}
		if len(files) > 1 {
			return fail("at most one pipeline file")
		}
		file := ""
		if len(files) == 1 {
			file = files[0]
		}
		tmp, err := os.MkdirTemp("", "baton-plan-")
		if err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(tmp)
		lp, code := compileLocal(ctx, o, "plan", file, &ev, tmp)
		if lp == nil {
			return code
		}
		defer lp.Close()
		g := lp.Graph
		if *asJSON {
			enc := json.NewEncoder(o.Out)
			enc.SetIndent("", "  ")
			enc.Encode(struct {
				Event plan.Event  `json:"event"`
				Graph *plan.Graph `json:"pipeline"`
			}{lp.Event, g})
			return ExitOK
		}
		printPlan(o, lp.Event, g)
		return ExitOK
	}
	return c
}

func printPlan(o *IO, ev plan.Event, g *plan.Graph) {
	w := o.Out
	label := ev.RefType + " " + ev.Label()
	fmt.Fprintf(w, "Pipeline %q (%s) for %s at %s\n", g.Name, g.File, label, short(ev.SHA))
	fmt.Fprintf(w, "  queue %s (%s, %s); time limit %s", g.Queue.Name, g.Queue.Scope, g.Queue.Processing, g.TimeLimit.D())
	if g.FailFast != "" {
		fmt.Fprintf(w, "; fail_fast %s", g.FailFast)
	}
	if g.AutoCancel != "" {
		fmt.Fprintf(w, "; auto_cancel %s", g.AutoCancel)
	}
	fmt.Fprintln(w)
	blocks := g.Blocks
	if g.AfterPipeline != nil {
		blocks = append(append([]*plan.Block{}, blocks...), g.AfterPipeline)
	}
	for _, b := range blocks {
		deps := "no dependencies"
		if len(b.Dependencies) > 0 {
			deps = "after " + strings.Join(b.Dependencies, ", ")
		}
		fmt.Fprintf(w, "\nBlock %q (%s)", b.Name, deps)
		if b.Skipped {
			fmt.Fprintf(w, ": SKIPPED, %s", b.SkipReason)
		}
		fmt.Fprintln(w)
		for _, j := range b.Jobs {
			fmt.Fprintf(w, "  Job %q on %s", j.Name, j.Agent.MachineType)
			if len(j.Agent.Containers) > 0 {
				fmt.Fprintf(w, " in %s", j.Agent.Containers[0].Image)
			}
			fmt.Fprintln(w)
			for _, v := range j.Env {
				fmt.Fprintf(w, "    env %s=%s\n", v.Name, v.Value)
			}
			for _, s := range j.Secrets {
				fmt.Fprintf(w, "    secret %s\n", s)
			}
			for _, cmd := range j.Commands {
				fmt.Fprintf(w, "    $ %s\n", firstLine(cmd))
			}
		}
	}
	for _, pr := range g.Promotions {
		how := "manual"
		if pr.Condition != "" {
			how = "auto when " + pr.Condition
		} else if len(pr.Legacy) > 0 {
			how = "auto, " + plan.LegacyRulesText(pr.Legacy)
		}
		fmt.Fprintf(w, "\nPromotion %q -> %s (%s)\n", pr.Name, pr.PipelineFile, how)
		if pr.DeploymentTarget != "" {
			fmt.Fprintf(w, "  deployment target %s\n", pr.DeploymentTarget)
		}
		for _, d := range pr.Parameters {
			var about []string
			if d.Required {
				about = append(about, "required")
			}
			if len(d.Options) > 0 {
				about = append(about, "one of "+strings.Join(d.Options, ", "))
			}
			if d.DefaultValue != "" {
				about = append(about, fmt.Sprintf("default %q", d.DefaultValue))
			}
			line := "  parameter " + d.Name
			if len(about) > 0 {
				line += " (" + strings.Join(about, "; ") + ")"
			}
			if d.Description != "" {
				line += ": " + d.Description
			}
			fmt.Fprintln(w, line)
		}
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
