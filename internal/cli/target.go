package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// The `baton target` commands manage a project's deployment targets (spec
// §3.3): who may promote to them, from which branches and tags, whether
// pull requests may, and their secret, which only the pipelines promoted
// to the target receive. Values go in and never come out.

func targetPath(project, name string) string {
	p := "/api/v1/projects/" + url.PathEscape(project) + "/targets"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// targetInput is what create and update read from their flags.
type targetInput struct {
	secretInput
	description, allowPRs             string
	users, roles, branches, tags      multiFlag
	clearUsers, clearRoles, clearRefs bool
}

func (in *targetInput) flags(fs *flagSet, update bool) {
	fs.StringVar(&in.description, "description", "", "what the target is")
	fs.Var(&in.users, "user", "allow the user `LOGIN` (\"auto\" allows auto-promotions); repeatable")
	fs.Var(&in.roles, "role", "allow the project role `ROLE` (admin or write); repeatable")
	fs.Var(&in.branches, "branch", "allow the branch `NAME` or /REGEX/; repeatable")
	fs.Var(&in.tags, "tag", "allow the tag `NAME` or /REGEX/; repeatable")
	fs.StringVar(&in.allowPRs, "allow-prs", "", "`true` or false: pipelines of pull requests may deploy")
	fs.Var(&in.env, "env", "secret variable `KEY=VALUE` (or KEY: from this environment); repeatable")
	fs.Var(&in.files, "file", "secret file `PATH=LOCALFILE`; repeatable")
	if update {
		fs.Var(&in.removeEnv, "remove-env", "remove secret variable `KEY`; repeatable")
		fs.Var(&in.removeFiles, "remove-file", "remove secret file `PATH`; repeatable")
		fs.BoolVar(&in.clearUsers, "any-user", false, "clear the user list")
		fs.BoolVar(&in.clearRoles, "any-role", false, "clear the role list")
		fs.BoolVar(&in.clearRefs, "any-ref", false, "clear the branch and tag lists (any branch or tag)")
	}
}

// body builds the request; on update only what the flags name changes.
func (in *targetInput) body(o *IO, body map[string]any, update bool) error {
	if in.description != "" {
		body["description"] = in.description
	}
	list := func(key string, l multiFlag, clear bool) {
		switch {
		case len(l) > 0:
			body[key] = []string(l)
		case clear || !update:
			body[key] = []string{}
		}
	}
	list("users", in.users, in.clearUsers)
	list("roles", in.roles, in.clearRoles)
	list("branches", in.branches, in.clearRefs)
	list("tags", in.tags, in.clearRefs)
	switch in.allowPRs {
	case "":
	case "true", "false":
		body["allow_pull_requests"] = in.allowPRs == "true"
	default:
		return fmt.Errorf("--allow-prs is true or false")
	}
	return in.secretInput.body(o, body)
}

func joinOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

func targetCreateCommand() *command {
	var in targetInput
	var project string
	return apiCommand{
		command: &command{name: "target create", summary: "create a deployment target of a project",
			usage: "NAME --project P [--user LOGIN]... [--role admin|write]... [--branch B]... [--tag T]... [--allow-prs true] [--env KEY=VALUE]... [--file PATH=LOCALFILE]... [--description D]",
			help: `Creates a deployment target: promotions naming it under deployment_target:
are checked against its rules, run one at a time, and only their jobs get its
secret (--env, --file). Who: --user and --role (admin includes write); none
means anyone with write access, and auto-promotions; with a list, the user
"auto" allows auto-promotions. What: --branch and --tag, exact or /regex/;
none means any branch and tag; a list of one kind blocks the other. Pull
requests may deploy only with --allow-prs true. Needs the project's admin role.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || project == "" {
				fmt.Fprintln(o.Err, "baton target create: usage: baton target create NAME --project P [flags]")
				return ExitUsage
			}
			body := map[string]any{"name": args[0]}
			if err := in.body(o, body, false); err != nil {
				fmt.Fprintf(o.Err, "baton target create: %v\n", err)
				return ExitUsage
			}
			var v apiv1.Target
			if err := c.do(ctx, "POST", targetPath(project, ""), body, &v); err != nil {
				return failAPI(o, "target create", err)
			}
			fmt.Fprintf(o.Out, "Created deployment target %s (project %s): %d variable(s), %d file(s)\n", v.Name, project, len(v.EnvVars), len(v.Files))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the target's `PROJECT`")
		in.flags(fs, false)
	})
}

func targetUpdateCommand() *command {
	var in targetInput
	var project string
	return apiCommand{
		command: &command{name: "target update", summary: "change a deployment target's rules or secret",
			usage: "NAME --project P [flags of create] [--remove-env KEY]... [--remove-file PATH]... [--any-user] [--any-role] [--any-ref]",
			help:  "Changes a deployment target. A list flag (--user, --role, --branch, --tag) replaces that list; --any-user, --any-role and --any-ref clear lists. --env and --file add or replace secret variables and files; --remove-env and --remove-file remove them. What is not named stays."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || project == "" {
				fmt.Fprintln(o.Err, "baton target update: usage: baton target update NAME --project P [flags]")
				return ExitUsage
			}
			body := map[string]any{}
			if err := in.body(o, body, true); err != nil {
				fmt.Fprintf(o.Err, "baton target update: %v\n", err)
				return ExitUsage
			}
			var v apiv1.Target
			if err := c.do(ctx, "PATCH", targetPath(project, args[0]), body, &v); err != nil {
				return failAPI(o, "target update", err)
			}
			fmt.Fprintf(o.Out, "Updated deployment target %s (project %s): %d variable(s), %d file(s)\n", v.Name, project, len(v.EnvVars), len(v.Files))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the target's `PROJECT`")
		in.flags(fs, true)
	})
}

func targetListCommand() *command {
	var project string
	return apiCommand{
		read:    true,
		command: &command{name: "target list", summary: "list a project's deployment targets", usage: "--project P [--json]", help: "Lists a project's deployment targets and their rules (needs write access; the secret's names are shown to admins)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 0 || project == "" {
				fmt.Fprintln(o.Err, "baton target list: usage: baton target list --project P")
				return ExitUsage
			}
			var vs []apiv1.Target
			if err := c.do(ctx, "GET", targetPath(project, ""), nil, &vs); err != nil {
				return failAPI(o, "target list", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tUSERS\tROLES\tBRANCHES\tTAGS\tPRS\tSECRET")
			for _, v := range vs {
				prs := "no"
				if v.AllowPRs {
					prs = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, joinOr(v.Users, "-"), joinOr(v.Roles, "-"),
					joinOr(v.Branches, "-"), joinOr(v.Tags, "-"), prs, orDash(strings.Join(append(append([]string{}, v.EnvVars...), v.Files...), ",")))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the targets of `PROJECT`")
	})
}

func targetShowCommand() *command {
	var project string
	return apiCommand{
		read:    true,
		command: &command{name: "target show", summary: "show a deployment target", usage: "NAME --project P [--json]", help: "Shows a deployment target's rules and who changed it when (the secret's names to admins, never its values)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 || project == "" {
				fmt.Fprintln(o.Err, "baton target show: usage: baton target show NAME --project P")
				return ExitUsage
			}
			var v apiv1.Target
			if err := c.do(ctx, "GET", targetPath(project, args[0]), nil, &v); err != nil {
				return failAPI(o, "target show", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			fmt.Fprintf(o.Out, "Deployment target %s (project %s)\n", v.Name, project)
			if v.Description != "" {
				fmt.Fprintf(o.Out, "  %s\n", v.Description)
			}
			who := "anyone with write access, and auto-promotions"
			if len(v.Users) > 0 || len(v.Roles) > 0 {
				who = "users " + joinOr(v.Users, "-") + "; roles " + joinOr(v.Roles, "-")
			}
			refs := "any branch and tag"
			if len(v.Branches) > 0 || len(v.Tags) > 0 {
				refs = "branches " + joinOr(v.Branches, "none") + "; tags " + joinOr(v.Tags, "none")
			}
			fmt.Fprintf(o.Out, "Who:           %s\n", who)
			fmt.Fprintf(o.Out, "Refs:          %s\n", refs)
			fmt.Fprintf(o.Out, "Pull requests: %t\n", v.AllowPRs)
			fmt.Fprintf(o.Out, "Variables:     %s\n", orDash(strings.Join(v.EnvVars, ", ")))
			fmt.Fprintf(o.Out, "Files:         %s\n", orDash(strings.Join(v.Files, ", ")))
			fmt.Fprintf(o.Out, "Created:       %s by %s\n", v.CreatedAt.Local().Format(time.RFC3339), orDash(v.CreatedBy))
			fmt.Fprintf(o.Out, "Updated:       %s by %s\n", v.UpdatedAt.Local().Format(time.RFC3339), orDash(v.UpdatedBy))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the target's `PROJECT`")
	})
}

func targetHistoryCommand() *command {
	var project string
	var limit int
	return apiCommand{
		read:    true,
		command: &command{name: "target history", summary: "list a deployment target's deployments", usage: "NAME --project P [--limit N] [--json]", help: "Lists the deployments to a target, newest first: promotion, pipeline, workflow, commit, branch or tag, who or what promoted, when, and the result (or why an auto-promotion was refused)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 || project == "" {
				fmt.Fprintln(o.Err, "baton target history: usage: baton target history NAME --project P")
				return ExitUsage
			}
			path := targetPath(project, args[0]) + "/history"
			if limit > 0 {
				path += fmt.Sprintf("?limit=%d", limit)
			}
			var vs []apiv1.DeploymentView
			if err := c.do(ctx, "GET", path, nil, &vs); err != nil {
				return failAPI(o, "target history", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tPROMOTION\tWORKFLOW\tREF\tCOMMIT\tBY\tPIPELINE\tRESULT")
			for _, v := range vs {
				ref := v.Branch
				switch v.RefType {
				case "tag":
					ref = "tag " + v.Tag
				case "pull-request":
					ref = "PR #" + v.PR
				}
				res := string(v.State) + " " + string(v.Result)
				if v.Refused != "" {
					res = "refused: " + v.Refused
				}
				by := v.PromotedBy
				if v.Trigger == "auto" {
					by = "auto-promotion"
				}
				fmt.Fprintf(tw, "%s\t%s\t#%d\t%s\t%s\t%s\t%s\t%s\n", v.CreatedAt.Local().Format("2006-01-02 15:04:05"), v.Promotion,
					v.WorkflowNumber, orDash(ref), short(v.SHA), by, orDash(v.PipelineID), strings.TrimSpace(res)+paramText(v.Parameters))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the target's `PROJECT`")
		fs.IntVar(&limit, "limit", 0, "at most `N` entries (default 100)")
	})
}

func targetDeleteCommand() *command {
	var project string
	return apiCommand{
		command: &command{name: "target delete", summary: "delete a deployment target", usage: "NAME --project P", help: "Deletes a deployment target and its secret; its history stays. Promotions naming it are refused until it exists again."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || project == "" {
				fmt.Fprintln(o.Err, "baton target delete: usage: baton target delete NAME --project P")
				return ExitUsage
			}
			if err := c.do(ctx, "DELETE", targetPath(project, args[0]), nil, nil); err != nil {
				return failAPI(o, "target delete", err)
			}
			fmt.Fprintf(o.Out, "Deleted deployment target %s (project %s)\n", args[0], project)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the target's `PROJECT`")
	})
}

// targetCommands are the `baton target` commands and the promotion ones.
func targetCommands() []*command {
	return []*command{
		promoteCommand(),
		pipelinePromotionsCommand(),
		targetCreateCommand(),
		targetListCommand(),
		targetShowCommand(),
		targetHistoryCommand(),
		targetUpdateCommand(),
		targetDeleteCommand(),
	}
}
