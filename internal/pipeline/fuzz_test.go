package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzParse checks that no input makes the parser panic and that every
// diagnostic is positioned and says something. It is seeded with the corpus
// (when present) and the golden test inputs.
func FuzzParse(f *testing.F) {
	if dir, ok := findCorpus(); ok {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
		for _, file := range files {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	archives, _ := filepath.Glob(filepath.Join("testdata", "parse", "*.txtar"))
	for _, file := range archives {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, af := range txtar.Parse(data).Files {
			if strings.HasSuffix(af.Name, ".yml") {
				f.Add(af.Data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := ParseWith(".semaphore/semaphore.yml", src, Options{CheckCondition: fakeCheck})
		checkDiagnostics(t, diags)
		if p != nil {
			checkDiagnostics(t, p.Warnings)
		}
		// The same bytes as a task file, and loaded with references to
		// themselves.
		_, diags = ParseTask(".semaphore/task.yml", src)
		checkDiagnostics(t, diags)
		fsys := fstest.MapFS{".semaphore/semaphore.yml": {Data: src}, ".semaphore/task.yml": {Data: src}}
		_, diags = Load(fsys, ".semaphore/semaphore.yml")
		checkDiagnostics(t, diags)
		_ = diags.Format(true)
	})
}

func checkDiagnostics(t *testing.T, diags Diagnostics) {
	t.Helper()
	for _, d := range diags {
		if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Message == "" || d.Pos.File == "" {
			t.Fatalf("malformed diagnostic %+v", d)
		}
	}
}
