package testreport

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden parses a realistic report of each framework and compares the
// JSON with testdata/NAME.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(filepath.Base(f), data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".xml") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestDetectAndCount pins the facts the golden files hold, so a careless
// -update cannot bless a wrong count.
func TestDetectAndCount(t *testing.T) {
	tests := []struct {
		file      string
		framework string
		name      string
		want      Summary // duration not compared
		suites    []string
	}{
		{"go-junit-report.xml", "golang", "Golang Suite", Summary{Total: 4, Passed: 2, Failed: 1, Skipped: 1}, []string{"github.com/acme/shop/cart", "github.com/acme/shop/price"}},
		{"gotestsum.xml", "golang", "Golang Suite", Summary{Total: 3, Passed: 2, Failed: 1}, []string{"example.com/api/server", "example.com/api/store"}},
		{"pytest.xml", "generic", "pytest tests", Summary{Total: 5, Passed: 2, Failed: 1, Error: 1, Skipped: 1}, []string{"pytest"}},
		{"rspec.xml", "rspec", "Rspec Suite", Summary{Total: 4, Passed: 2, Failed: 1, Skipped: 1}, []string{"spec/models/order_spec.rb", "spec/requests/orders_spec.rb"}},
		{"exunit.xml", "exunit", "Exunit Suite", Summary{Total: 3, Passed: 1, Failed: 1, Skipped: 1}, []string{"Shop.CartTest", "ShopWeb.PageControllerTest"}},
		{"phpunit.xml", "generic", "Generic Suite", Summary{Total: 4, Passed: 2, Failed: 1, Error: 1}, []string{`Application Test Suite\Tests\Unit\MoneyTest`, `Application Test Suite\Tests\Unit\MoneyTest\Tests\Unit\MoneyTest::testDivide`, `Application Test Suite\Tests\Feature\HomeTest`}},
		{"jest.xml", "generic", "jest tests", Summary{Total: 4, Passed: 2, Failed: 1, Skipped: 1}, []string{"src/components/Button.test.tsx", "src/api/client.test.ts"}},
		{"mocha.xml", "mocha", "Mocha Tests", Summary{Total: 3, Passed: 2, Failed: 1}, []string{"Root Suite", "Array #indexOf()", "HTTP GET /health"}},
		{"surefire.xml", "generic", "Generic Suite", Summary{Total: 3, Passed: 1, Failed: 1, Error: 1}, []string{"com.acme.billing.InvoiceServiceTest"}},
		{"gradle.xml", "generic", "Generic Suite", Summary{Total: 3, Passed: 1, Failed: 1, Skipped: 1}, []string{"org.acme.cli.ParserTest"}},
		{"generic.xml", "generic", "integration", Summary{Total: 2, Passed: 1, Error: 1}, []string{"smoke", "empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(tt.file, data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			tr := r.TestResults[0]
			if tr.Framework != tt.framework || tr.Name != tt.name {
				t.Errorf("framework, name = %q, %q; want %q, %q", tr.Framework, tr.Name, tt.framework, tt.name)
			}
			got := tr.Summary
			got.Duration = 0
			if got != tt.want {
				t.Errorf("summary = %+v, want %+v", got, tt.want)
			}
			var names []string
			total := 0
			for _, s := range tr.Suites {
				names = append(names, s.Name)
				total += s.Summary.Total
			}
			if diff := cmp.Diff(tt.suites, names); diff != "" {
				t.Errorf("suites (-want +got):\n%s", diff)
			}
			if total != tr.Summary.Total {
				t.Errorf("suites count %d tests, the report %d", total, tr.Summary.Total)
			}
		})
	}
}

func TestDetails(t *testing.T) {
	parse := func(t *testing.T, file string, opt Options) TestResults {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(file, data, opt)
		if err != nil {
			t.Fatal(err)
		}
		return r.TestResults[0]
	}
	t.Run("failure message, type and body", func(t *testing.T) {
		tr := parse(t, "surefire.xml", Options{})
		tests := tr.Suites[0].Tests
		if f := tests[1].Failure; f == nil || f.Message != "expected: <10.00> but was: <9.99>" || f.Type != "org.opentest4j.AssertionFailedError" || !strings.Contains(f.Body, "InvoiceServiceTest.java:34") {
			t.Errorf("failure = %+v", f)
		}
		if tests[1].SystemOut != "INFO rounding 9.994 -> 9.99\n" {
			t.Errorf("systemOut = %q", tests[1].SystemOut)
		}
		if e := tests[2].Error; tests[2].State != StateError || e == nil || e.Type != "java.net.ConnectException" {
			t.Errorf("error test = %+v", tests[2])
		}
		if tests[2].SystemErr != "WARN smtp unavailable\n" {
			t.Errorf("systemErr = %q", tests[2].SystemErr)
		}
	})
	t.Run("durations and suite time", func(t *testing.T) {
		tr := parse(t, "generic.xml", Options{})
		smoke := tr.Suites[0]
		if d := smoke.Tests[1].Duration; d != 1000250*time.Millisecond {
			t.Errorf("1,000.25 s read as %v", d)
		}
		if smoke.Tests[1].State != StateError {
			t.Errorf("failure and error: state %q, want error", smoke.Tests[1].State)
		}
		if smoke.Summary.Duration != 1001750*time.Millisecond {
			t.Errorf("suite duration %v: the tests' sum beats the smaller time attribute", smoke.Summary.Duration)
		}
	})
	t.Run("file attribute without ./", func(t *testing.T) {
		tr := parse(t, "rspec.xml", Options{})
		if f := tr.Suites[0].Tests[0].File; f != "spec/models/order_spec.rb" {
			t.Errorf("file = %q", f)
		}
	})
	t.Run("name, prefix and parser options", func(t *testing.T) {
		tr := parse(t, "gradle.xml", Options{Name: "Unit", SuitePrefix: "jvm/", Parser: "PHPUnit"})
		if tr.Name != "Unit" || tr.Framework != "phpunit" || tr.Suites[0].Name != "jvm/org.acme.cli.ParserTest" {
			t.Errorf("got name %q framework %q suite %q", tr.Name, tr.Framework, tr.Suites[0].Name)
		}
		plain := parse(t, "gradle.xml", Options{})
		if plain.ID == tr.ID || plain.Suites[0].ID == tr.Suites[0].ID {
			t.Error("ids do not follow the name and prefix")
		}
	})
	t.Run("trimmed output", func(t *testing.T) {
		tr := parse(t, "surefire.xml", Options{TrimOutput: 10})
		if got := tr.Suites[0].Tests[1].SystemOut; got != "[18 bytes trimmed] ...\n4 -> 9.99\n" {
			t.Errorf("systemOut = %q", got)
		}
		if f := tr.Suites[0].Tests[1].Failure; !strings.HasPrefix(f.Body, "org.opentest4j") {
			t.Errorf("failure body trimmed: %q", f.Body)
		}
	})
	t.Run("ids are stable and outcome-independent", func(t *testing.T) {
		a := parse(t, "surefire.xml", Options{})
		passed := strings.NewReplacer("<failure", "<ignored", "</failure>", "</ignored>").Replace(mustRead(t, "surefire.xml"))
		r, err := Parse("x.xml", []byte(passed), Options{})
		if err != nil {
			t.Fatal(err)
		}
		b := r.TestResults[0]
		if a.Suites[0].Tests[1].ID != b.Suites[0].Tests[1].ID {
			t.Error("the same test has another id when it passes")
		}
		if b.Suites[0].Tests[1].State != StatePassed {
			t.Errorf("unknown element changed the state to %q", b.Suites[0].Tests[1].State)
		}
	})
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opt      Options
		want     string
	}{
		{"empty", "  \n", Options{}, "r.xml: empty file, expected JUnit XML"},
		{"not xml", "hello", Options{}, "r.xml: no XML element, expected <testsuites> or <testsuite>"},
		{"wrong root", "<?xml version=\"1.0\"?>\n<html><body/></html>", Options{}, "r.xml:2:1: the root element is <html>, not <testsuites> or <testsuite>"},
		{"mismatched", "<testsuites>\n  <testsuite name=\"a\">\n    <testcase name=\"x\">\n  </testsuite>\n</testsuites>", Options{}, "r.xml:4:15: malformed XML: element <testcase> closed by </testsuite>"},
		{"truncated", "<testsuite name=\"a\">\n<testcase name=\"x\"/>\n<testca", Options{}, "r.xml:3:8: malformed XML: unexpected EOF"},
		{"bad attribute", "<testsuite name=a/>", Options{}, "r.xml:1:18: malformed XML: unquoted or missing attribute value in element"},
		{"unknown parser", "<testsuite/>", Options{Parser: "nunit"}, `r.xml: unknown parser "nunit" (one of auto, generic, golang, rspec, exunit, mocha, phpunit, embedded)`},
		{"too deep", strings.Repeat("<testsuite>", 100), Options{}, "r.xml:1:705: elements nested more than 64 deep"},
		{"encoding", `<?xml version="1.0" encoding="UTF-16"?><testsuite/>`, Options{}, `r.xml:1:40: opening charset "UTF-16": not supported, write the report in UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.xml", []byte(tt.in), tt.opt)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("the message is not one line")
			}
		})
	}
}

func TestLatin1(t *testing.T) {
	in := []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite name=\"caf\xe9\"><testcase name=\"x\"/></testsuite>")
	r, err := Parse("r.xml", in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := r.TestResults[0].Suites[0].Name; n != "café" {
		t.Errorf("name = %q", n)
	}
}

func TestMerge(t *testing.T) {
	parse := func(s string) Result {
		t.Helper()
		r, err := Parse("r.xml", []byte(s), Options{Name: "Unit"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	job1 := parse(`<testsuite name="a"><testcase name="one" time="1"/><testcase name="two"><skipped/></testcase><testcase name="three"/></testsuite>`)
	job2 := parse(`<testsuite name="a"><testcase name="one" time="2"><failure message="boom"/></testcase><testcase name="two"/><testcase name="three"><failure/></testcase></testsuite>`)
	job3 := parse(`<testsuite name="b"><testcase name="one"/></testsuite>`)
	// A report of another name stays apart.
	other, err := Parse("r.xml", []byte(`<testsuite name="a"><testcase name="one"/></testsuite>`), Options{Name: "E2E"})
	if err != nil {
		t.Fatal(err)
	}

	m := Merge(job1, job2, job3, other)
	if len(m.TestResults) != 2 {
		t.Fatalf("%d reports, want 2", len(m.TestResults))
	}
	var unit TestResults
	for _, tr := range m.TestResults {
		if tr.Name == "Unit" {
			unit = tr
		}
	}
	states := map[string]State{}
	for _, s := range unit.Suites {
		for _, tc := range s.Tests {
			states[s.Name+"/"+tc.Name] = tc.State
		}
	}
	want := map[string]State{
		"a/one":   StateFailed, // a failure is never hidden by a passing duplicate
		"a/two":   StatePassed, // a skipped copy gives way
		"a/three": StateFailed,
		"b/one":   StatePassed,
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if got := (Summary{Total: 4, Passed: 2, Failed: 2}); unit.Summary.Total != got.Total || unit.Summary.Failed != got.Failed || unit.Summary.Passed != got.Passed {
		t.Errorf("summary = %+v", unit.Summary)
	}
	if s := m.Summary(); s.Total != 5 {
		t.Errorf("result total = %d, want 5", s.Total)
	}
	// Order does not matter.
	a, _ := json.Marshal(Merge(job1, job2, job3, other))
	b, _ := json.Marshal(Merge(other, job3, Merge(job2), job1))
	// job1 first vs job2 first may pick different copies only for equal
	// outcomes; here every kept copy is determined by outcome except a/one's
	// duration, so compare with durations cleared.
	if !bytes.Equal(clearDurations(t, a), clearDurations(t, b)) {
		t.Errorf("merge depends on order:\n%s\n%s", a, b)
	}
	// Merging a result with itself changes nothing.
	self := Merge(job2)
	again := Merge(self, self)
	if diff := cmp.Diff(self, again); diff != "" {
		t.Errorf("merge is not idempotent (-once +twice):\n%s", diff)
	}
}

func clearDurations(t *testing.T, data []byte) []byte {
	t.Helper()
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	for i := range r.TestResults {
		r.TestResults[i].Summary.Duration = 0
		for j := range r.TestResults[i].Suites {
			s := &r.TestResults[i].Suites[j]
			s.Summary.Duration = 0
			for k := range s.Tests {
				s.Tests[k].Duration = 0
			}
		}
	}
	out, _ := json.Marshal(r)
	return out
}

// FuzzParse checks that no input panics, that errors are one line naming
// the file, and that what parses counts every test once.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, name := range files {
		data, _ := os.ReadFile(name)
		f.Add(data)
	}
	f.Add([]byte("<testsuites><testsuite><testsuite><testcase/></testsuite></testsuite></testsuites>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("f.xml", data, Options{TrimOutput: 100})
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "f.xml") || strings.Contains(msg, "\n") {
				t.Fatalf("bad message %q", msg)
			}
			return
		}
		for _, tr := range r.TestResults {
			n := 0
			for _, s := range tr.Suites {
				c := s.Summary
				if c.Total != len(s.Tests) || c.Passed+c.Failed+c.Error+c.Skipped+c.Disabled != c.Total {
					t.Fatalf("suite %q counts %+v for %d tests", s.Name, c, len(s.Tests))
				}
				n += c.Total
			}
			if n != tr.Summary.Total {
				t.Fatalf("report total %d, suites %d", tr.Summary.Total, n)
			}
		}
		if _, err := json.Marshal(Merge(r, r)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNormalize(t *testing.T) {
	in := `{"testResults":[{"name":"Unit","framework":"generic","suites":[{"name":"s","summary":{"total":99,"passed":99},
		"tests":[{"name":"a","state":"failed","duration":-5},{"name":"b"},{"name":"c","state":"error","systemOut":"` + strings.Repeat("x", MaxOutput+10) + `"}]}],
		"summary":{"total":1000}}]}`
	var r Result
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	got := r.TestResults[0].Summary
	got.Duration = 0
	if want := (Summary{Total: 3, Passed: 1, Failed: 1, Error: 1}); got != want {
		t.Errorf("summary = %+v, want %+v (counted, not trusted)", got, want)
	}
	tr := r.TestResults[0]
	if tr.ID == "" || tr.Suites[0].ID == "" || tr.Suites[0].Tests[0].ID == "" || tr.Status != StatusSuccess {
		t.Errorf("ids or status missing: %+v", tr)
	}
	if n := len(tr.Suites[0].Tests[2].SystemOut); n > MaxOutput+100 {
		t.Errorf("output of %d bytes kept", n)
	}
	if d := tr.Suites[0].Tests[0].Duration; d != 0 {
		t.Errorf("negative duration kept: %v", d)
	}
	if f := r.Failed(); len(f) != 2 || f[0].Test.Name != "a" || f[1].Suite.Name != "s" {
		t.Errorf("failed = %+v", f)
	}
	bad := Result{TestResults: []TestResults{{Suites: []Suite{{Tests: []Test{{Name: "x", State: "exploded"}}}}}}}
	if err := bad.Normalize(); err == nil || !strings.Contains(err.Error(), `unknown state "exploded"`) {
		t.Errorf("bad state: %v", err)
	}
	if got := (Summary{Total: 5, Passed: 3, Failed: 1, Skipped: 1, Duration: 1500 * time.Millisecond}).Line(); got != "5 tests: 3 passed, 1 failed, 1 skipped in 1.5s" {
		t.Errorf("line = %q", got)
	}
}
