package coverage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The parse of big reports, each against a baseline on the same file in
// the same run: wc -l (reading the bytes, no parsing) and, for the Go
// profile, go tool cover -func (Go's own reader of profiles, which also
// reads the sources to find each function).
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/coverage/

// bigLCOV is an LCOV tracefile of 1,000 files of 100 measured lines
// (about 104,000 lines), shaped like istanbul's.
func bigLCOV() []byte {
	var b bytes.Buffer
	for f := range 1000 {
		fmt.Fprintf(&b, "TN:\nSF:src/module%04d/index.js\nFN:1,main\nFNDA:3,main\nFNF:1\nFNH:1\n", f)
		for l := 1; l <= 100; l++ {
			fmt.Fprintf(&b, "DA:%d,%d\n", l*2, (f*l)%4)
		}
		b.WriteString("LF:100\nLH:75\nBRF:0\nBRH:0\nend_of_record\n")
	}
	return b.Bytes()
}

// bigGoModule writes a module of 700 files of 48 small functions and
// the count profile of its 100,800 blocks (three per function), as go
// test -coverprofile writes it, and returns the profile's path.
func bigGoModule(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/bench\n\ngo 1.22\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "p"), 0o755); err != nil {
		tb.Fatal(err)
	}
	var prof bytes.Buffer
	prof.WriteString("mode: count\n")
	for f := range 700 {
		var src bytes.Buffer
		src.WriteString("package p\n\n")
		line := 3
		name := fmt.Sprintf("f%04d.go", f)
		for fn := range 48 {
			// func fNNNN_MM(a int) int {
			// 	if a > 0 {
			// 		return a
			// 	}
			// 	return -a
			// }
			fmt.Fprintf(&src, "func f%04d_%02d(a int) int {\n\tif a > 0 {\n\t\treturn a\n\t}\n\treturn -a\n}\n\n", f, fn)
			n := (f + fn) % 3
			path := "example.com/bench/p/" + name
			fmt.Fprintf(&prof, "%s:%d.27,%d.12 1 %d\n", path, line, line+1, n)
			fmt.Fprintf(&prof, "%s:%d.12,%d.3 1 %d\n", path, line+1, line+3, n%2)
			fmt.Fprintf(&prof, "%s:%d.2,%d.11 1 %d\n", path, line+4, line+4, n)
			line += 7
		}
		if err := os.WriteFile(filepath.Join(dir, "p", name), src.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	p := filepath.Join(dir, "c.out")
	if err := os.WriteFile(p, prof.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func benchParse(b *testing.B, name string, data []byte) {
	b.SetBytes(int64(len(data)))
	var r Report
	for b.Loop() {
		var err error
		if r, err = Parse(name, data, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bytes.Count(data, []byte("\n"))), "lines")
	b.ReportMetric(r.Totals().Percent(), "%covered")
}

func benchExec(b *testing.B, dir string, name string, args ...string) {
	if _, err := exec.LookPath(name); err != nil {
		b.Skipf("no %s", name)
	}
	for b.Loop() {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
}

func BenchmarkParseLCOV100k(b *testing.B) {
	data := bigLCOV()
	f := filepath.Join(b.TempDir(), "lcov.info")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("baton", func(b *testing.B) { benchParse(b, "lcov.info", data) })
	b.Run("baseline-wc-l", func(b *testing.B) { benchExec(b, "", "wc", "-l", f) })
}

func BenchmarkParseGo100k(b *testing.B) {
	f := bigGoModule(b)
	data, err := os.ReadFile(f)
	if err != nil {
		b.Fatal(err)
	}
	// The same total as go tool cover -func, on this profile too.
	if _, err := exec.LookPath("go"); err == nil {
		cmd := exec.Command("go", "tool", "cover", "-func=c.out")
		cmd.Dir = filepath.Dir(f)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("go tool cover: %v\n%s", err, out)
		}
		r, err := Parse("c.out", data, "")
		if err != nil {
			b.Fatal(err)
		}
		if want := fmt.Sprintf("(statements)\t%.1f%%", r.Totals().Percent()); !bytes.Contains(out, []byte(want)) {
			b.Fatalf("go tool cover -func's total is not %q:\n%s", want, out[max(0, len(out)-200):])
		}
	}
	b.Run("baton", func(b *testing.B) { benchParse(b, "c.out", data) })
	b.Run("baton-with-json", func(b *testing.B) {
		// What the job does: parse, then encode for the job service.
		for b.Loop() {
			r, err := Parse("c.out", data, "")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-wc-l", func(b *testing.B) { benchExec(b, "", "wc", "-l", f) })
	b.Run("baseline-go-tool-cover-func", func(b *testing.B) {
		benchExec(b, filepath.Dir(f), "go", "tool", "cover", "-func=c.out")
	})
}
