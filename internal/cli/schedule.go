package cli

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// The `baton schedule` commands manage a project's schedules (Semaphore's
// tasks): a pipeline run on a branch at the times of a cron expression,
// with declared parameters, paused and resumed, or run now.

func schedulePath(project, name string, more ...string) string {
	p := "/api/v1/projects/" + url.PathEscape(project) + "/schedules"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	for _, m := range more {
		p += "/" + m
	}
	return p
}

// paramFlags are the flags that declare a schedule's parameters.
type paramFlags struct {
	defaults, required, options, descriptions, remove multiFlag
}

func (pf *paramFlags) flags(fs *flagSet, update bool) {
	fs.Var(&pf.defaults, "param", "declare parameter `NAME=DEFAULT` (NAME= for no default); repeatable")
	fs.Var(&pf.required, "param-required", "parameter `NAME` is required (it needs a default for scheduled runs); repeatable")
	fs.Var(&pf.options, "param-options", "parameter `NAME=a,b,c` takes only these values; repeatable")
	fs.Var(&pf.descriptions, "param-description", "parameter `NAME=TEXT` says what it is; repeatable")
	if update {
		fs.Var(&pf.remove, "remove-param", "remove parameter `NAME`; repeatable")
	}
}

func (pf *paramFlags) given() bool {
	return len(pf.defaults)+len(pf.required)+len(pf.options)+len(pf.descriptions)+len(pf.remove) > 0
}

// apply changes the declarations ps as the flags say, in the order the
// parameters were first named.
func (pf *paramFlags) apply(ps []apiv1.Parameter) ([]apiv1.Parameter, error) {
	find := func(name string) *apiv1.Parameter {
		for i := range ps {
			if ps[i].Name == name {
				return &ps[i]
			}
		}
		ps = append(ps, apiv1.Parameter{Name: name})
		return &ps[len(ps)-1]
	}
	kv := func(flag, s string) (string, string, error) {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return "", "", fmt.Errorf("--%s %q: want NAME=VALUE", flag, s)
		}
		return k, v, nil
	}
	for _, s := range pf.defaults {
		k, v, err := kv("param", s)
		if err != nil {
			return nil, err
		}
		find(k).DefaultValue = v
	}
	for _, k := range pf.required {
		find(k).Required = true
	}
	for _, s := range pf.options {
		k, v, err := kv("param-options", s)
		if err != nil {
			return nil, err
		}
		var opts []string
		for o := range strings.SplitSeq(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				opts = append(opts, o)
			}
		}
		find(k).Options = opts
	}
	for _, s := range pf.descriptions {
		k, v, err := kv("param-description", s)
		if err != nil {
			return nil, err
		}
		find(k).Description = v
	}
	for _, k := range pf.remove {
		ps = slices.DeleteFunc(ps, func(p apiv1.Parameter) bool { return p.Name == k })
	}
	return ps, nil
}

// runParams reads --param K=V values of a run.
func runParams(l multiFlag) (map[string]string, error) {
	ps := map[string]string{}
	for _, p := range l {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", p)
		}
		ps[k] = v
	}
	return ps, nil
}

func scheduleCommands() []*command {
	return []*command{scheduleCreateCommand(), scheduleUpdateCommand(), scheduleListCommand(), scheduleShowCommand(),
		scheduleDeleteCommand(), schedulePauseCommand("pause"), schedulePauseCommand("resume"), scheduleRunCommand()}
}

func scheduleCreateCommand() *command {
	var cron, tz, branch, file string
	var paused bool
	var pf paramFlags
	return apiCommand{
		command: &command{name: "schedule create", summary: "run a project's pipeline on a schedule",
			usage: "PROJECT NAME --cron 'MIN HOUR DOM MON DOW' [--tz ZONE] --branch B [--file F] [--param NAME=DEFAULT]... [--param-required NAME]... [--param-options NAME=a,b,c]...",
			help: `Creates a schedule (Semaphore's task): the pipeline file (default: the project's)
runs on the head of the branch at the times of the cron expression, read in the
time zone (an IANA name such as Europe/Berlin; default UTC). The cron expression
has five fields: minute, hour, day of month, month, day of week. A due time runs
once however many servers there are; after downtime a schedule runs once to
catch up. Its workflows say "schedule NAME" and their jobs see
SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE=true. Declared parameters are exported
in every job and substituted into ${{parameters.NAME}}; scheduled runs use the
defaults, 'baton schedule run' takes values. An invalid cron expression, an
unknown time zone or a branch the repository lacks is refused. Needs the
project's write role.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton schedule create: usage: baton schedule create PROJECT NAME --cron EXPR --branch B [flags]")
				return ExitUsage
			}
			ps, err := pf.apply(nil)
			if err != nil {
				fmt.Fprintf(o.Err, "baton schedule create: %v\n", err)
				return ExitUsage
			}
			if ps == nil {
				ps = []apiv1.Parameter{}
			}
			body := map[string]any{"name": args[1], "cron": cron, "timezone": tz, "branch": branch,
				"pipeline_file": file, "parameters": ps, "paused": paused}
			var v apiv1.ScheduleView
			if err := c.do(ctx, "POST", schedulePath(args[0], ""), body, &v); err != nil {
				return failAPI(o, "schedule create", err)
			}
			fmt.Fprintf(o.Out, "Created schedule %s of project %s: %s (%s) on %s; next run %s\n",
				v.Name, args[0], v.Cron, v.Timezone, v.Branch, nextRun(v.Schedule))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&cron, "cron", "", "cron `expression` of five fields, e.g. '0 3 * * *'")
		fs.StringVar(&tz, "tz", "", "time `zone` the expression is read in (default UTC)")
		fs.StringVar(&branch, "branch", "", "`branch` whose head runs")
		fs.StringVar(&file, "file", "", "pipeline `file` (default: the project's)")
		fs.BoolVar(&paused, "paused", false, "create it paused")
		pf.flags(fs, false)
	})
}

func scheduleUpdateCommand() *command {
	var cron, tz, branch, file, name string
	var pf paramFlags
	return apiCommand{
		command: &command{name: "schedule update", summary: "change a schedule",
			usage: "PROJECT NAME [--cron EXPR] [--tz ZONE] [--branch B] [--file F] [--name NEW] [--param NAME=DEFAULT]... [--param-required NAME]... [--param-options NAME=a,b,c]... [--remove-param NAME]...",
			help: `Changes what the flags name; the rest stays. A new cron expression or time
zone computes the next run again. Parameter flags change the named
declarations and keep the others. Needs the project's write role.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton schedule update: usage: baton schedule update PROJECT NAME [flags]")
				return ExitUsage
			}
			body := map[string]any{}
			for k, v := range map[string]string{"cron": cron, "timezone": tz, "branch": branch, "pipeline_file": file, "name": name} {
				if v != "" {
					body[k] = v
				}
			}
			if pf.given() {
				var cur apiv1.ScheduleView
				if err := c.do(ctx, "GET", schedulePath(args[0], args[1]), nil, &cur); err != nil {
					return failAPI(o, "schedule update", err)
				}
				ps, err := pf.apply(cur.Parameters)
				if err != nil {
					fmt.Fprintf(o.Err, "baton schedule update: %v\n", err)
					return ExitUsage
				}
				if ps == nil {
					ps = []apiv1.Parameter{}
				}
				body["parameters"] = ps
			}
			var v apiv1.ScheduleView
			if err := c.do(ctx, "PATCH", schedulePath(args[0], args[1]), body, &v); err != nil {
				return failAPI(o, "schedule update", err)
			}
			fmt.Fprintf(o.Out, "Updated schedule %s of project %s: %s (%s) on %s; next run %s\n",
				v.Name, args[0], v.Cron, v.Timezone, v.Branch, nextRun(v.Schedule))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&cron, "cron", "", "cron `expression` of five fields")
		fs.StringVar(&tz, "tz", "", "time `zone` the expression is read in")
		fs.StringVar(&branch, "branch", "", "`branch` whose head runs")
		fs.StringVar(&file, "file", "", "pipeline `file`")
		fs.StringVar(&name, "name", "", "rename it to `NEW`")
		pf.flags(fs, true)
	})
}

// nextRun says when a schedule runs next.
func nextRun(s *apiv1.Schedule) string {
	switch {
	case s.Paused:
		return "none (paused)"
	case s.NextRun.IsZero():
		return "none"
	}
	return s.NextRun.UTC().Format("2006-01-02 15:04 MST")
}

func scheduleListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "schedule list", summary: "list a project's schedules", usage: "PROJECT [--json]", help: "Lists a project's schedules by name, with their next run (UTC) and last run."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton schedule list: usage: baton schedule list PROJECT")
				return ExitUsage
			}
			var vs []apiv1.ScheduleView
			if err := c.do(ctx, "GET", schedulePath(args[0], ""), nil, &vs); err != nil {
				return failAPI(o, "schedule list", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			if len(vs) == 0 {
				fmt.Fprintf(o.Out, "Project %s has no schedules.\n", args[0])
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCRON\tTIME ZONE\tBRANCH\tNEXT RUN\tLAST RUN")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Cron, v.Timezone, v.Branch, nextRun(v.Schedule), lastRun(v.Schedule))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

// lastRun says how the last run of a schedule went.
func lastRun(s *apiv1.Schedule) string {
	switch {
	case s.LastError != "":
		return "failed to start: " + s.LastError
	case s.LastWorkflow != "":
		return "workflow " + s.LastWorkflow
	}
	return "never"
}

func scheduleShowCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "schedule show", summary: "show a schedule and its last runs", usage: "PROJECT NAME [--json]", help: "Shows a schedule: its timing, branch, pipeline file, parameters, next run and last runs."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton schedule show: usage: baton schedule show PROJECT NAME")
				return ExitUsage
			}
			var v apiv1.ScheduleView
			if err := c.do(ctx, "GET", schedulePath(args[0], args[1]), nil, &v); err != nil {
				return failAPI(o, "schedule show", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			state := "active"
			if v.Paused {
				state = "paused"
			}
			fmt.Fprintf(o.Out, "Schedule %s of project %s (%s)\n", v.Name, args[0], state)
			fmt.Fprintf(o.Out, "  Cron:      %s (%s)\n", v.Cron, v.Timezone)
			fmt.Fprintf(o.Out, "  Branch:    %s\n", v.Branch)
			fmt.Fprintf(o.Out, "  Pipeline:  %s\n", orDash(v.PipelineFile))
			fmt.Fprintf(o.Out, "  Next run:  %s\n", nextRun(v.Schedule))
			if v.LastError != "" {
				fmt.Fprintf(o.Out, "  Last run:  failed to start: %s\n", v.LastError)
			}
			for _, p := range v.Parameters {
				var attrs []string
				if p.Required {
					attrs = append(attrs, "required")
				}
				if p.DefaultValue != "" {
					attrs = append(attrs, "default "+p.DefaultValue)
				}
				if len(p.Options) > 0 {
					attrs = append(attrs, "one of "+strings.Join(p.Options, "|"))
				}
				line := "  parameter " + p.Name
				if len(attrs) > 0 {
					line += " (" + strings.Join(attrs, ", ") + ")"
				}
				if p.Description != "" {
					line += ": " + p.Description
				}
				fmt.Fprintln(o.Out, line)
			}
			if len(v.Runs) > 0 {
				fmt.Fprintln(o.Out, "\nLast runs:")
				tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
				for _, w := range v.Runs {
					fmt.Fprintf(tw, "  #%d\t%s\t%s %s\t%s\t%s\n", w.Number, w.ID, w.State, w.Result, short(w.SHA), w.CreatedAt.UTC().Format(time.DateTime))
				}
				tw.Flush()
			}
			return ExitOK
		},
	}.build(nil)
}

func scheduleDeleteCommand() *command {
	return apiCommand{
		command: &command{name: "schedule delete", summary: "delete a schedule", usage: "PROJECT NAME", help: "Deletes a schedule; the workflows it started stay. Needs the project's write role."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton schedule delete: usage: baton schedule delete PROJECT NAME")
				return ExitUsage
			}
			if err := c.do(ctx, "DELETE", schedulePath(args[0], args[1]), nil, nil); err != nil {
				return failAPI(o, "schedule delete", err)
			}
			fmt.Fprintf(o.Out, "Deleted schedule %s of project %s\n", args[1], args[0])
			return ExitOK
		},
	}.build(nil)
}

func schedulePauseCommand(verb string) *command {
	summary, help := "pause a schedule", "Stops a schedule from running at its times until it is resumed; 'baton schedule run' still runs it."
	if verb == "resume" {
		summary, help = "resume a paused schedule", "Resumes a paused schedule: it runs at its next time from now on (the times it missed while paused do not run)."
	}
	return apiCommand{
		command: &command{name: "schedule " + verb, summary: summary, usage: "PROJECT NAME", help: help + " Needs the project's write role."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 {
				fmt.Fprintf(o.Err, "baton schedule %s: usage: baton schedule %s PROJECT NAME\n", verb, verb)
				return ExitUsage
			}
			var v apiv1.ScheduleView
			if err := c.do(ctx, "POST", schedulePath(args[0], args[1], verb), map[string]any{}, &v); err != nil {
				return failAPI(o, "schedule "+verb, err)
			}
			past := map[string]string{"pause": "Paused", "resume": "Resumed"}[verb]
			fmt.Fprintf(o.Out, "%s schedule %s of project %s; next run %s\n", past, v.Name, args[0], nextRun(v.Schedule))
			return ExitOK
		},
	}.build(nil)
}

func scheduleRunCommand() *command {
	var params multiFlag
	var waitFlag bool
	return apiCommand{
		command: &command{name: "schedule run", summary: "run a schedule now", usage: "PROJECT NAME [--param K=V]... [--wait]",
			help: `Runs the schedule's pipeline on the head of its branch now, with the values
given for its declared parameters (the defaults for the others). A parameter
it does not declare, a required one without a value, or a value outside the
options is refused with a message naming it (exit 2). The schedule's next run
does not move. With --wait, exits 0 when the workflow passes, 1 otherwise.
Needs the project's write role.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton schedule run: usage: baton schedule run PROJECT NAME [--param K=V]...")
				return ExitUsage
			}
			ps, err := runParams(params)
			if err != nil {
				fmt.Fprintf(o.Err, "baton schedule run: %v\n", err)
				return ExitUsage
			}
			var wf apiv1.Workflow
			if err := c.do(ctx, "POST", schedulePath(args[0], args[1], "run"), map[string]any{"parameters": ps}, &wf); err != nil {
				return failAPI(o, "schedule run", err)
			}
			fmt.Fprintf(o.Out, "Workflow %s (#%d) started on %s at %s by schedule %s\n", wf.ID, wf.Number, label(&wf), short(wf.SHA), args[1])
			if !waitFlag {
				return ExitOK
			}
			return waitWorkflow(ctx, o, c, wf.ID)
		},
	}.build(func(fs *flagSet) {
		fs.Var(&params, "param", "parameter value `K=V`; repeatable")
		fs.BoolVar(&waitFlag, "wait", false, "wait for the result; exit 0 when it passed")
	})
}
