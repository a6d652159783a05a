package coverage

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTestdata(t *testing.T) {
	tests := []struct {
		file   string
		format Format
		files  map[string]Totals
	}{
		{"coveragepy.xml", Cobertura, map[string]Totals{"app/__init__.py": {1, 1}, "app/core.py": {11, 8}}},
		// The method lines repeat the class's; the inner class shares the file.
		{"jacoco-cobertura.xml", Cobertura, map[string]Totals{"com/example/shop/Cart.java": {8, 5}}},
		{"nyc.info", LCOV, map[string]Totals{"src/cart.js": {10, 8}, "src/util/format.js": {4, 3}}},
		{"go-set.out", Go, map[string]Totals{"example.com/shop/cart.go": {5, 3}, "example.com/shop/price.go": {2, 2}}},
		// Two test binaries (-coverpkg) list every block: counted once,
		// covered when either covered it.
		{"go-atomic-coverpkg.out", Go, map[string]Totals{"example.com/shop/cart/cart.go": {5, 3}, "example.com/shop/price/price.go": {3, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := Detect(data); got != tt.format {
				t.Errorf("Detect = %q, want %q", got, tt.format)
			}
			r, err := Parse(tt.file, data, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != tt.format {
				t.Errorf("format = %q, want %q", r.Format, tt.format)
			}
			got := map[string]Totals{}
			for _, f := range r.Files {
				got[f.Path] = f.Totals()
			}
			if diff := cmp.Diff(tt.files, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			// The report survives its JSON.
			data, err = json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, back); diff != "" {
				t.Errorf("JSON round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data string
		format     Format
		want       string
	}{
		{"empty", "", "", "r.txt: not a coverage report"},
		{"text", "hello\n", "", "r.txt: not a coverage report"},
		{"unknown format", "mode: set\n", "jacoco", `r.txt: unknown format "jacoco"`},
		{"lcov DA", "TN:\nSF:a.js\nDA:1,1\nDA:x,1\n", "", `r.txt:4: malformed DA: "DA:x,1"`},
		{"lcov DA without SF", "TN:\nDA:1,1\n", "", "r.txt:2: DA: outside a file's record"},
		{"lcov garbage", "SF:a.js\nDA:1,1\nthis is not lcov\n", "", `r.txt:3: not an LCOV record`},
		{"go no mode", "a.go:1.1,2.2 1 1\n", Go, `r.txt:1: a Go cover profile starts with "mode:`},
		{"go bad mode", "mode: sometimes\n", "", `r.txt:1: unknown mode "sometimes"`},
		{"go mixed modes", "mode: set\nmode: count\n", "", `r.txt:2: mode count after mode set`},
		{"go bad block", "mode: set\na.go:1.1,2.2 1 1\na.go:3.x,4.2 1 1\n", "", `r.txt:3: malformed block in "a.go:3.x,4.2 1 1"`},
		{"go bad count", "mode: set\na.go:1.1,2.2 1 -1\n", "", `r.txt:2: malformed count`},
		{"go inconsistent", "mode: count\na.go:1.1,2.2 1 1\na.go:1.1,2.2 2 1\n", "", `r.txt:3: inconsistent statement count`},
		{"go backwards", "mode: set\na.go:5.1,2.2 1 1\n", "", `r.txt:2: block ends before it starts`},
		{"go empty", "mode: set", "", ""}, // an empty profile is a report of nothing
		{"xml syntax", "<coverage>\n<packages>\n<package>\n</coverage>\n", "", "r.txt:4: malformed XML"},
		{"xml other root", "<?xml version=\"1.0\"?>\n<testsuites/>\n", "", "r.txt:2:14: <testsuites> is not a Cobertura report"},
		{"xml bad line", "<coverage><packages><package><classes>\n<class filename=\"a.py\"><lines>\n<line number=\"1\" hits=\"lots\"/>", "", `r.txt:3:31: <line number="1" hits="lots">`},
		{"xml no filename", "<coverage><packages><package><classes>\n<class name=\"A\">", "", `r.txt:2:17: <class> has no filename`},
		{"xml empty", "<?xml version=\"1.0\"?>", Cobertura, "r.txt: no <coverage> element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.txt", []byte(tt.data), tt.format)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want a *ParseError", err, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q: not one line", err)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a, err := Parse("a", []byte("SF:x.js\nDA:1,1\nDA:2,0\nDA:3,0\nend_of_record\nSF:y.js\nDA:1,0\nend_of_record\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b", []byte("SF:x.js\nDA:2,5\nDA:4,0\nend_of_record\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	m := Merge(a, b)
	if got, want := m.Totals(), (Totals{Lines: 5, Covered: 2}); got != want {
		t.Errorf("merged totals = %+v, want %+v (x.js lines 1-4 with 1 and 2 covered, y.js line 1)", got, want)
	}
	if m.Format != LCOV {
		t.Errorf("format = %q, want lcov", m.Format)
	}
	g, err := Parse("g", []byte("mode: set\nz.go:1.1,2.2 3 1\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := Merge(a, g).Format; got != Mixed {
		t.Errorf("format of lcov+go = %q, want mixed", got)
	}
	if got := Merge().Totals(); got != (Totals{}) || got.Percent() != 0 {
		t.Errorf("empty merge = %+v", got)
	}
}

// TestGoProfileMatchesGoToolCover runs go test -coverprofile on a small
// module of two packages with -coverpkg (so the profile holds each block
// twice) and checks that the total is the one go tool cover -func prints.
func TestGoProfileMatchesGoToolCover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/shop\n\ngo 1.22\n",
		"price/price.go": `package price

func Price(cents int) string {
	if cents < 0 {
		return "refund"
	}
	if cents == 0 {
		return "free"
	}
	return "paid"
}

func Unused(a, b int) int {
	s := a + b
	return s * 2
}
`,
		"price/price_test.go": `package price

import "testing"

func TestPrice(t *testing.T) {
	if Price(0) != "free" {
		t.Fatal("free")
	}
}
`,
		"cart/cart.go": `package cart

import "example.com/shop/price"

func Label(n int) string {
	for i := 0; i < n; i++ {
		n--
	}
	return price.Price(n)
}
`,
		"cart/cart_test.go": `package cart

import "testing"

func TestLabel(t *testing.T) {
	if Label(-3) != "refund" {
		t.Fatal(Label(-3))
	}
}
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, mode := range []string{"set", "count", "atomic"} {
		t.Run(mode, func(t *testing.T) {
			run(t, "test", "-covermode="+mode, "-coverpkg=./...", "-coverprofile=c.out", "./...")
			data, err := os.ReadFile(filepath.Join(dir, "c.out"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse("c.out", data, "")
			if err != nil {
				t.Fatal(err)
			}
			funcs := run(t, "tool", "cover", "-func=c.out")
			m := regexp.MustCompile(`total:\s+\(statements\)\s+([0-9.]+)%`).FindStringSubmatch(funcs)
			if m == nil {
				t.Fatalf("no total in go tool cover -func:\n%s", funcs)
			}
			want, _ := strconv.ParseFloat(m[1], 64)
			got, _ := strconv.ParseFloat(strconv.FormatFloat(r.Totals().Percent(), 'f', 1, 64), 64)
			if got != want {
				t.Errorf("percent = %.1f, go tool cover -func says %.1f\n%s", got, want, funcs)
			}
			if strings.Count(string(data), "price/price.go:3.") < 2 {
				t.Logf("profile has no duplicate blocks (go merged them):\n%s", data)
			}
		})
	}
}
