package testreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// big20k is a JUnit file of 20,000 tests (about 10 MiB) shaped like the
// one bench/testresults_test.go publishes.
func big20k() []byte {
	out := "starting the test case, connecting to the fixture database, loading 42 fixtures, running the assertions, tearing the fixture down again; "
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bench\">\n")
	for s := range 1000 {
		fmt.Fprintf(&b, "<testsuite name=\"pkg/module%04d\" tests=\"20\" time=\"1.5\">\n", s)
		for t := range 20 {
			n := s*20 + t
			fmt.Fprintf(&b, "<testcase classname=\"pkg/module%04d\" name=\"TestBehaviour%05d/with_a_subtest_name\" time=\"0.%04d\">", s, n, n%10000)
			if n%20 == 7 {
				fmt.Fprintf(&b, "<failure message=\"expected 42, got 41\" type=\"AssertionError\">module_test.go:%d: expected 42, got 41\n%s%s</failure>", n%500, out, out)
			}
			fmt.Fprintf(&b, "<system-out>%s%s%s</system-out></testcase>\n", out, out, out)
		}
		b.WriteString("</testsuite>\n")
	}
	b.WriteString("</testsuites>\n")
	return b.Bytes()
}

func BenchmarkParse20k(b *testing.B) {
	data := big20k()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("big.xml", data, Options{TrimOutput: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadTree20kEncodingXML is the baseline of BenchmarkParse20k:
// the same file read with encoding/xml only (as before the scanner).
func BenchmarkReadTree20kEncodingXML(b *testing.B) {
	data := big20k()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := readTreeXML("big.xml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadTree20k reads the same file with the scanner.
func BenchmarkReadTree20k(b *testing.B) {
	data := big20k()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := readTree("big.xml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDecode20k(b *testing.B) {
	r, err := Parse("big.xml", big20k(), Options{TrimOutput: 1000})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		data, _ := json.Marshal(r)
		if _, err := Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMerge20k(b *testing.B) {
	r, err := Parse("big.xml", big20k(), Options{TrimOutput: 1000})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Merge(r)
	}
}
