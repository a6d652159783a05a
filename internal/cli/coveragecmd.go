package cli

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// The code coverage commands: a pipeline's coverage (what its jobs
// published with `coverage publish`, merged) and a branch's trend.

func pipelineCoverageCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "pipeline coverage", summary: "show a pipeline's code coverage", usage: "ID [--json]",
			help: "Prints the coverage of the pipeline's jobs merged by file (a file two jobs measured counts once,\na line either covered is covered), its change from the default branch's last pipeline with\ncoverage, and each job's. Go profiles count statements, as go tool cover -func does."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton pipeline coverage: usage: baton pipeline coverage ID [--json]")
				return ExitUsage
			}
			var v apiv1.CoverageView
			if err := c.do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(args[0])+"/coverage", nil, &v); err != nil {
				return failAPI(o, "pipeline coverage", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			so := ""
			if !v.Final {
				so = ", so far"
			}
			files := "files"
			if v.Files == 1 {
				files = "file"
			}
			fmt.Fprintf(o.Out, "Coverage: %.1f%% (%d of %d lines in %d %s, %s%s)\n", v.Percent, v.Covered, v.Lines, v.Files, files, v.Format, so)
			if v.Base != nil && v.Change != nil {
				fmt.Fprintf(o.Out, "Change: %+.1f points from %s (%.1f%% at %s)\n", *v.Change, v.Base.Branch, v.Base.Percent, short(v.Base.SHA))
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tFORMAT\tFILES\tCOVERED\tLINES\tCOVERAGE")
			for _, j := range v.Jobs {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f%%\n", j.Name, j.Format, j.Files, j.Covered, j.Lines, j.Percent)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func projectCoverageCommand() *command {
	var branch string
	var limit int
	return apiCommand{
		read: true,
		command: &command{name: "project coverage", summary: "show a branch's code coverage over its last pipelines", usage: "PROJECT [--branch B] [--limit N] [--json]",
			help: "Prints the coverage of the last pipelines (30, at most 100) with coverage on the project's\ndefault branch, or --branch, newest first: when, the percentage, the lines covered and measured,\nthe commit and the workflow. Deployments whose details are hidden from you are left out."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton project coverage: usage: baton project coverage PROJECT [--branch B] [--limit N] [--json]")
				return ExitUsage
			}
			q := url.Values{}
			if branch != "" {
				q.Set("branch", branch)
			}
			if limit != 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			path := "/api/v1/projects/" + url.PathEscape(args[0]) + "/coverage"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var v apiv1.CoverageTrendView
			if err := c.do(ctx, "GET", path, nil, &v); err != nil {
				return failAPI(o, "project coverage", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			if len(v.Pipelines) == 0 {
				fmt.Fprintf(o.Out, "No pipeline on %s published coverage.\n", v.Branch)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tCOVERAGE\tCOVERED\tLINES\tCOMMIT\tWORKFLOW")
			for _, p := range v.Pipelines {
				fmt.Fprintf(tw, "%s\t%.1f%%\t%d\t%d\t%s\t%s\n", p.At.Local().Format(time.DateTime), p.Percent, p.Covered, p.Lines, short(p.SHA), p.WorkflowID)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&branch, "branch", "", "the branch (default: the project's default branch)")
		fs.IntVar(&limit, "limit", 0, "how many pipelines (1 to 100; default 30)")
	})
}
