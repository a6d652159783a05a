package when

import (
	"strings"
	"testing"
)

func TestMatchAutoPromoteOn(t *testing.T) {
	passedOn := func(branches ...string) []AutoPromoteRule {
		return []AutoPromoteRule{{Result: "passed", Branch: branches}}
	}
	tests := []struct {
		name  string
		rules []AutoPromoteRule
		in    Input
		want  bool
	}{
		// Rules from the corpus.
		{"corpus/master-on-master", passedOn("master"), Input{Branch: "master", Result: "passed"}, true},
		{"corpus/master-failed", passedOn("master"), Input{Branch: "master", Result: "failed"}, false},
		{"corpus/master-on-dev", passedOn("master"), Input{Branch: "dev", Result: "passed"}, false},
		{"corpus/master-is-unanchored", passedOn("master"), Input{Branch: "old-master-2", Result: "passed"}, true},
		{"corpus/anchored", passedOn("^master$"), Input{Branch: "old-master-2", Result: "passed"}, false},
		{"corpus/anchored-hit", passedOn("^master$"), Input{Branch: "master", Result: "passed"}, true},
		{"corpus/refs-tags-on-tag", passedOn("^refs/tags/v*"), Input{Tag: "v1.2.0", Result: "passed"}, true},
		{"corpus/refs-tags-on-branch", passedOn("^refs/tags/v*"), Input{Branch: "v1", Result: "passed"}, false},
		{"corpus/refs-tags-failed", passedOn("^refs/tags/v*"), Input{Tag: "v1.2.0", Result: "failed"}, false},

		// Tags match by full ref or by name.
		{"tag/by-name", passedOn("^v\\d"), Input{Tag: "v2", Result: "passed"}, true},
		{"tag/by-ref", passedOn("^refs/tags/release-"), Input{Tag: "release-1", Result: "passed"}, true},
		{"tag/branch-pattern", passedOn("^master$"), Input{Tag: "master", Result: "passed"}, true},

		// Other rule parts.
		{"no-branch/any-ref", []AutoPromoteRule{{Result: "passed"}}, Input{Branch: "anything", Result: "passed"}, true},
		{"no-branch/pull-request", []AutoPromoteRule{{Result: "passed"}}, Input{PullRequest: "7", Result: "passed"}, true},
		{"branch/pull-request-has-no-branch", passedOn(".*"), Input{PullRequest: "7", Result: "passed"}, false},
		{"result-reason/equal", []AutoPromoteRule{{Result: "failed", ResultReason: "test"}}, Input{Branch: "x", Result: "failed", ResultReason: "test"}, true},
		{"result-reason/differs", []AutoPromoteRule{{Result: "failed", ResultReason: "test"}}, Input{Branch: "x", Result: "failed", ResultReason: "timeout"}, false},
		{"result/case-sensitive", []AutoPromoteRule{{Result: "Passed"}}, Input{Branch: "x", Result: "passed"}, false},
		{"result/empty-never-matches", []AutoPromoteRule{{}}, Input{Branch: "x", Result: "passed"}, false},
		{"any-of-branches", passedOn("^release/", "^main$"), Input{Branch: "main", Result: "passed"}, true},
		{"any-of-rules", []AutoPromoteRule{{Result: "failed"}, {Result: "passed", Branch: []string{"dev"}}}, Input{Branch: "dev", Result: "passed"}, true},
		{"no-rules", nil, Input{Branch: "dev", Result: "passed"}, false},
		{"lookahead", passedOn("^(?!wip/)"), Input{Branch: "wip/x", Result: "passed"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MatchAutoPromoteOn(tc.rules, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("MatchAutoPromoteOn(%+v, %+v) = %v, want %v", tc.rules, tc.in, got, tc.want)
			}
		})
	}
}

func TestMatchAutoPromoteOnInvalidRegex(t *testing.T) {
	// The bad pattern is in a rule that would not be reached: still an error.
	rules := []AutoPromoteRule{{Result: "passed"}, {Result: "passed", Branch: []string{"ok", "("}}}
	_, err := MatchAutoPromoteOn(rules, Input{Branch: "master", Result: "passed"})
	if err == nil || !strings.HasPrefix(err.Error(), "auto_promote_on[1].branch: invalid regular expression '('") {
		t.Errorf("error = %v", err)
	}
}
