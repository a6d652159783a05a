package toolbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/testreport"
)

const testResultsUsage = `test-results publish FILE|DIR... [--name NAME] [--parser auto|generic|golang|rspec|exunit|mocha|phpunit|embedded]
                           [--suite-prefix PREFIX] [--trim-output-to N | --no-trim-output] [--ignore-missing] [--fail-on-error]
       test-results gen-pipeline-report
       test-results compile | combine | command-metrics | resource-metrics`

// defaultTrim is how much of each test's output publish keeps (the end),
// as Semaphore's test-results.
const defaultTrim = 1000

// publishTimeout bounds the time publish spends sending the report, so
// that a server that cannot take it never holds the job up for long.
const publishTimeout = 2 * time.Minute

// runTestResults publishes JUnit XML reports to the job's report (kept
// with the job on the server) and merges a pipeline's reports. Problems
// with the reports are reported on one line and do not fail the job,
// unless --fail-on-error.
func runTestResults(c *call, args []string) int {
	if len(args) == 0 {
		return c.usageError(testResultsUsage, "missing subcommand")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "usage: %s\n", testResultsUsage)
		return 0
	case "publish":
		return publishTestResults(c, rest)
	case "gen-pipeline-report":
		return genPipelineReport(c)
	case "compile", "combine", "command-metrics", "resource-metrics":
		c.infof("'%s' is not available (it builds files for Semaphore's UI); skipping it. Published reports are merged into the pipeline's report when the pipeline ends", sub)
		return 0
	default:
		return c.usageError(testResultsUsage, "unknown subcommand %q", sub)
	}
}

func publishTestResults(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{
		{long: "name", short: "N", value: true},
		{long: "parser", short: "p", value: true},
		{long: "suite-prefix", short: "S", value: true},
		{long: "config", value: true},
		{long: "trace"},
		{long: "verbose", short: "v"},
		{long: "trim-output-to", value: true},
		{long: "no-trim-output"},
		{long: "no-compress"},
		{long: "ignore-missing"},
		{long: "fail-on-error"},
		{long: "generate-mcp-summary"},
	})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", testResultsUsage)
		return 0
	}
	if err != nil {
		return c.usageError(testResultsUsage, "%v", err)
	}
	if len(pos) == 0 {
		return c.usageError(testResultsUsage, "publish needs a JUnit XML file or a directory of them")
	}
	opt := testreport.Options{Name: fl["name"], Parser: fl["parser"], SuitePrefix: fl["suite-prefix"], TrimOutput: defaultTrim}
	if p := strings.ToLower(opt.Parser); p != "" && p != "auto" && !slices.Contains(testreport.Parsers, p) {
		return c.usageError(testResultsUsage, "unknown parser %q (one of auto, %s)", opt.Parser, strings.Join(testreport.Parsers, ", "))
	}
	if v, ok := fl["trim-output-to"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c.usageError(testResultsUsage, "invalid value %q for --trim-output-to: want a number of characters", v)
		}
		opt.TrimOutput = n
	}
	if fl.has("no-trim-output") {
		opt.TrimOutput = 0
	}
	failOnError := fl.has("fail-on-error")
	// problem reports what went wrong; it fails the command only with
	// --fail-on-error, as on Semaphore.
	problems := 0
	problem := func(format string, args ...any) {
		problems++
		c.errorf(format, args...)
	}

	files := junitFiles(c, pos, fl.has("ignore-missing"), problem)
	var results []testreport.Result
	for _, f := range files {
		data, err := os.ReadFile(c.abs(f))
		if err != nil {
			problem("%s: %v", f, unwrapPathError(err))
			continue
		}
		r, err := testreport.Parse(f, data, opt)
		if err != nil {
			problem("%v", err)
			continue
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		if problems == 0 {
			c.infof("no JUnit XML to publish in %s", strings.Join(pos, ", "))
		}
		return exitFor(failOnError && problems > 0)
	}
	report := testreport.Merge(results...)
	sum := report.Summary()
	var frameworks []string
	for _, tr := range report.TestResults {
		if !slices.Contains(frameworks, tr.Framework) {
			frameworks = append(frameworks, tr.Framework)
		}
	}
	c.infof("%s: %s (%d %s, %s)", reportName(report), sum.Line(), len(results), plural(len(results), "file", "files"), strings.Join(frameworks, ", "))
	const show = 20
	for i, f := range report.Failed() {
		if i == show {
			c.infof("... and %d more", sum.Failed+sum.Error-show)
			break
		}
		c.infof("%s %s", strings.ToUpper(string(f.Test.State)), testTitle(f))
	}

	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		problem("the report was not stored: %v", err)
		return exitFor(failOnError)
	}
	data, err := testreport.Compress(report)
	if err != nil {
		problem("the report was not stored: %v", err)
		return exitFor(failOnError)
	}
	ctx, cancel := context.WithTimeout(c.ctx, publishTimeout)
	defer cancel()
	job, err := withRetries(ctx, func() (testreport.Summary, error) { return svc.PublishTestReport(ctx, data) })
	if err != nil {
		problem("the report was not stored: %v", err)
		return exitFor(failOnError)
	}
	if job.Total != sum.Total {
		c.infof("Stored with the job's report (%s)", job.Line())
	} else {
		c.infof("Stored with the job's report")
	}
	return exitFor(failOnError && problems > 0)
}

// withRetries calls f until it succeeds, a refusal (4xx) comes back or
// ctx ends, waiting 1, 2, 4... seconds between tries.
func withRetries[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := time.Second
	for {
		v, err := f()
		var se *jobsvc.StatusError
		if err == nil || errors.As(err, &se) && se.Code >= 400 && se.Code < 500 {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func exitFor(fail bool) int {
	if fail {
		return 1
	}
	return 0
}

func reportName(r testreport.Result) string {
	var names []string
	for _, tr := range r.TestResults {
		if !slices.Contains(names, tr.Name) {
			names = append(names, tr.Name)
		}
	}
	if len(names) == 0 {
		return "Test results"
	}
	return strings.Join(names, ", ")
}

// testTitle names a test: suite, class and name.
func testTitle(l testreport.Located) string {
	name := l.Test.Name
	if l.Test.Classname != "" && !strings.Contains(name, l.Test.Classname) && l.Test.Classname != l.Suite.Name {
		name = l.Test.Classname + "." + name
	}
	if l.Suite.Name == "" {
		return name
	}
	return l.Suite.Name + " / " + name
}

func genPipelineReport(c *call) int {
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		c.infof("the pipeline's report was not made: %v", err)
		return 0
	}
	ctx, cancel := context.WithTimeout(c.ctx, publishTimeout)
	defer cancel()
	sum, err := withRetries(ctx, func() (testreport.Summary, error) { return svc.GenPipelineReport(ctx) })
	if jobsvc.IsStatus(err, 404) {
		c.infof("no job of this pipeline published a test report")
		return 0
	}
	if err != nil {
		c.infof("the pipeline's report was not made: %v", err)
		return 0
	}
	c.infof("Pipeline report: %s", sum.Line())
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// junitFiles expands directories to the .xml files in them, sorted; a
// missing path is a problem unless ignoreMissing.
func junitFiles(c *call, paths []string, ignoreMissing bool, problem func(string, ...any)) []string {
	var files []string
	for _, p := range paths {
		abs := c.abs(p)
		fi, err := os.Stat(abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && ignoreMissing {
				c.infof("%s: no such file; nothing to publish from it", p)
				continue
			}
			problem("%s: %v", p, unwrapPathError(err))
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(abs, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(f), ".xml") {
				rel, err := filepath.Rel(abs, f)
				if err != nil {
					return err
				}
				found = append(found, filepath.Join(p, rel))
			}
			return nil
		})
		if err != nil {
			problem("%s: %v", p, err)
			continue
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	return files
}
