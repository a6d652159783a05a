package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/testreport"
)

// The test report commands: a job's or a pipeline's report (what its jobs
// published with `test-results publish`), and a project's flaky tests.

func jobTestsCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "job tests", summary: "show the test report a job published", usage: "ID [--json]",
			help: "Prints the report's summary, then each failed test with its message. --json prints the whole\nreport in Semaphore's test-results JSON (testResults, suites, tests)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton job tests: usage: baton job tests ID [--json]")
				return ExitUsage
			}
			return showTests(ctx, o, c, "job tests", "/api/v1/jobs/"+url.PathEscape(args[0])+"/tests", asJSON, false)
		},
	}.build(nil)
}

func pipelineTestsCommand() *command {
	var failed bool
	return apiCommand{
		read: true,
		command: &command{name: "pipeline tests", summary: "show a pipeline's merged test report", usage: "ID [--failed] [--json]",
			help: "Prints the summary of the reports the pipeline's jobs published, merged, then each failed test.\n--failed prints only the failed tests, one per line; --json prints the report (with --failed,\nonly the suites and tests that failed)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton pipeline tests: usage: baton pipeline tests ID [--failed] [--json]")
				return ExitUsage
			}
			return showTests(ctx, o, c, "pipeline tests", "/api/v1/pipelines/"+url.PathEscape(args[0])+"/tests", asJSON, failed)
		},
	}.build(func(fs *flagSet) {
		fs.BoolVar(&failed, "failed", false, "only the failed tests")
	})
}

func showTests(ctx context.Context, o *IO, c *client, name, path string, asJSON, onlyFailed bool) int {
	var rep testreport.Result
	if err := c.do(ctx, "GET", path, nil, &rep); err != nil {
		return failAPI(o, name, err)
	}
	all := rep.Summary()
	if onlyFailed {
		rep = failedOnly(rep)
	}
	if asJSON {
		printJSON(o.Out, rep)
		return ExitOK
	}
	if onlyFailed && all.Failed+all.Error == 0 {
		fmt.Fprintf(o.Out, "No failed tests (%s).\n", all.Line())
		return ExitOK
	}
	if !onlyFailed {
		for _, tr := range rep.TestResults {
			fmt.Fprintf(o.Out, "%s: %s\n", tr.Name, tr.Summary.Line())
		}
	}
	for _, f := range rep.Failed() {
		line := fmt.Sprintf("%s %s", strings.ToUpper(string(f.Test.State)), testName(f))
		if !onlyFailed {
			if msg := failureMessage(f.Test); msg != "" {
				line += ": " + msg
			}
		}
		fmt.Fprintln(o.Out, line)
	}
	return ExitOK
}

// failedOnly keeps the failed and errored tests, and their suites.
func failedOnly(r testreport.Result) testreport.Result {
	out := testreport.Result{TestResults: []testreport.TestResults{}}
	for _, tr := range r.TestResults {
		var suites []testreport.Suite
		for _, s := range tr.Suites {
			s.Tests = slices.DeleteFunc(slices.Clone(s.Tests), func(t testreport.Test) bool {
				return t.State != testreport.StateFailed && t.State != testreport.StateError
			})
			if len(s.Tests) > 0 {
				suites = append(suites, s)
			}
		}
		if len(suites) > 0 {
			tr.Suites = suites
			out.TestResults = append(out.TestResults, tr)
		}
	}
	return out
}

func testName(l testreport.Located) string {
	name := l.Test.Name
	if l.Test.Classname != "" && l.Test.Classname != l.Suite.Name && !strings.Contains(name, l.Test.Classname) {
		name = l.Test.Classname + "." + name
	}
	if l.Suite.Name != "" {
		name = l.Suite.Name + " / " + name
	}
	return name
}

// failureMessage is the first line of a failure's message, else of its body.
func failureMessage(t *testreport.Test) string {
	f := t.Failure
	if t.Error != nil {
		f = t.Error
	}
	if f == nil {
		return ""
	}
	msg := strings.TrimSpace(f.Message)
	if msg == "" {
		msg = strings.TrimSpace(f.Body)
	}
	msg, _, _ = strings.Cut(msg, "\n")
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

func testHistoryCommand() *command {
	var branch string
	var limit int
	return apiCommand{
		read: true,
		command: &command{name: "test history", summary: "show a test's last outcomes on a branch", usage: "PROJECT TEST_ID [--branch B] [--limit N] [--json]",
			help: "Prints a test's last outcomes (50 at most) on the project's default branch, or --branch, newest\nfirst: when, the result, how long it took, the commit and the workflow. TEST_ID is the test's id\nin the reports (baton job tests ID --json, baton project flaky --json): it stays the same from\nrun to run. The outcomes of deployments whose details are hidden from you are left out."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton test history: usage: baton test history PROJECT TEST_ID [--branch B] [--limit N] [--json]")
				return ExitUsage
			}
			q := url.Values{}
			if branch != "" {
				q.Set("branch", branch)
			}
			if limit != 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			path := "/api/v1/projects/" + url.PathEscape(args[0]) + "/tests/" + url.PathEscape(args[1]) + "/history"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var list []apiv1.OutcomeView
			if err := c.do(ctx, "GET", path, nil, &list); err != nil {
				return failAPI(o, "test history", err)
			}
			if asJSON {
				if list == nil {
					list = []apiv1.OutcomeView{}
				}
				printJSON(o.Out, list)
				return ExitOK
			}
			if len(list) == 0 {
				fmt.Fprintln(o.Out, "No outcomes of this test on that branch.")
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tRESULT\tTOOK\tCOMMIT\tWORKFLOW")
			for _, h := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.At.Local().Format(time.DateTime), h.State,
					time.Duration(h.DurationNS).Round(time.Millisecond), short(h.SHA), h.Workflow)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&branch, "branch", "", "the `branch` (default: the project's default branch)")
		fs.IntVar(&limit, "limit", 0, "at most `N` outcomes (1 to 50; default 50)")
	})
}

func projectFlakyCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "project flaky", summary: "list a project's flaky tests", usage: "PROJECT [--json]",
			help: "Lists the tests that both failed and passed on one commit (a rerun, a rebuild, a retry inside\na job): name, suite, times failed and passed, first and last seen, and the workflows where they\nflipped. A test marked resolved is hidden until it flips again."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton project flaky: usage: baton project flaky PROJECT [--json]")
				return ExitUsage
			}
			var list []apiv1.FlakyView
			if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(args[0])+"/flaky", nil, &list); err != nil {
				return failAPI(o, "project flaky", err)
			}
			if asJSON {
				if list == nil {
					list = []apiv1.FlakyView{}
				}
				printJSON(o.Out, list)
				return ExitOK
			}
			printFlaky(o.Out, list)
			return ExitOK
		},
	}.build(nil)
}

func printFlaky(w io.Writer, list []apiv1.FlakyView) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No flaky tests.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tSUITE\tFAILED\tPASSED\tFIRST SEEN\tLAST SEEN\tWORKFLOWS")
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", f.Name, f.Suite, f.Failed, f.Passed,
			f.FirstSeen.Local().Format(time.DateTime), f.LastSeen.Local().Format(time.DateTime), strings.Join(f.Workflows, ","))
	}
	tw.Flush()
}
