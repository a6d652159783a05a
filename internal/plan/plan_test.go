package plan_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// testInput is the "input" section of a golden case: the event, parameter
// values, and the files change_in sees per git range.
type testInput struct {
	Event   plan.Event          `json:"event"`
	Params  map[string]string   `json:"params"`
	Changes map[string][]string `json:"changes"`
}

// TestGolden compiles every testdata/*.txtar case: the files of the archive
// form the repository, .semaphore/semaphore.yml is the pipeline, the
// "input" section (JSON) the event, and "want" the expected graph or
// diagnostics.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fsys := fstest.MapFS{}
			var in testInput
			wantIdx := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "input":
					if err := json.Unmarshal(f.Data, &in); err != nil {
						t.Fatalf("input: %v", err)
					}
				case "want":
					wantIdx = i
				default:
					fsys[f.Name] = &fstest.MapFile{Data: f.Data}
				}
			}
			if in.Event.RefType == "" {
				in.Event.RefType, in.Event.Branch, in.Event.SHA = "branch", "master", "abc123"
			}
			got := compile(fsys, in)
			if *update {
				if wantIdx < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					wantIdx = len(ar.Files) - 1
				}
				ar.Files[wantIdx].Data = []byte(got)
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if wantIdx < 0 {
				t.Fatal("no want section; run go test -update")
			}
			if diff := cmp.Diff(string(ar.Files[wantIdx].Data), got); diff != "" {
				t.Errorf("graph mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func compile(fsys fstest.MapFS, in testInput) string {
	const file = ".semaphore/semaphore.yml"
	p, diags := pipeline.LoadWith(fsys, file, plan.LoadOptions())
	if len(diags) > 0 {
		return "load error:\n" + diags.Error() + "\n"
	}
	g, err := plan.Compile(p, plan.Input{
		Event:        in.Event,
		PipelineFile: file,
		Params:       in.Params,
		ChangedFiles: func(rng string) ([]string, error) {
			files, ok := in.Changes[rng]
			if !ok {
				return nil, fmt.Errorf("no changes recorded for range %q", rng)
			}
			return files, nil
		},
	})
	if err != nil {
		return "compile error:\n" + err.Error() + "\n"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.Encode(g)
	return buf.String()
}
