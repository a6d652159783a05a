package toolbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/coverage"
	"github.com/batonci/baton/internal/jobsvc"
)

const coverageUsage = `coverage publish FILE... [--format auto|cobertura|lcov|go] [--fail-on-error]
       (any other subcommand runs the next coverage on PATH, such as coverage.py's)`

// runCoverage publishes line coverage (Cobertura XML, LCOV, Go cover
// profiles) to the job's coverage, kept with the job on the server.
// Problems with the files are reported on one line and do not fail the
// job, unless --fail-on-error. Python's coverage.py is also called
// coverage: every other subcommand is handed to the next coverage on
// PATH, so that `coverage run` and `coverage xml` keep working in jobs.
func runCoverage(c *call, args []string) int {
	if len(args) == 0 {
		return c.usageError(coverageUsage, "missing subcommand")
	}
	switch args[0] {
	case "publish":
		return publishCoverage(c, args[1:])
	case "-h", "--help":
		fmt.Fprintf(c.stdout, "usage: %s\n", coverageUsage)
		if next := nextOnPath(c, "coverage"); next != "" {
			fmt.Fprintf(c.stdout, "other subcommands run %s\n", next)
		}
		return 0
	}
	next := nextOnPath(c, "coverage")
	if next == "" {
		return c.usageError(coverageUsage, "unknown subcommand %q (and no other coverage command is on PATH)", args[0])
	}
	return passThrough(c, next, args)
}

func publishCoverage(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{
		{long: "format", short: "f", value: true},
		{long: "fail-on-error"},
	})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", coverageUsage)
		return 0
	}
	if err != nil {
		return c.usageError(coverageUsage, "%v", err)
	}
	if len(pos) == 0 {
		return c.usageError(coverageUsage, "publish needs a coverage file (Cobertura XML, LCOV or a Go cover profile)")
	}
	failOnError := fl.has("fail-on-error")
	problems := 0
	problem := func(format string, args ...any) {
		problems++
		c.errorf(format, args...)
	}
	format := coverage.Format(strings.ToLower(fl["format"]))
	if format == "auto" {
		format = ""
	}
	if format != "" && !slices.Contains(coverage.Formats, format) {
		// As a malformed file: one line, and the job goes on.
		problem("%s: unknown format %q (one of auto, cobertura, lcov, go); nothing published", strings.Join(pos, ", "), fl["format"])
		return exitFor(failOnError)
	}
	var reports []coverage.Report
	for _, f := range pos {
		data, err := os.ReadFile(c.abs(f))
		if err != nil {
			problem("%s: %v", f, unwrapPathError(err))
			continue
		}
		r, err := coverage.Parse(f, data, format)
		if err != nil {
			problem("%v", err)
			continue
		}
		c.infof("%s: %s, %d %s (%s)", f, r.Totals().Line(), len(r.Files), plural(len(r.Files), "file", "files"), r.Format)
		reports = append(reports, r)
	}
	if len(reports) == 0 {
		return exitFor(failOnError && problems > 0)
	}
	report := coverage.Merge(reports...)
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		problem("the coverage was not stored: %v", err)
		return exitFor(failOnError)
	}
	data, err := json.Marshal(report)
	if err != nil {
		problem("the coverage was not stored: %v", err)
		return exitFor(failOnError)
	}
	ctx, cancel := context.WithTimeout(c.ctx, publishTimeout)
	defer cancel()
	job, err := withRetries(ctx, func() (coverage.Totals, error) { return svc.PublishCoverage(ctx, data) })
	if err != nil {
		problem("the coverage was not stored: %v", err)
		return exitFor(failOnError)
	}
	if job != report.Totals() {
		c.infof("Stored with the job's coverage: %s", job.Line())
	} else {
		c.infof("Stored with the job's coverage")
	}
	return exitFor(failOnError && problems > 0)
}

// nextOnPath finds the first executable name on the job's PATH that is
// not this program (the toolbox's link to it).
func nextOnPath(c *call, name string) string {
	self, err := os.Executable()
	if err == nil {
		if s, err := filepath.EvalSymlinks(self); err == nil {
			self = s
		}
	}
	for _, dir := range filepath.SplitList(c.getenv("PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && real == self {
			continue
		}
		return p
	}
	return ""
}

// passThrough runs program with args in the job's environment and
// directory and returns its exit status.
func passThrough(c *call, program string, args []string) int {
	cmd := exec.CommandContext(c.ctx, program, args...)
	cmd.Dir, cmd.Env = c.dir, c.environ
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	}
	c.errorf("%s: %v", program, err)
	return 126
}
