package testreport

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Digest is what a reader of a report looks at first, small whatever the
// report's size: its failures (the first DigestFailures, with their
// message and the start of their body and output), its slowest tests and
// its suites' counts. It is made once, when the report is stored, so that
// a page never reads the whole report.
type Digest struct {
	Summary      Summary       `json:"summary"`
	Failures     []DigestTest  `json:"failures"`
	MoreFailures int           `json:"moreFailures,omitempty"`
	Slowest      []DigestTest  `json:"slowest"`
	Suites       []DigestSuite `json:"suites"`
	MoreSuites   int           `json:"moreSuites,omitempty"`
}

// DigestTest is a test in a Digest.
type DigestTest struct {
	ID       string        `json:"id"`
	Report   string        `json:"report"`
	Suite    string        `json:"suite"`
	Name     string        `json:"name"` // Title: with its class when the name lacks it
	State    State         `json:"state"`
	Duration time.Duration `json:"duration"`
	Message  string        `json:"message,omitempty"`
	Body     string        `json:"body,omitempty"`
	Output   string        `json:"output,omitempty"`
}

// DigestSuite is a suite's counts in a Digest.
type DigestSuite struct {
	Report  string  `json:"report"`
	Name    string  `json:"name"`
	Summary Summary `json:"summary"`
}

// The limits of a Digest.
const (
	DigestFailures = 100
	DigestSlowest  = 20
	DigestSuites   = 1000
	// DigestClip is the most a digest keeps of a failure's body and of
	// its test's output, from the start.
	DigestClip = 4 << 10
)

// Title is how a test is named to a reader: its name, preceded by its
// class when the class is neither its suite nor part of its name.
func Title(classname, name, suite string) string {
	if classname != "" && classname != suite && !strings.Contains(name, classname) {
		return classname + "." + name
	}
	return name
}

// Digest makes r's digest. Failures are ordered by suite and name, the
// slowest tests by duration, and suites with failures come first, then
// the slowest.
func (r *Result) Digest() Digest {
	d := Digest{Summary: r.Summary(), Failures: []DigestTest{}, Slowest: []DigestTest{}, Suites: []DigestSuite{}}
	var failed []DigestTest
	for i := range r.TestResults {
		tr := &r.TestResults[i]
		for j := range tr.Suites {
			s := &tr.Suites[j]
			d.Suites = append(d.Suites, DigestSuite{Report: tr.Name, Name: s.Name, Summary: s.Summary})
			for k := range s.Tests {
				t := &s.Tests[k]
				row := DigestTest{ID: t.ID, Report: tr.Name, Suite: s.Name, Name: Title(t.Classname, t.Name, s.Name), State: t.State, Duration: t.Duration}
				if f := cmp.Or(t.Error, t.Failure); f != nil && (t.State == StateFailed || t.State == StateError) {
					row.Message, row.Body = f.Message, Clip(f.Body, DigestClip)
					row.Output = Clip(strings.TrimSpace(t.SystemOut+"\n"+t.SystemErr), DigestClip)
					failed = append(failed, row)
					row.Message, row.Body, row.Output = "", "", ""
				}
				d.Slowest = keepSlowest(d.Slowest, row)
			}
		}
	}
	slices.SortStableFunc(failed, func(a, b DigestTest) int {
		return cmp.Or(cmp.Compare(a.Suite, b.Suite), cmp.Compare(a.Name, b.Name))
	})
	if n := len(failed); n > DigestFailures {
		d.MoreFailures = n - DigestFailures
		failed = failed[:DigestFailures]
	}
	d.Failures = append(d.Failures, failed...)
	SortSuites(d.Suites)
	if n := len(d.Suites); n > DigestSuites {
		d.MoreSuites = n - DigestSuites
		d.Suites = d.Suites[:DigestSuites]
	}
	return d
}

// keepSlowest inserts t into slowest (longest first, at most
// DigestSlowest), keeping the earlier of equal durations first.
func keepSlowest(slowest []DigestTest, t DigestTest) []DigestTest {
	if len(slowest) == DigestSlowest && t.Duration <= slowest[len(slowest)-1].Duration {
		return slowest
	}
	i := len(slowest)
	for i > 0 && slowest[i-1].Duration < t.Duration {
		i--
	}
	slowest = slices.Insert(slowest, i, t)
	return slowest[:min(len(slowest), DigestSlowest)]
}

// SortSuites orders suites as a reader wants them: those with failures
// or errors first, then the slowest.
func SortSuites(suites []DigestSuite) {
	slices.SortStableFunc(suites, func(a, b DigestSuite) int {
		fa, fb := a.Summary.Failed+a.Summary.Error > 0, b.Summary.Failed+b.Summary.Error > 0
		if fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Summary.Duration, a.Summary.Duration)
	})
}

// Clip keeps the first n bytes of s (to a character boundary), marking
// the cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "\n…"
}
