package pipeline

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/batonci/baton/internal/testenv/probe"
)

// corpusDir finds shared/corpus (see findCorpus). It skips the test when
// the corpus is absent, unless CI=true.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	if dir, ok := findCorpus(); ok {
		return dir
	}
	probe.Missing(tb, "shared/corpus not found beside any parent of the working directory")
	return ""
}

// findCorpus looks for shared/corpus beside the working directory and each
// of its parents: in a checkout the repository sits next to shared/.
func findCorpus() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		c := filepath.Join(dir, "shared", "corpus")
		if _, err := os.Stat(filepath.Join(c, "INDEX.md")); err == nil {
			return c, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// corpusEntry is one row of shared/corpus/INDEX.md.
type corpusEntry struct {
	file   string // name in the corpus directory
	path   string // path in its repository, e.g. .semaphore/semaphore.yml
	schema string // "valid", "n/a" or "INVALID: <path>: <reason>"
}

func readIndex(tb testing.TB, dir string) []corpusEntry {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "INDEX.md"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var entries []corpusEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 6 || !strings.Contains(cells[1], "/") {
			continue
		}
		repo := strings.TrimSpace(cells[1])
		path := strings.TrimSpace(cells[2])
		entries = append(entries, corpusEntry{
			file:   strings.ReplaceAll(repo, "/", "__") + "__" + strings.TrimPrefix(path, ".semaphore/"),
			path:   path,
			schema: strings.TrimSpace(cells[4]),
		})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(entries) == 0 {
		tb.Fatal("INDEX.md lists no files")
	}
	return entries
}

// acceptedInvalid lists corpus files that Semaphore's schema rejects but
// Baton deliberately accepts, with the reason.
var acceptedInvalid = map[string]string{
	// docs/semaphore.md §1.2: the top-level `parameters:` list is a known extension;
	// Baton accepts it into Pipeline.Parameters.
	"superplanehq__superplane__release.yml": "top-level parameters extension",
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	entries := readIndex(t, dir)
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.ContainsFunc(entries, func(e corpusEntry) bool { return e.file == filepath.Base(f) }) {
			t.Errorf("%s is not listed in INDEX.md", filepath.Base(f))
		}
	}
	passed := 0
	for _, e := range entries {
		ok := t.Run(e.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, e.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, opts := range []Options{{}, {CheckCondition: fakeCheck}} {
				p, diags := ParseWith(e.path, src, opts)
				checkCorpusResult(t, e, src, p, diags)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("%d of %d corpus files behave as INDEX.md says", passed, len(entries))
}

func checkCorpusResult(t *testing.T, e corpusEntry, src []byte, p *Pipeline, diags Diagnostics) {
	t.Helper()
	switch {
	case e.schema == "valid" || acceptedInvalid[e.file] != "":
		if len(diags) > 0 {
			t.Errorf("want no diagnostics, got:\n%s", diags.Format(false))
		}
		if p == nil || len(p.Blocks) == 0 {
			t.Errorf("want a pipeline with blocks, got %+v", p)
		}
	case e.schema == "n/a":
		if len(diags) != 1 || !strings.Contains(diags[0].Message, "not a pipeline") {
			t.Errorf("want one \"not a pipeline\" diagnostic, got:\n%s", diags.Format(false))
		}
	case strings.HasPrefix(e.schema, "INVALID: "):
		wantLine := reasonLine(t, src, strings.TrimPrefix(e.schema, "INVALID: "))
		if !slices.ContainsFunc(diags, func(d Diagnostic) bool { return d.Pos.Line == wantLine }) {
			t.Errorf("want a diagnostic on line %d (%s), got:\n%s", wantLine, e.schema, diags.Format(false))
		}
	default:
		t.Fatalf("unknown schema column %q", e.schema)
	}
}

var unexpectedKeyRE = regexp.MustCompile(`\('([^']+)' was unexpected\)`)

// reasonLine finds the line a JSON-schema error of INDEX.md refers to:
// "<root>: ..." or "blocks/0/task/prologue: ... ('always' was unexpected)".
func reasonLine(t *testing.T, src []byte, reason string) int {
	t.Helper()
	path, msg, _ := strings.Cut(reason, ": ")
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Content[0]
	if path != "<root>" {
		for _, step := range strings.Split(path, "/") {
			n = child(t, n, step)
		}
	}
	if m := unexpectedKeyRE.FindStringSubmatch(msg); m != nil {
		return childKey(t, n, m[1]).Line
	}
	return n.Line
}

func child(t *testing.T, n *yaml.Node, step string) *yaml.Node {
	t.Helper()
	if i, err := strconv.Atoi(step); err == nil && n.Kind == yaml.SequenceNode {
		return n.Content[i]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == step {
			return n.Content[i+1]
		}
	}
	t.Fatalf("no %q in node at line %d", step, n.Line)
	return nil
}

func childKey(t *testing.T, n *yaml.Node, key string) *yaml.Node {
	t.Helper()
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	t.Fatalf("no key %q in node at line %d", key, n.Line)
	return nil
}
