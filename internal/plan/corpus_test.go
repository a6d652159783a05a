package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/testenv/probe"
)

// findCorpus looks for shared/corpus beside the working directory or one of
// its parents (a checkout sits next to shared/).
func findCorpus(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		c := filepath.Join(dir, "shared", "corpus")
		if _, err := os.Stat(filepath.Join(c, "INDEX.md")); err == nil {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			probe.Missing(t, "shared/corpus not found")
		}
		dir = parent
	}
}

// TestCorpusPlans compiles every valid real-world pipeline of the corpus
// for a push to master, a tag and a pull request: each must plan without
// error and give at least one job.
func TestCorpusPlans(t *testing.T) {
	dir := findCorpus(t)
	index, err := os.ReadFile(filepath.Join(dir, "INDEX.md"))
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]plan.Event{
		"push":   {RefType: "branch", Branch: "master", SHA: "abc", DefaultBranch: "master"},
		"tag":    {RefType: "tag", Tag: "v1.0.0", SHA: "abc", DefaultBranch: "master"},
		"pr":     {RefType: "pull-request", Branch: "master", SHA: "abc", DefaultBranch: "master", PR: &plan.PullRequest{Number: "7", HeadBranch: "feature"}},
		"branch": {RefType: "branch", Branch: "feature/x", SHA: "abc", DefaultBranch: "master"},
	}
	planned := 0
	for _, line := range strings.Split(string(index), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || strings.TrimSpace(cells[4]) != "valid" {
			continue
		}
		repo := strings.ReplaceAll(strings.TrimSpace(cells[1]), "/", "__")
		file := strings.TrimPrefix(strings.TrimSpace(cells[2]), ".semaphore/")
		name := repo + "__" + file
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		t.Run(name, func(t *testing.T) {
			p, diags := pipeline.ParseWith(".semaphore/"+file, src, plan.LoadOptions())
			if len(diags) > 0 {
				t.Fatalf("valid corpus file rejected:\n%s", diags.Error())
			}
			for ev, event := range events {
				g, err := plan.Compile(p, plan.Input{
					Event:        event,
					PipelineFile: ".semaphore/" + file,
					Params:       map[string]string{},
					ChangedFiles: func(string) ([]string, error) { return []string{"README.md"}, nil },
				})
				if err != nil {
					t.Fatalf("%s: %v", ev, err)
				}
				jobs := 0
				for _, b := range g.Blocks {
					jobs += len(b.Jobs)
				}
				if jobs == 0 {
					t.Errorf("%s: no jobs", ev)
				}
			}
		})
		planned++
	}
	if planned < 50 {
		t.Errorf("planned %d corpus files, want every valid one (at least 50)", planned)
	}
}
