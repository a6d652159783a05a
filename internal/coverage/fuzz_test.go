package coverage

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that failures are
// one *ParseError, and that a parsed report survives its JSON with the
// same totals, never more covered than measured.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("mode: count\na.go:1.2,3.4 5 6\n"))
	f.Add([]byte("mode: atomic\n\xff:1.0,1.0 1 0")) // a path JSON cannot keep as it is
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("f", data, "")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T", err, err)
			}
			return
		}
		tot := r.Totals()
		if tot.Covered > tot.Lines || tot.Covered < 0 {
			t.Fatalf("totals %+v", tot)
		}
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		if back.Totals() != tot || Merge(back, r).Totals() != tot {
			t.Fatalf("totals changed: %+v, %+v", back.Totals(), tot)
		}
	})
}
