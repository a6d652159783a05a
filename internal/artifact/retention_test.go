package artifact

import (
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
)

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		glob, path string
		want       bool
	}{
		{"**", "a.txt", true},
		{"/**/*", "dir/a.txt", true},
		{"**", "a/b/c", true},
		{"*.txt", "a.txt", true},
		{"*.txt", "dir/a.txt", false},
		{"logs/**", "logs/x/y.log", true},
		{"logs/**", "other/logs/y.log", false},
		{"**/*.log", "a/b/c.log", true},
		{"**/*.log", "c.log", true},
		{"a/?.txt", "a/b.txt", true},
		{"a/?.txt", "a/bc.txt", false},
	} {
		if got := MatchGlob(tc.glob, tc.path); got != tc.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tc.glob, tc.path, got, tc.want)
		}
	}
}

func TestRetentionRuleValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    RetentionRule
		want string
	}{
		{"ok", RetentionRule{"job", "**", time.Hour}, ""},
		{"scope", RetentionRule{"pipeline", "**", time.Hour}, `scope "pipeline"`},
		{"empty glob", RetentionRule{"job", "/", time.Hour}, "glob"},
		{"bad glob", RetentionRule{"job", "[", time.Hour}, "syntax error"},
		{"age", RetentionRule{"job", "**", time.Second}, "at least 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	if d, err := ParseAge("7d"); err != nil || d != 7*24*time.Hour {
		t.Errorf("ParseAge(7d) = %v %v", d, err)
	}
	if _, err := ParseAge("-1d"); err == nil {
		t.Error("ParseAge(-1d) accepted")
	}
}

func TestSweep(t *testing.T) {
	dir, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	s := New(dir)
	ctx := t.Context()
	keys := []string{
		"artifacts/p/job/j1/logs/a.log",
		"artifacts/p/job/j1/bin/app",
		"artifacts/p/workflow/w1/logs/a.log",
		"artifacts/p/project/p/release.txt",
		"artifacts/other/job/j9/logs/a.log",
	}
	for _, k := range keys {
		if _, err := dir.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	rules := []RetentionRule{
		{Scope: "job", Glob: "logs/**", MaxAge: time.Hour},
		{Scope: "job", Glob: "**", MaxAge: 48 * time.Hour},
		{Scope: "project", Glob: "**", MaxAge: time.Hour},
	}
	// Nothing is old enough yet.
	if n, err := s.Sweep(ctx, "p", rules, time.Now()); err != nil || n != 0 {
		t.Fatalf("sweep now = %d %v, want 0", n, err)
	}
	// Two hours on: job logs (first rule) and the project's artifact go;
	// the job's binary (second rule: 48h), the workflow's (no rule) and
	// another project's stay.
	if n, err := s.Sweep(ctx, "p", rules, time.Now().Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("sweep in 2h = %d %v, want 2", n, err)
	}
	var left []string
	for info, err := range dir.List(ctx, "artifacts/") {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, info.Key)
	}
	want := "artifacts/other/job/j9/logs/a.log artifacts/p/job/j1/bin/app artifacts/p/workflow/w1/logs/a.log"
	if got := strings.Join(left, " "); got != want {
		t.Errorf("left = %s\nwant   %s", got, want)
	}
}
