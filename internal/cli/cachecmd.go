package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/bytesize"
)

func projectUpdateCommand() *command {
	var cacheSize, branch, file, poll, secret, deployDetails string
	var public, private, secretStdin bool
	var flags *flagSet
	const usage = "PROJECT [--branch B] [--public|--private] [--poll D] [--webhook-secret S | --webhook-secret-stdin] [--file F] [--cache-size SIZE] [--deployment-details public|private]"
	return apiCommand{
		command: &command{name: "project update", summary: "change a project's settings",
			usage: usage,
			help: "Changes the settings given; the others stay as they are. Project admins only.\n" +
				"--branch is the default branch (what 'baton workflow run' builds without --branch); --public and\n" +
				"--private set who may read its workflows and logs; --poll 0 stops polling; --webhook-secret \"\"\n" +
				"turns the push webhook off; --file is the pipeline file.\n" +
				"--cache-size sets the size budget of the project's cache (shared by every agent; the least\nrecently used keys are evicted past it): a size such as 9GiB, 500MB or 1073741824 (bytes);\n0 restores the default, 9 GiB.\n" +
				"--deployment-details private (the default) shows a public project's deployments (pipelines\npromoted to a deployment target: their jobs, logs, parameters, artifacts and target) in full only\nto its members; others see each one's name, when it ran and its result. public shows them to all."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			usageErr := func(msg string) int {
				fmt.Fprintf(o.Err, "baton project update: %s\n", msg)
				return ExitUsage
			}
			if len(args) != 1 {
				return usageErr("usage: baton project update " + usage)
			}
			body := map[string]any{}
			if public && private {
				return usageErr("--public and --private contradict each other")
			}
			if public || private {
				body["public"] = public
			}
			set := map[string]bool{}
			flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
			if secretStdin {
				if set["webhook-secret"] {
					return usageErr("--webhook-secret and --webhook-secret-stdin contradict each other")
				}
				s, err := stdinSecret(o, "webhook secret")
				if err != nil {
					return usageErr(err.Error())
				}
				secret, set["webhook-secret"] = s, true
			}
			for flag, field := range map[string]string{"branch": "default_branch", "file": "pipeline_file", "poll": "poll_interval", "webhook-secret": "webhook_secret"} {
				if set[flag] {
					body[field] = map[string]string{"branch": branch, "file": file, "poll": poll, "webhook-secret": secret}[flag]
				}
			}
			if set["deployment-details"] {
				if deployDetails != "public" && deployDetails != "private" {
					return usageErr(fmt.Sprintf("--deployment-details %q: want public or private", deployDetails))
				}
				body["deployment_details"] = deployDetails
			}
			if set["branch"] && branch == "" {
				return usageErr("--branch: a project needs a default branch")
			}
			var size int64
			if set["cache-size"] {
				n, err := bytesize.Parse(cacheSize)
				if err != nil {
					return usageErr(fmt.Sprintf("--cache-size: %v", err))
				}
				size = n
				body["cache_size"] = n
			}
			if len(body) == 0 {
				return usageErr("nothing to change: give at least one of --branch, --public, --private, --poll, --webhook-secret, --file, --cache-size, --deployment-details")
			}
			var p apiv1.Project
			if err := c.do(ctx, "PATCH", "/api/v1/projects/"+url.PathEscape(args[0]), body, &p); err != nil {
				return failAPI(o, "project update", err)
			}
			vis := "private"
			if p.Public {
				vis = "public"
			}
			pollText := "off"
			if p.PollInterval > 0 {
				pollText = "every " + p.PollInterval.String()
			}
			fmt.Fprintf(o.Out, "Project %s: default branch %s, %s, pipeline %s, polling %s\n", p.Name, p.DefaultBranch, vis, p.PipelineFile, pollText)
			switch {
			case !set["webhook-secret"]:
			case secret == "":
				fmt.Fprintln(o.Out, "Push webhook: off")
			default:
				fmt.Fprintf(o.Out, "Push webhook: %s/hooks/%s (secret as given)\n", c.base, p.Name)
			}
			if set["deployment-details"] {
				if p.DeploymentDetailsPublic {
					fmt.Fprintf(o.Out, "Project %s: deployment details are public\n", p.Name)
				} else {
					fmt.Fprintf(o.Out, "Project %s: deployment details are shown to its members only\n", p.Name)
				}
			}
			if set["cache-size"] {
				if size == 0 {
					fmt.Fprintf(o.Out, "Project %s: cache size budget is the default (9.0 GiB)\n", p.Name)
				} else {
					fmt.Fprintf(o.Out, "Project %s: cache size budget %s\n", p.Name, humanBytes(size))
				}
			}
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		flags = fs
		fs.StringVar(&branch, "branch", "", "default `branch`")
		fs.BoolVar(&public, "public", false, "anyone may read its workflows and logs")
		fs.BoolVar(&private, "private", false, "only its members may read it")
		fs.StringVar(&poll, "poll", "", "poll the repository every `DURATION` (e.g. 30s; 0: off)")
		fs.StringVar(&secret, "webhook-secret", "", "`secret` that signs push webhooks (\"\": webhook off)")
		fs.BoolVar(&secretStdin, "webhook-secret-stdin", false, "read the webhook secret from the first line of standard input")
		fs.StringVar(&file, "file", "", "pipeline `file`")
		fs.StringVar(&deployDetails, "deployment-details", "", "who sees a public project's deployments in full: `public` or private (members only)")
		fs.StringVar(&cacheSize, "cache-size", "", "the project's cache size budget (`SIZE`, e.g. 9GiB; 0: the default)")
	})
}

func projectDeleteCommand() *command {
	var yes bool
	return apiCommand{
		command: &command{name: "project delete", summary: "delete a project and everything of it", usage: "PROJECT --yes",
			help: "Deletes a project that runs nothing (stop its workflows first): its workflows, jobs and their logs,\n" +
				"members, secrets, deployment targets, webhook deliveries, artifacts, cache and the server's mirror\n" +
				"of its repository. The audit log keeps its events. It cannot be undone, hence --yes. Project admins only."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton project delete: usage: baton project delete PROJECT --yes")
				return ExitUsage
			}
			if !yes {
				fmt.Fprintf(o.Err, "baton project delete: deleting %s deletes its workflows, logs, secrets, artifacts and cache for good; add --yes to do it\n", args[0])
				return ExitUsage
			}
			var v apiv1.ProjectDeletedView
			if err := c.do(ctx, "DELETE", "/api/v1/projects/"+url.PathEscape(args[0]), nil, &v); err != nil {
				return failAPI(o, "project delete", err)
			}
			fmt.Fprintf(o.Out, "Deleted project %s (%s): %d job(s) with their logs, %d stored object(s)\n", v.Name, v.ID, v.Jobs, v.Objects)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.BoolVar(&yes, "yes", false, "yes, delete it and everything of it")
	})
}

// humanBytes formats a byte count like 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// cacheLocalBudget is the --cache-local-budget flag of `baton agent` and
// `baton up`.
type cacheLocalBudget struct{ s *string }

func addCacheLocalBudgetFlag(fs *flag.FlagSet) cacheLocalBudget {
	return cacheLocalBudget{fs.String("cache-local-budget", "5GiB", "keep copies of restored cache archives within `SIZE`, so a second restore on this agent downloads nothing (0: keep none)")}
}

// bytes returns the budget for agent.Config: negative keeps no copies.
func (c cacheLocalBudget) bytes() (int64, error) {
	n, err := bytesize.Parse(*c.s)
	if err != nil {
		return 0, fmt.Errorf("--cache-local-budget: %w", err)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}
