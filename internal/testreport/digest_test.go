package testreport

import (
	"fmt"
	"strings"
	"testing"
)

func TestDigest(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<testsuites name="unit">`)
	for s := range 3 {
		fmt.Fprintf(&b, `<testsuite name="suite%d">`, 2-s)
		for i := range 60 {
			n := s*60 + i
			fmt.Fprintf(&b, `<testcase classname="cls%d" name="Test%03d" time="%d">`, s, n, n)
			if n%3 == 0 && s > 0 {
				fmt.Fprintf(&b, `<failure message="m%d">%s</failure><system-out>%s</system-out>`, n, strings.Repeat("é", DigestClip), "out")
			}
			b.WriteString(`</testcase>`)
		}
		b.WriteString(`</testsuite>`)
	}
	b.WriteString(`</testsuites>`)
	r, err := Parse("r.xml", []byte(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Digest()
	if d.Summary.Total != 180 || d.Summary.Failed != 40 {
		t.Errorf("summary = %+v", d.Summary)
	}
	// 40 failures, in suite1 (tests 60..119) then suite0 (120..179).
	if len(d.Failures) != 40 || d.MoreFailures != 0 || d.Failures[0].Suite != "suite0" || d.Failures[0].Name != "cls2.Test120" {
		t.Fatalf("failures: %d, first %+v", len(d.Failures), d.Failures[0])
	}
	f := d.Failures[0]
	if f.Message != "m120" || f.Output != "out" || len(f.Body) > DigestClip+len("\n…") || !strings.HasSuffix(f.Body, "é\n…") || f.ID == "" {
		t.Errorf("failure = %q %q %d bytes ending %q", f.Message, f.Output, len(f.Body), f.Body[len(f.Body)-8:])
	}
	if len(d.Slowest) != DigestSlowest || d.Slowest[0].Name != "cls2.Test179" || d.Slowest[19].Name != "cls2.Test160" || d.Slowest[0].Body != "" {
		t.Errorf("slowest: first %+v, last %+v", d.Slowest[0], d.Slowest[len(d.Slowest)-1])
	}
	// Suites with failures first, the slowest of them first.
	var names []string
	for _, s := range d.Suites {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "suite0 suite1 suite2" {
		t.Errorf("suites = %s", got)
	}
}

func TestDigestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<testsuites>`)
	for s := range DigestSuites + 5 {
		fmt.Fprintf(&b, `<testsuite name="s%04d"><testcase name="t"><failure/></testcase></testsuite>`, s)
	}
	b.WriteString(`</testsuites>`)
	r, err := Parse("r.xml", []byte(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Digest()
	if len(d.Failures) != DigestFailures || d.MoreFailures != DigestSuites+5-DigestFailures || d.Failures[0].Suite != "s0000" {
		t.Errorf("failures: %d, %d more", len(d.Failures), d.MoreFailures)
	}
	if len(d.Suites) != DigestSuites || d.MoreSuites != 5 {
		t.Errorf("suites: %d, %d more", len(d.Suites), d.MoreSuites)
	}
	if len(d.Slowest) != DigestSlowest {
		t.Errorf("slowest: %d", len(d.Slowest))
	}
}
