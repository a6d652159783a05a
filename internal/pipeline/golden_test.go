package pipeline

import (
	"bytes"
	"flag"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/parse/*.txtar")

// TestGolden runs every testdata/parse/*.txtar archive. The archive's file
// named pipeline.yml (in any directory) is loaded with LoadWith from a file
// system holding all the archive's files, with fakeCheck as the condition
// checker; its `want` section is the expected outcome: the diagnostics, one
// per line, or when there are none the dump of the pipeline.
//
// Lines of the archive comment adjust the input:
//
//	parse             use ParseWith instead of LoadWith (files are not read)
//	crlf              convert pipeline.yml's line endings to CRLF
//	no-final-newline  remove pipeline.yml's final newline
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "parse", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/parse")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ar := txtar.Parse(data)
			got := runGolden(t, ar)
			want := -1
			for i, f := range ar.Files {
				if f.Name == "want" {
					want = i
				}
			}
			if *update {
				if want < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					want = len(ar.Files) - 1
				}
				ar.Files[want].Data = []byte(got)
				if err := os.WriteFile(file, txtar.Format(ar), 0o666); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want < 0 {
				t.Fatalf("no want section; run go test -update")
			}
			if diff := cmp.Diff(string(ar.Files[want].Data), got); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// runGolden loads the archive's pipeline and renders the outcome.
func runGolden(t *testing.T, ar *txtar.Archive) string {
	t.Helper()
	flags := map[string]bool{}
	for _, l := range strings.Split(string(ar.Comment), "\n") {
		flags[strings.TrimSpace(l)] = true
	}
	fsys := fstest.MapFS{}
	main := ""
	for _, f := range ar.Files {
		if f.Name == "want" {
			continue
		}
		data := f.Data
		if path.Base(f.Name) == "pipeline.yml" {
			main = f.Name
			if flags["crlf"] {
				data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			}
			if flags["no-final-newline"] {
				data = bytes.TrimRight(data, "\r\n")
			}
		}
		fsys[f.Name] = &fstest.MapFile{Data: data}
	}
	if main == "" {
		t.Fatal("archive has no pipeline.yml")
	}
	opts := Options{CheckCondition: fakeCheck}
	var p *Pipeline
	var diags Diagnostics
	if flags["parse"] {
		p, diags = ParseWith(main, fsys[main].Data, opts)
	} else {
		p, diags = LoadWith(fsys, main, opts)
	}
	for _, d := range diags {
		if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Message == "" {
			t.Errorf("malformed diagnostic %+v", d)
		}
		if f, ok := fsys[d.Pos.File]; ok {
			lines := strings.Split(string(f.Data), "\n")
			if want := strings.TrimSuffix(lines[d.Pos.Line-1], "\r"); d.Source != want {
				t.Errorf("diagnostic %v: Source = %q, want %q", d, d.Source, want)
			}
		}
	}
	if len(diags) > 0 {
		return diags.Error() + "\n"
	}
	if p == nil {
		t.Fatal("no pipeline and no diagnostics")
	}
	return dump(p, main)
}
