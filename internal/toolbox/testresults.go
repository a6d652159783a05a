package toolbox

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/jobsvc"
)

const testResultsUsage = `test-results publish FILE|DIR... [--name NAME]
       test-results gen-pipeline-report | compile | combine | command-metrics | resource-metrics`

// testResultsArtifact is where publish stores the report, in the job's
// artifacts, as on Semaphore.
const testResultsArtifact = "test-results/junit.xml"

// runTestResults publishes JUnit XML reports: it prints a summary and
// stores the report (merged, for several files) as the job artifact
// test-results/junit.xml. The pipeline-level subcommands belong to
// Semaphore's UI and are skipped with a message.
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
	case "gen-pipeline-report", "compile", "combine", "command-metrics", "resource-metrics":
		c.infof("'%s' is not available in local runs (it builds reports for Semaphore's UI); skipping it. Each job's published results are in its test-results/junit.xml artifact", sub)
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
	files, err := junitFiles(c, pos)
	if err != nil {
		if fl.has("ignore-missing") && errors.Is(err, fs.ErrNotExist) {
			c.infof("%v; nothing to publish", unwrapPathError(err))
			return 0
		}
		c.errorf("%v", err)
		return 1
	}
	if len(files) == 0 {
		c.errorf("no .xml files in %s", strings.Join(pos, ", "))
		return 1
	}
	var reports []*junitReport
	for _, f := range files {
		r, err := parseJUnitFile(f)
		if err != nil {
			c.errorf("%s: %v", f, err)
			return 1
		}
		reports = append(reports, r)
	}

	var total junitCounts
	var failed []string
	for _, r := range reports {
		total.add(r.counts)
		failed = append(failed, r.failed...)
	}
	name := fl["name"]
	if name == "" {
		name = "Test results"
	}
	c.infof("%s: %d tests, %d failures, %d errors, %d skipped, %s (%d %s)",
		name, total.tests, total.failures, total.errors, total.skipped,
		time.Duration(total.seconds*float64(time.Second)).Round(time.Millisecond), len(files), plural(len(files), "file", "files"))
	const show = 20
	for i, f := range failed {
		if i == show {
			c.infof("... and %d more", len(failed)-show)
			break
		}
		c.infof("FAILED %s", f)
	}

	data := reports[0].raw
	if len(reports) > 1 {
		data = mergeJUnit(name, reports, total)
	}
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		c.infof("the report was not stored: %v", err)
		return 0
	}
	err = svc.ArtifactPush(c.ctx, "job", testResultsArtifact, true, func(w io.Writer) error {
		return jobsvc.WriteTreeFile(w, data, 0o644)
	})
	if err != nil {
		c.errorf("store the report: %v", err)
		return 1
	}
	c.infof("Stored the report as the job artifact %s", testResultsArtifact)
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// junitFiles expands directories to the .xml files in them, sorted.
func junitFiles(c *call, paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		abs := c.abs(p)
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, abs)
			continue
		}
		var found []string
		err = filepath.WalkDir(abs, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(f), ".xml") {
				found = append(found, f)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	return files, nil
}

// JUnit XML, as written by most tools: a <testsuites> of <testsuite>s, or
// a single <testsuite>; suites may nest.
type junitSuite struct {
	Name   string       `xml:"name,attr"`
	Time   string       `xml:"time,attr"`
	Suites []junitSuite `xml:"testsuite"`
	Cases  []junitCase  `xml:"testcase"`
}

type junitCase struct {
	Name      string     `xml:"name,attr"`
	Classname string     `xml:"classname,attr"`
	Time      string     `xml:"time,attr"`
	Failures  []xml.Name `xml:"failure"`
	Errors    []xml.Name `xml:"error"`
	Skipped   []xml.Name `xml:"skipped"`
}

type junitCounts struct {
	tests, failures, errors, skipped int
	seconds                          float64
}

func (c *junitCounts) add(o junitCounts) {
	c.tests += o.tests
	c.failures += o.failures
	c.errors += o.errors
	c.skipped += o.skipped
	c.seconds += o.seconds
}

type junitReport struct {
	raw    []byte // the file
	body   []byte // the <testsuite> elements, for merging
	counts junitCounts
	failed []string // suite / test names of failures and errors
}

func parseJUnitFile(name string) (*junitReport, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return parseJUnit(data)
}

func parseJUnit(data []byte) (*junitReport, error) {
	// Find the root element and where it starts.
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root xml.StartElement
	var start int64
	for {
		start = dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JUnit XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	r := &junitReport{raw: data}
	var suites []junitSuite
	switch root.Name.Local {
	case "testsuites":
		var all struct {
			Suites []junitSuite `xml:"testsuite"`
			Inner  []byte       `xml:",innerxml"`
		}
		if err := xml.Unmarshal(data, &all); err != nil {
			return nil, fmt.Errorf("not JUnit XML: %w", err)
		}
		suites, r.body = all.Suites, all.Inner
	case "testsuite":
		var s junitSuite
		if err := xml.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("not JUnit XML: %w", err)
		}
		suites, r.body = []junitSuite{s}, bytes.TrimSpace(data[start:])
	default:
		return nil, fmt.Errorf("not JUnit XML: the root element is <%s>, not <testsuites> or <testsuite>", root.Name.Local)
	}
	for _, s := range suites {
		r.counts.add(r.countSuite(s, ""))
	}
	return r, nil
}

// countSuite counts the test cases of s and the suites in it, and returns
// the suite's time: its time attribute, else the sum of its parts.
func (r *junitReport) countSuite(s junitSuite, parent string) junitCounts {
	name := s.Name
	if parent != "" && name != "" {
		name = parent + " / " + name
	} else if name == "" {
		name = parent
	}
	var n junitCounts
	for _, sub := range s.Suites {
		n.add(r.countSuite(sub, name))
	}
	for _, tc := range s.Cases {
		n.tests++
		switch {
		case len(tc.Failures) > 0:
			n.failures++
			r.failed = append(r.failed, caseName(name, tc))
		case len(tc.Errors) > 0:
			n.errors++
			r.failed = append(r.failed, caseName(name, tc))
		case len(tc.Skipped) > 0:
			n.skipped++
		}
		n.seconds += parseSeconds(tc.Time)
	}
	if t, err := strconv.ParseFloat(strings.ReplaceAll(s.Time, ",", ""), 64); err == nil {
		n.seconds = t
	}
	return n
}

func caseName(suite string, tc junitCase) string {
	name := tc.Name
	if tc.Classname != "" && !strings.Contains(suite, tc.Classname) {
		name = tc.Classname + "." + name
	}
	if suite == "" {
		return name
	}
	return suite + " / " + name
}

func parseSeconds(s string) float64 {
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil {
		return 0
	}
	return f
}

// mergeJUnit makes one <testsuites> document of several reports.
func mergeJUnit(name string, reports []*junitReport, total junitCounts) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<testsuites name="%s" tests="%d" failures="%d" errors="%d" skipped="%d" time="%.3f">`+"\n",
		xmlEscape(name), total.tests, total.failures, total.errors, total.skipped, total.seconds)
	for _, r := range reports {
		b.Write(bytes.TrimSpace(r.body))
		b.WriteByte('\n')
	}
	b.WriteString("</testsuites>\n")
	return b.Bytes()
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
