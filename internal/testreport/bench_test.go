package testreport

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"
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
	b.ReportAllocs()
	defer reportCPU(b)()
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
	defer reportCPU(b)()
	for b.Loop() {
		Merge(r)
	}
}

// BenchmarkHandOverBefore20k is the baseline of BenchmarkHandOver20k: the
// report's way from the job to the stored object before the hand-over was
// gzipped JSON: JSON in the job, decoded, merged, encoded and gzipped on
// the server.
func BenchmarkHandOverBefore20k(b *testing.B) {
	r := Merge(must(Parse("big.xml", big20k(), Options{TrimOutput: 1000})))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		data, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		got, err := Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		var stored bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&stored, gzip.BestSpeed)
		if err := json.NewEncoder(zw).Encode(Merge(got)); err != nil {
			b.Fatal(err)
		}
		zw.Close()
	}
}

// BenchmarkHandOver20k is the same way now: gzipped JSON made in the job
// (Compress), checked on the server (Receive) and stored as it came.
func BenchmarkHandOver20k(b *testing.B) {
	r := Merge(must(Parse("big.xml", big20k(), Options{TrimOutput: 1000})))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		data, err := Compress(r)
		if err != nil {
			b.Fatal(err)
		}
		got, err := Receive(bytes.NewReader(data))
		if err != nil || got.Gzip == nil {
			b.Fatalf("received as sent: %v, %v", got.Gzip != nil, err)
		}
	}
}

// BenchmarkCompress20k is the job's part of BenchmarkHandOver20k.
func BenchmarkCompress20k(b *testing.B) {
	r := Merge(must(Parse("big.xml", big20k(), Options{TrimOutput: 1000})))
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := Compress(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceive20k is the server's part of BenchmarkHandOver20k.
func BenchmarkReceive20k(b *testing.B) {
	data := must(Compress(Merge(must(Parse("big.xml", big20k(), Options{TrimOutput: 1000})))))
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := Receive(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the processor time (user and system, all threads,
// the garbage collector's included) per iteration from now to its stop's
// call: unlike the time per iteration, it hardly changes with the load of
// a shared machine.
func reportCPU(b *testing.B) (stop func()) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
