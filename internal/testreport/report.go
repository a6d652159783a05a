// Package testreport turns JUnit XML test reports into the JSON report
// shape of Semaphore's test-results tool (testResults → suites → tests, each
// level with a summary) and merges reports of several files, jobs or
// pipelines. It is pure: bytes in, values out.
package testreport

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// State is a test's outcome.
type State string

// The states, as Semaphore names them.
const (
	StatePassed   State = "passed"
	StateFailed   State = "failed"
	StateError    State = "error"
	StateSkipped  State = "skipped"
	StateDisabled State = "disabled"
)

// Status says whether a report parsed.
type Status string

// The statuses.
const (
	StatusSuccess Status = "success"
	StatusError   Status = "error"
)

// Result is a whole report: what one job or one pipeline published.
type Result struct {
	TestResults []TestResults `json:"testResults"`
}

// TestResults is one report (one framework's run), made of suites.
type TestResults struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Framework     string  `json:"framework"`
	IsDisabled    bool    `json:"isDisabled"`
	Suites        []Suite `json:"suites"`
	Summary       Summary `json:"summary"`
	Status        Status  `json:"status"`
	StatusMessage string  `json:"statusMessage"`
}

// Suite is a group of tests (a <testsuite> with test cases).
type Suite struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	IsSkipped  bool              `json:"isSkipped"`
	IsDisabled bool              `json:"isDisabled"`
	Timestamp  string            `json:"timestamp"`
	Hostname   string            `json:"hostname"`
	Package    string            `json:"package"`
	Tests      []Test            `json:"tests"`
	Properties map[string]string `json:"properties"`
	Summary    Summary           `json:"summary"`
	SystemOut  string            `json:"systemOut"`
	SystemErr  string            `json:"systemErr"`
}

// Test is one test case.
type Test struct {
	ID        string        `json:"id"`
	File      string        `json:"file"`
	Classname string        `json:"classname"`
	Package   string        `json:"package"`
	Name      string        `json:"name"`
	Duration  time.Duration `json:"duration"`
	State     State         `json:"state"`
	Failure   *Failure      `json:"failure"`
	Error     *Failure      `json:"error"`
	SystemOut string        `json:"systemOut"`
	SystemErr string        `json:"systemErr"`
}

// Failure is a test's <failure> or <error>: its message, type and body
// (usually the stack trace).
type Failure struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Body    string `json:"body"`
}

// Summary counts the tests of a suite, a report or a whole result.
// Durations are in nanoseconds, as in Semaphore's reports.
type Summary struct {
	Total    int           `json:"total"`
	Passed   int           `json:"passed"`
	Skipped  int           `json:"skipped"`
	Error    int           `json:"error"`
	Failed   int           `json:"failed"`
	Disabled int           `json:"disabled"`
	Duration time.Duration `json:"duration"`
}

func (s *Summary) add(o Summary) {
	s.Total += o.Total
	s.Passed += o.Passed
	s.Skipped += o.Skipped
	s.Error += o.Error
	s.Failed += o.Failed
	s.Disabled += o.Disabled
	s.Duration += o.Duration
}

func (s *Summary) count(st State) {
	s.Total++
	switch st {
	case StatePassed:
		s.Passed++
	case StateFailed:
		s.Failed++
	case StateError:
		s.Error++
	case StateSkipped:
		s.Skipped++
	case StateDisabled:
		s.Disabled++
	}
}

// Summary sums the reports of r.
func (r Result) Summary() Summary {
	var s Summary
	for _, tr := range r.TestResults {
		s.add(tr.Summary)
	}
	return s
}

// aggregate counts a suite's tests. A suite's duration is the sum of its
// tests' unless its own time attribute says more (setup time).
func (s *Suite) aggregate() {
	var sum Summary
	for _, t := range s.Tests {
		sum.count(t.State)
		sum.Duration += t.Duration
	}
	if s.Summary.Duration > sum.Duration {
		sum.Duration = s.Summary.Duration
	}
	s.Summary = sum
}

// aggregate sums the suites of a report.
func (tr *TestResults) aggregate() {
	var sum Summary
	for i := range tr.Suites {
		sum.add(tr.Suites[i].Summary)
	}
	tr.Summary = sum
}

// uuid3 is an RFC 4122 name-based (MD5) UUID of name in the namespace ns,
// which is how Semaphore derives stable ids: the same report, suite and test
// names give the same ids in every run.
func uuid3(ns, name string) string {
	// One buffer of the namespace and the name, on the stack for the
	// usual names: this runs for every test of every report received.
	var stack [256]byte
	in := parseUUID(stack[:0], ns)
	in = append(in, name...)
	u := md5.Sum(in)
	u[6] = u[6]&0x0f | 0x30
	u[8] = u[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}

// parseUUID appends the 16 bytes of the UUID ns to b: zeros when ns is
// not a UUID (the root namespace, "").
func parseUUID(b []byte, ns string) []byte {
	var space [16]byte
	if len(ns) == 36 && ns[8] == '-' && ns[13] == '-' && ns[18] == '-' && ns[23] == '-' {
		var digits [32]byte
		n := copy(digits[:], ns[0:8])
		n += copy(digits[n:], ns[9:13])
		n += copy(digits[n:], ns[14:18])
		n += copy(digits[n:], ns[19:23])
		copy(digits[n:], ns[24:])
		if _, err := hex.Decode(space[:], digits[:]); err != nil {
			space = [16]byte{}
		}
	}
	return append(b, space[:]...)
}

// assignIDs derives the ids of a report, its suites and its tests from
// their names: the report's from its name and framework, a suite's from the
// report's id and its name, a test's from the suite's id and its class name
// and name. A test's id does not depend on its outcome, so the same test
// has the same id in every run (history and flaky detection rely on it).
func (tr *TestResults) assignIDs() {
	tr.ID = uuid3("", tr.Name+tr.Framework)
	for i := range tr.Suites {
		s := &tr.Suites[i]
		s.ID = uuid3(tr.ID, s.Name)
		for j := range s.Tests {
			t := &s.Tests[j]
			key := t.Name
			if t.Classname != "" {
				key = t.Classname + "." + key
			}
			t.ID = uuid3(s.ID, key)
		}
	}
}

// Merge combines results into one, as Semaphore's gen-pipeline-report
// does: reports with the same id become one, suites with the same id in
// them become one, and a test id seen twice is kept once. The kept copy is
// the first, unless it was skipped or it passed and a later one failed or
// errored (a failure is never hidden by a duplicate). Reports, suites and
// tests come out sorted by id, so merging is independent of order.
func Merge(results ...Result) Result {
	out := Result{TestResults: []TestResults{}}
	reportAt := map[string]int{}
	type suiteKey struct{ report, suite string }
	suiteAt := map[suiteKey]int{}
	testAt := map[[3]string]int{}
	for _, r := range results {
		for _, tr := range r.TestResults {
			ri, ok := reportAt[tr.ID]
			if !ok {
				ri = len(out.TestResults)
				reportAt[tr.ID] = ri
				c := tr
				c.Suites = nil
				out.TestResults = append(out.TestResults, c)
			}
			dst := &out.TestResults[ri]
			if tr.Status == StatusError && dst.Status != StatusError {
				dst.Status, dst.StatusMessage = tr.Status, tr.StatusMessage
			}
			for _, s := range tr.Suites {
				k := suiteKey{tr.ID, s.ID}
				si, ok := suiteAt[k]
				if !ok {
					si = len(dst.Suites)
					suiteAt[k] = si
					c := s
					c.Tests = nil
					dst.Suites = append(dst.Suites, c)
				}
				ds := &dst.Suites[si]
				if s.Summary.Duration > ds.Summary.Duration {
					ds.Summary.Duration = s.Summary.Duration
				}
				for _, t := range s.Tests {
					tk := [3]string{tr.ID, s.ID, t.ID}
					ti, ok := testAt[tk]
					if !ok {
						testAt[tk] = len(ds.Tests)
						ds.Tests = append(ds.Tests, t)
						continue
					}
					old := ds.Tests[ti]
					if old.State == StateSkipped || old.State == StatePassed && (t.State == StateFailed || t.State == StateError) {
						ds.Tests[ti] = t
					}
				}
			}
		}
	}
	slices.SortStableFunc(out.TestResults, func(a, b TestResults) int { return strings.Compare(a.ID, b.ID) })
	for i := range out.TestResults {
		tr := &out.TestResults[i]
		slices.SortStableFunc(tr.Suites, func(a, b Suite) int { return strings.Compare(a.ID, b.ID) })
		for j := range tr.Suites {
			s := &tr.Suites[j]
			slices.SortStableFunc(s.Tests, func(a, b Test) int { return strings.Compare(a.ID, b.ID) })
			if s.Tests == nil {
				s.Tests = []Test{}
			}
			s.aggregate()
		}
		if tr.Suites == nil {
			tr.Suites = []Suite{}
		}
		tr.aggregate()
	}
	return out
}

// MaxOutput is the most Normalize keeps of a test's or suite's output and
// of a failure's body, in bytes.
const MaxOutput = 64 << 10

// Normalize makes a report received from elsewhere consistent: unknown
// states are refused, ids are derived again from the names and every
// summary is counted again from the tests, so that a report's counts are
// never what its sender claimed but what it holds. Outputs longer than
// MaxOutput are trimmed.
func (r *Result) Normalize() error {
	_, err := r.normalize()
	return err
}

// normalize is Normalize; it also reports whether it changed anything.
func (r *Result) normalize() (changed bool, err error) {
	// set sets *v to x, noting a change.
	set := func(v *string, x string) {
		if *v != x {
			*v, changed = x, true
		}
	}
	if r.TestResults == nil {
		r.TestResults, changed = []TestResults{}, true
	}
	for i := range r.TestResults {
		tr := &r.TestResults[i]
		if tr.Status == "" {
			tr.Status, changed = StatusSuccess, true
		}
		if tr.Status != StatusSuccess && tr.Status != StatusError {
			return changed, fmt.Errorf("report %q: unknown status %q", tr.Name, tr.Status)
		}
		if tr.Suites == nil {
			tr.Suites, changed = []Suite{}, true
		}
		for j := range tr.Suites {
			s := &tr.Suites[j]
			set(&s.SystemOut, trim(s.SystemOut, MaxOutput))
			set(&s.SystemErr, trim(s.SystemErr, MaxOutput))
			if s.Tests == nil {
				s.Tests, changed = []Test{}, true
			}
			for k := range s.Tests {
				t := &s.Tests[k]
				switch t.State {
				case StatePassed, StateFailed, StateError, StateSkipped, StateDisabled:
				case "":
					t.State, changed = StatePassed, true
				default:
					return changed, fmt.Errorf("test %q of suite %q: unknown state %q", t.Name, s.Name, t.State)
				}
				if t.Duration < 0 {
					t.Duration, changed = 0, true
				}
				set(&t.SystemOut, trim(t.SystemOut, MaxOutput))
				set(&t.SystemErr, trim(t.SystemErr, MaxOutput))
				for _, f := range []*Failure{t.Failure, t.Error} {
					if f != nil {
						set(&f.Body, trim(f.Body, MaxOutput))
						set(&f.Message, trim(f.Message, MaxOutput))
					}
				}
			}
			if s.Summary.Duration < 0 {
				s.Summary.Duration, changed = 0, true
			}
			was := s.Summary
			s.aggregate()
			changed = changed || s.Summary != was
		}
		was := tr.Summary
		tr.aggregate()
		changed = changed || tr.Summary != was
		ids := tr.ids()
		tr.assignIDs()
		changed = changed || !slices.Equal(ids, tr.ids())
	}
	return changed, nil
}

// ids lists the ids of tr, its suites and its tests.
func (tr *TestResults) ids() []string {
	out := []string{tr.ID}
	for i := range tr.Suites {
		s := &tr.Suites[i]
		out = append(out, s.ID)
		for j := range s.Tests {
			out = append(out, s.Tests[j].ID)
		}
	}
	return out
}

// Failed returns the tests that failed or errored, with their suite and
// report, in report order.
func (r *Result) Failed() []Located {
	var out []Located
	for i := range r.TestResults {
		tr := &r.TestResults[i]
		for j := range tr.Suites {
			s := &tr.Suites[j]
			for k := range s.Tests {
				if st := s.Tests[k].State; st == StateFailed || st == StateError {
					out = append(out, Located{Report: tr, Suite: s, Test: &s.Tests[k]})
				}
			}
		}
	}
	return out
}

// Located is a test with the suite and report it belongs to.
type Located struct {
	Report *TestResults
	Suite  *Suite
	Test   *Test
}

// Line is a one-line summary: "12 tests: 10 passed, 1 failed, 1 skipped in 3.2s".
func (s Summary) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %d passed", s.Total, plural(s.Total, "test", "tests"), s.Passed)
	for _, p := range []struct {
		n    int
		what string
	}{{s.Failed, "failed"}, {s.Error, "errored"}, {s.Skipped, "skipped"}, {s.Disabled, "disabled"}} {
		if p.n > 0 {
			fmt.Fprintf(&b, ", %d %s", p.n, p.what)
		}
	}
	fmt.Fprintf(&b, " in %s", s.Duration.Round(time.Millisecond))
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// MaxReport is the largest report Decode reads, as JSON.
const MaxReport = 256 << 20

// DecodeError is a report that is not valid report JSON, or too large.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return "bad report: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode reads a report as JSON (at most MaxReport bytes) and normalises
// it; what it refuses is a *DecodeError.
func Decode(r io.Reader) (Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxReport+1))
	if err != nil {
		return Result{}, fmt.Errorf("read the report: %w", err)
	}
	if len(data) > MaxReport {
		return Result{}, &DecodeError{fmt.Errorf("larger than %d MiB", MaxReport>>20)}
	}
	var res Result
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return Result{}, &DecodeError{err}
	}
	if dec.More() {
		return Result{}, &DecodeError{errors.New("more than one JSON value")}
	}
	if err := res.Normalize(); err != nil {
		return Result{}, &DecodeError{err}
	}
	return res, nil
}
