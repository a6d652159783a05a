package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
)

// apiCommand is a command that talks to a server: it gets --server and,
// when read is set, --json.
type apiCommand struct {
	*command
	read bool
	do   func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int
}

func (ac apiCommand) build(setup func(fsFlags *flagSet)) *command {
	cmd := ac.command
	cmd.run = func(ctx context.Context, o *IO, args []string) int {
		fs := cmd.flags(o)
		server := fs.String("server", "", "server `URL` (default: from 'baton login' or BATON_SERVER)")
		var asJSON *bool
		if ac.read {
			asJSON = fs.Bool("json", false, "print JSON")
		}
		if setup != nil {
			setup(&flagSet{fs})
		}
		rest, code, stop := parse(fs, args)
		if stop {
			return code
		}
		c, err := newClient(o, *server)
		if err != nil {
			fmt.Fprintf(o.Err, "baton %s: %v\n", cmd.name, err)
			return ExitUsage
		}
		return ac.do(ctx, o, c, rest, asJSON != nil && *asJSON)
	}
	return cmd
}

// fail prints an API error and returns the exit code.
func failAPI(o *IO, name string, err error) int {
	fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
	var ae *apiv1.Error
	if errors.As(err, &ae) && (ae.Status == 400 || ae.Status == 422) {
		return ExitUsage
	}
	return ExitFailure
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func loginCommand() *command {
	c := &command{
		name:    "login",
		summary: "point this CLI at a Baton server",
		usage:   "URL --token TOKEN | URL --user LOGIN [--password-stdin]",
		help: "Checks the token against the server and saves both in ~/.config/baton/config.json (mode 0600).\n" +
			"With --user, signs in with LOGIN's password instead (asked on the terminal without echo, or read from\n" +
			"the first line of standard input with --password-stdin), creates an API token named after this\n" +
			"machine ('baton token list' shows it, 'baton token revoke' ends it) and saves that.\n" +
			"BATON_SERVER and BATON_TOKEN override the saved values.",
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		token := fs.String("token", "", "API `token`")
		user := fs.String("user", "", "sign in as `LOGIN` with a password and create a token")
		pwStdin := fs.Bool("password-stdin", false, "with --user, read the password from standard input")
		rest, code, stop := parse(fs, args)
		if stop {
			return code
		}
		if len(rest) != 1 || (*token == "") == (*user == "") || (*pwStdin && *user == "") {
			fmt.Fprintln(o.Err, "baton login: usage: baton login URL --token TOKEN | URL --user LOGIN [--password-stdin]")
			return ExitUsage
		}
		base := strings.TrimRight(rest[0], "/")
		if *user != "" {
			pw, err := readPassword(o, *pwStdin, fmt.Sprintf("Password for %s at %s: ", *user, base))
			if err != nil {
				fmt.Fprintf(o.Err, "baton login: %v\n", err)
				return ExitUsage
			}
			host, _ := os.Hostname()
			tok, err := tokenWithPassword(ctx, base, *user, pw, strings.TrimSpace("baton login "+host))
			if err != nil {
				fmt.Fprintf(o.Err, "baton login: %v\n", err)
				return ExitFailure
			}
			*token = tok
		}
		cl := clientFor(base, *token, "")
		var me apiv1.User
		if err := cl.do(ctx, "GET", "/api/v1/me", nil, &me); err != nil {
			return failAPI(o, "login", err)
		}
		if err := saveClientConfig(o, clientConfig{Server: cl.base, Token: *token}); err != nil {
			fmt.Fprintf(o.Err, "baton login: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintf(o.Out, "Logged in to %s as %s\n", cl.base, me.Login)
		if *user != "" {
			fmt.Fprintln(o.Out, "Created an API token for this machine ('baton token list'; 'baton token revoke ID' ends it)")
		}
		return ExitOK
	}
	return c
}

func projectCreateCommand() *command {
	var repo, branch, file, poll, secret, forgeKind, forgeURL, cloneURL string
	var public, tokenStdin bool
	return apiCommand{
		command: &command{name: "project create", summary: "add a repository to build",
			usage: "NAME --repo URL [--public] [--branch main] [--file F] [--poll 30s] [--webhook-secret S]\n       NAME --forge github|gitlab|gitea --repo OWNER/NAME [--forge-url URL] [--token-stdin] [--clone-url URL] ...",
			help: "Creates a project. The repository URL is anything git can clone (file://, https://, ssh, git://).\n--poll makes the server poll it for new commits; --webhook-secret enables the push webhook at /hooks/NAME.\n" +
				"With --forge, --repo is the repository on the forge (--forge-url for a self-hosted GitLab or Gitea, or\nGitHub Enterprise): the clone URL is derived from it, --token-stdin reads an API token (stored encrypted)\n" +
				"for commit statuses, and the webhook URL and secret (generated when not given) are printed to paste."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || repo == "" {
				fmt.Fprintln(o.Err, "baton project create: usage: baton project create NAME --repo URL")
				return ExitUsage
			}
			body := map[string]any{"name": args[0], "repo_url": repo, "public": public}
			var err error
			if secret, err = forgeSetup(o, body, forgeKind, forgeURL, repo, cloneURL, tokenStdin, secret); err != nil {
				fmt.Fprintf(o.Err, "baton project create: %v\n", err)
				return ExitUsage
			}
			if branch != "" {
				body["default_branch"] = branch
			}
			if file != "" {
				body["pipeline_file"] = file
			}
			if poll != "" {
				body["poll_interval"] = poll
			}
			var p apiv1.Project
			if err := c.do(ctx, "POST", "/api/v1/projects", body, &p); err != nil {
				return failAPI(o, "project create", err)
			}
			fmt.Fprintf(o.Out, "Created project %s (%s), default branch %s\n", p.Name, p.ID, p.DefaultBranch)
			switch {
			case p.Forge != "":
				fmt.Fprintf(o.Out, "Clone URL: %s\n", p.RepoURL)
				printWebhookSetup(o, c.base, p.Name, p.Forge, secret)
			case secret != "":
				fmt.Fprintf(o.Out, "Push webhook: %s/hooks/%s (content type application/json, secret as given)\n", c.base, p.Name)
			}
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&repo, "repo", "", "repository `URL`")
		fs.BoolVar(&public, "public", false, "anyone may read its workflows and logs")
		fs.StringVar(&branch, "branch", "", "default `branch` (default: the one the repository's HEAD names, else main)")
		fs.StringVar(&file, "file", "", "pipeline `file` (default .semaphore/semaphore.yml)")
		fs.StringVar(&poll, "poll", "", "poll the repository every `DURATION` (e.g. 30s)")
		fs.StringVar(&secret, "webhook-secret", "", "`secret` that signs webhooks (generated with --forge)")
		fs.StringVar(&forgeKind, "forge", "", "git host: github, gitlab, gitea (default: plain git)")
		fs.StringVar(&forgeURL, "forge-url", "", "a self-hosted forge's `URL`")
		fs.StringVar(&cloneURL, "clone-url", "", "clone `URL`, when not the forge's HTTPS one")
		fs.BoolVar(&tokenStdin, "token-stdin", false, "read the forge's API token from standard input")
	})
}

func projectListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "project list", summary: "list projects", usage: "[--json]", help: "Lists the projects you can see."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var ps []apiv1.Project
			if err := c.do(ctx, "GET", "/api/v1/projects", nil, &ps); err != nil {
				return failAPI(o, "project list", err)
			}
			if asJSON {
				printJSON(o.Out, ps)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVISIBILITY\tREPOSITORY\tBRANCH\tPOLL")
			for _, p := range ps {
				vis := "private"
				if p.Public {
					vis = "public"
				}
				poll := "off"
				if p.PollInterval > 0 {
					poll = p.PollInterval.String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, vis, p.RepoURL, p.DefaultBranch, poll)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func workflowRunCommand() *command {
	var branch, tag, sha, file, keep string
	var params multiFlag
	var waitFlag bool
	return apiCommand{
		command: &command{name: "workflow run", summary: "start a workflow by hand", usage: "PROJECT [--branch B | --tag T] [--sha SHA] [--file F] [--param K=V]... [--keep-on-failure 30m] [--wait]",
			help: "Starts a workflow on the head of a branch (default: the project's default branch) or a tag.\nWith --sha, the commit must be that head now (refused otherwise: a branch's name vouches for\nits commit, which deployment targets' branch rules rely on).\nEach --param K=V is exported in every job and substituted into ${{parameters.K}}; the workflow\nshows them.\nWith --wait, follows it and exits 0 when it passes, 1 otherwise."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton workflow run: usage: baton workflow run PROJECT [--branch B]")
				return ExitUsage
			}
			ps, err := runParams(params)
			if err != nil {
				fmt.Fprintf(o.Err, "baton workflow run: %v\n", err)
				return ExitUsage
			}
			var wf apiv1.Workflow
			body := map[string]any{"branch": branch, "tag": tag, "sha": sha, "pipeline_file": file, "keep_on_failure": keep, "parameters": ps}
			if err := c.do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(args[0])+"/workflows", body, &wf); err != nil {
				return failAPI(o, "workflow run", err)
			}
			fmt.Fprintf(o.Out, "Workflow %s (#%d) started on %s at %s\n", wf.ID, wf.Number, label(&wf), short(wf.SHA))
			if !waitFlag {
				return ExitOK
			}
			return waitWorkflow(ctx, o, c, wf.ID)
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&branch, "branch", "", "`branch` to build")
		fs.StringVar(&tag, "tag", "", "`tag` to build")
		fs.StringVar(&sha, "sha", "", "the `commit` to build: the branch's or tag's head (checked)")
		fs.StringVar(&file, "file", "", "pipeline `file` (default: the project's)")
		fs.Var(&params, "param", "parameter `K=V`; repeatable")
		fs.BoolVar(&waitFlag, "wait", false, "wait for the result; exit 0 when it passed")
		fs.StringVar(&keep, "keep-on-failure", "", "keep failed jobs alive this `long` (30m) for 'baton attach'")
	})
}

// waitWorkflow polls a workflow until it is done, printing block results
// as they finish.
func waitWorkflow(ctx context.Context, o *IO, c *client, id string) int {
	reported := map[string]bool{}
	var final apiv1.WorkflowView
	err := wait(ctx, 100*time.Millisecond, func() (bool, error) {
		v, err := c.api.Workflow(ctx, id)
		if err != nil {
			return false, c.explain(err)
		}
		for _, p := range v.Pipelines {
			// A promoted pipeline's blocks come under a line that names
			// its promotion, indented once more.
			pre := "  "
			if p.PromotionOf != "" {
				pre = "    "
				if !reported["promotion "+p.ID] {
					reported["promotion "+p.ID] = true
					by := orDash(p.PromotedBy)
					fmt.Fprintf(o.Out, "  promotion %q: pipeline %q (%s)%s, by %s\n", p.Promotion, p.Name, p.File, targetText(p), by)
				}
			}
			for _, b := range p.Blocks {
				if b.State == apiv1.StateDone && !reported[b.ID] {
					reported[b.ID] = true
					fmt.Fprintf(o.Out, "%sblock %-30s %s\n", pre, b.Name, resultWithReason(b.Result, b.Reason))
				}
			}
			if p.Diagnostics != "" && !reported[p.ID] {
				reported[p.ID] = true
				fmt.Fprintf(o.Out, "%s\n", indent(p.Diagnostics, pre))
			}
		}
		final = *v
		return v.State == apiv1.StateDone, nil
	})
	if err != nil {
		fmt.Fprintf(o.Err, "baton workflow run: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(o.Out, "Workflow %s\n", final.Result)
	if final.Result == apiv1.ResultPassed {
		return ExitOK
	}
	return ExitFailure
}

func resultWithReason(r apiv1.Result, reason apiv1.Reason) string {
	if reason != "" && reason != apiv1.ReasonTest {
		return fmt.Sprintf("%s (%s)", r, reason)
	}
	return string(r)
}

func label(w *apiv1.Workflow) string {
	switch w.RefType {
	case "tag":
		return "tag " + w.Tag
	case "pull-request":
		return "PR #" + w.PR
	}
	return "branch " + w.Branch
}

func workflowListCommand() *command {
	var branch string
	var limit int
	return apiCommand{
		read:    true,
		command: &command{name: "workflow list", summary: "list a project's workflows", usage: "PROJECT [--branch B] [--limit N] [--json]", help: "Lists workflows, newest first."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton workflow list: usage: baton workflow list PROJECT")
				return ExitUsage
			}
			q := url.Values{}
			if branch != "" {
				q.Set("branch", branch)
			}
			q.Set("limit", fmt.Sprint(limit))
			var wfs []apiv1.Workflow
			if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(args[0])+"/workflows?"+q.Encode(), nil, &wfs); err != nil {
				return failAPI(o, "workflow list", err)
			}
			if asJSON {
				printJSON(o.Out, wfs)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tID\tREF\tCOMMIT\tTRIGGER\tSTATE\tRESULT\tCREATED")
			for _, w := range wfs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.Number, w.ID, label(&w), short(w.SHA), w.Trigger, w.State, w.Result, w.CreatedAt.Local().Format(time.DateTime))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&branch, "branch", "", "only this `branch`")
		fs.IntVar(&limit, "limit", 20, "at most `N` workflows")
	})
}

func workflowShowCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "workflow show", summary: "show a workflow with its pipelines, blocks and jobs", usage: "ID [--json]", help: "Shows a workflow; --json nests its pipelines, their blocks and their jobs."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton workflow show: usage: baton workflow show ID")
				return ExitUsage
			}
			v, err := c.api.Workflow(ctx, args[0])
			if err != nil {
				return failAPI(o, "workflow show", c.explain(err))
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			fmt.Fprintf(o.Out, "Workflow #%d %s of %s: %s %s\n", v.Number, v.ID, v.Project, v.State, v.Result)
			fmt.Fprintf(o.Out, "  %s at %s, %s by %s\n", label(v.Workflow), short(v.SHA), triggerText(v.Workflow), orDash(v.TriggeredBy))
			for _, k := range slices.Sorted(maps.Keys(v.Parameters)) {
				fmt.Fprintf(o.Out, "  parameter %s=%s\n", k, v.Parameters[k])
			}
			if v.Message != "" {
				fmt.Fprintf(o.Out, "  %q\n", firstLine(v.Message))
			}
			printWorkflowLibraries(o, v.Libraries)
			for _, p := range v.Pipelines {
				fmt.Fprintf(o.Out, "\nPipeline %q (%s) %s: %s %s\n", p.Name, p.File, p.ID, p.State, resultWithReason(p.Result, p.Reason))
				printPromotedFrom(o, p)
				if p.Diagnostics != "" {
					fmt.Fprintln(o.Out, indent(p.Diagnostics, "  "))
				}
				printServerWarnings(o, p.Problems, "  ")
				tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  BLOCK\tJOB\tID\tSTATE\tRESULT\tDURATION")
				for _, b := range p.Blocks {
					for _, j := range b.Jobs {
						fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", b.Name, j.Name, j.ID, j.State, resultWithReason(j.Result, j.Reason), span(j.StartedAt, j.DoneAt))
					}
					if len(b.Jobs) == 0 {
						fmt.Fprintf(tw, "  %s\t\t\t%s\t%s\t\n", b.Name, b.State, resultWithReason(b.Result, b.Reason))
					}
				}
				tw.Flush()
				var prs []apiv1.PromotionView
				if err := c.do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(p.ID)+"/promotions", nil, &prs); err == nil && len(prs) > 0 {
					printPromotions(o, prs, "  ")
				}
			}
			return ExitOK
		},
	}.build(nil)
}

func span(a, b time.Time) string {
	if a.IsZero() {
		return "-"
	}
	if b.IsZero() {
		b = time.Now()
	}
	return formatDuration(b.Sub(a))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pre)
}

// postCommand builds a command that POSTs to a resource path (with the ID
// argument) and prints done with the ID the answer gives ("done: ID"), or else with the
// argument ("done ID").
func postCommand(name, summary, usage, help, path, done string) *command {
	return apiCommand{
		command: &command{name: name, summary: summary, usage: usage, help: help},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintf(o.Err, "baton %s: usage: baton %s %s\n", name, name, usage)
				return ExitUsage
			}
			var out map[string]any
			if err := c.do(ctx, "POST", fmt.Sprintf(path, url.PathEscape(args[0])), struct{}{}, &out); err != nil {
				return failAPI(o, name, err)
			}
			if id, ok := out["id"].(string); ok {
				fmt.Fprintf(o.Out, "%s: %s\n", done, id)
			} else {
				fmt.Fprintf(o.Out, "%s %s\n", done, args[0])
			}
			return ExitOK
		},
	}.build(nil)
}

func jobShowCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "job show", summary: "show a job and why it is waiting", usage: "ID [--json]", help: "Shows a job's state and result; for a job that waits, the reason."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton job show: usage: baton job show ID")
				return ExitUsage
			}
			var j map[string]any
			if err := c.do(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(args[0]), nil, &j); err != nil {
				return failAPI(o, "job show", err)
			}
			if asJSON {
				printJSON(o.Out, j)
				return ExitOK
			}
			state, _ := j["state"].(string)
			if res, _ := j["result"].(string); res != "" {
				state += " " + res
			}
			field := func(k string) string {
				if v, ok := j[k].(string); ok && v != "" {
					return v
				}
				return "-"
			}
			fmt.Fprintf(o.Out, "Job %s (%s) in block %s: %s\n", field("name"), field("id"), field("block"), state)
			if r, _ := j["wait_reason"].(string); r != "" {
				fmt.Fprintf(o.Out, "Waiting: %s\n", r)
			}
			return ExitOK
		},
	}.build(nil)
}

func jobLogsCommand() *command {
	var follow bool
	return apiCommand{
		read: true,
		command: &command{name: "job logs", summary: "print a job's log", usage: "ID [--follow] [--json]",
			help: "Prints the log as plain text, each command with its exit code and duration.\n--follow keeps printing until the job ends; --json prints the raw events."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton job logs: usage: baton job logs ID [--follow]")
				return ExitUsage
			}
			id := url.PathEscape(args[0])
			job := &apiv1.JobView{}
			if !asJSON {
				// The stored log's events do not name the job's block.
				var err error
				if job, err = c.api.Job(ctx, id); err != nil {
					return failAPI(o, "job logs", c.explain(err))
				}
			}
			path := "/api/v1/jobs/" + id + "/log?format=events"
			if follow {
				path = "/api/v1/jobs/" + id + "/log?follow=1"
			}
			resp, err := c.stream(ctx, path)
			if err != nil {
				return failAPI(o, "job logs", err)
			}
			defer resp.Body.Close()
			r := newTextRenderer(o.Out, o.color(o.Out), nil)
			r.single, r.block = true, job.Block
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				line := sc.Text()
				if follow {
					data, ok := strings.CutPrefix(line, "data: ")
					if !ok || data == "{}" {
						continue
					}
					line = data
				}
				if asJSON {
					fmt.Fprintln(o.Out, line)
					continue
				}
				var ev ci.Event
				if json.Unmarshal([]byte(line), &ev) == nil && ev.Kind != "" {
					r.event(ev)
				}
			}
			r.flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.BoolVar(&follow, "follow", false, "follow the log until the job ends")
	})
}

func agentListCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "agent list", summary: "list the agents the server knows", usage: "[--json]",
			help: "Lists agents with their type, slots, state and running jobs (organisation admins); others see how many agents of each type are connected and how many slots are free."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var view apiv1.AgentsView
			if err := c.do(ctx, "GET", "/api/v1/agents", nil, &view); err != nil {
				return failAPI(o, "agent list", err)
			}
			if asJSON {
				printJSON(o.Out, view)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			if view.Agents == nil {
				fmt.Fprintln(tw, "TYPE\tAGENTS\tFREE SLOTS")
				for _, t := range view.Types {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Type, t.Agents, t.Free)
				}
				tw.Flush()
				return ExitOK
			}
			fmt.Fprintln(tw, "NAME\tTYPE\tSLOTS\tSTATE\tRUNNING\tLAST SEEN\tIMAGES\tPRUNED OVER BUDGET")
			for _, a := range view.Agents {
				images, pruned := "-", "-"
				if len(a.Images) > 0 {
					images = fmt.Sprint(len(a.Images))
				}
				if p := a.ImagePruning; p != nil && p.Removed > 0 {
					pruned = fmt.Sprintf("%d image(s), %s, last %s ago", p.Removed, humanBytes(p.Bytes), time.Since(p.LastAt).Round(time.Second))
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s ago\t%s\t%s\n", a.Name, a.Type, a.Slots, a.State, len(a.Running), time.Since(a.LastSeen).Round(time.Second), images, pruned)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func agentTokenListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "agent token list", summary: "list the agent tokens (admins)", usage: "[--json]", help: "Lists the agent tokens, revoked ones included, never their secrets."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var ts []apiv1.AgentTokenView
			if err := c.do(ctx, "GET", "/api/v1/agent-tokens", nil, &ts); err != nil {
				return failAPI(o, "agent token list", err)
			}
			if asJSON {
				printJSON(o.Out, ts)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTYPE\tCREATED\tLAST USED\tSTATE")
			for _, t := range ts {
				typ, used, state := cmp.Or(t.Type, "any"), "never", "active"
				if !t.LastUsed.IsZero() {
					used = t.LastUsed.UTC().Format(time.DateTime)
				}
				if t.Revoked {
					state = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, typ, t.CreatedAt.UTC().Format(time.DateTime), used, state)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func agentTokenRevokeCommand() *command {
	return apiCommand{
		command: &command{name: "agent token revoke", summary: "revoke an agent token (admins)", usage: "ID",
			help: "Revokes an agent token: it registers no more agents, and the agents it registered are disconnected at their next poll (their running jobs fail as with a lost agent)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "usage: baton agent token revoke ID")
				return ExitUsage
			}
			var out apiv1.RevokedView
			if err := c.do(ctx, "DELETE", "/api/v1/agent-tokens/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return failAPI(o, "agent token revoke", err)
			}
			fmt.Fprintf(o.Out, "%s; %d agents registered with it are disconnected\n", out.Message, out.Agents)
			return ExitOK
		},
	}.build(nil)
}

func agentTokenCreateCommand() *command {
	var typ, name string
	return apiCommand{
		command: &command{name: "agent token create", summary: "create a token agents register with (admins)", usage: "[--type TYPE] [--name NAME]",
			help: "Creates an agent token, printed once. With --type, only agents of that type may use it."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			var out apiv1.AgentTokenCreated
			if err := c.do(ctx, "POST", "/api/v1/agent-tokens", apiv1.AgentTokenRequest{Name: name, Type: typ}, &out); err != nil {
				return failAPI(o, "agent token create", err)
			}
			fmt.Fprintln(o.Out, out.Token)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&typ, "type", "", "only agents of this `type`")
		fs.StringVar(&name, "name", "", "a `name` to recognise the token by")
	})
}

// triggerText says what started a workflow: "schedule NAME" for a
// schedule's.
func triggerText(w *apiv1.Workflow) string {
	if w.Trigger == string(ci.TriggerSchedule) && w.Schedule != "" {
		return "schedule " + w.Schedule
	}
	return string(w.Trigger)
}

// printServerWarnings prints the warnings among a pipeline's problems,
// each marked "warning:" as baton validate marks them, indented by pre.
func printServerWarnings(o *IO, problems []apiv1.Diagnostic, pre string) {
	for _, d := range problems {
		if d.Severity == apiv1.SeverityWarning {
			d.Message = "warning: " + d.Message
			fmt.Fprintf(o.Out, "%s%s\n", pre, d)
		}
	}
}
