package when

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(tb testing.TB, src string) Expr {
	tb.Helper()
	e, err := Parse(src)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", src, err)
	}
	return e
}

// Inputs for the table below.
var (
	onMaster   = Input{Branch: "master"}
	onDev      = Input{Branch: "dev"}
	onTag      = Input{Tag: "v1.2.3"}
	onPR       = Input{PullRequest: "42"}
	passedMain = Input{Branch: "master", Result: "passed", ResultReason: "test"}
	failedTag  = Input{Tag: "v1.0", Result: "failed", ResultReason: "test"}
)

// changeInStub answers change_in by its first path: true when it starts with
// "/yes".
func changeInStub(c ChangeInCall) (bool, error) {
	return len(c.Paths) > 0 && strings.HasPrefix(c.Paths[0], "/yes"), nil
}

func TestEval(t *testing.T) {
	withChangeIn := func(in Input) Input { in.ChangeIn = changeInStub; return in }
	tests := []struct {
		name string
		src  string
		in   Input
		want bool
	}{
		// See docs/semaphore.md §2.5.
		{"spec/master", spec25[0], onMaster, true},
		{"spec/v1-tag", spec25[0], Input{Tag: "v1.0"}, true},
		{"spec/v2-tag", spec25[0], Input{Tag: "v2.0"}, false},
		{"spec/dot-is-escaped", spec25[0], Input{Tag: "v1x"}, false},
		{"spec/grouped-passed", spec25[1], Input{Tag: "anything", Result: "passed"}, true},
		{"spec/grouped-failed", spec25[1], Input{Branch: "master", Result: "failed"}, false},
		{"spec/hotfix-changed", spec25[2], withChangeIn(Input{Branch: "hotfix/x"}), false},
		{"spec/change-in-list", spec25[3], withChangeIn(onDev), false},
		{"spec/pr", spec25[4], onPR, true},
		{"spec/pr-on-branch", spec25[4], onMaster, false},
		{"spec/true", spec25[5], Input{}, true},

		// Equal precedence, left to right: (a or b) and c.
		{"precedence/or-and-false", `branch = 'master' or tag = 'v1' and result = 'passed'`, Input{Branch: "master", Result: "failed"}, false},
		{"precedence/or-and-true", `branch = 'master' or tag = 'v1' and result = 'passed'`, Input{Branch: "master", Result: "passed"}, true},
		{"precedence/and-or", `false and false or true`, Input{}, true},
		{"precedence/parens", `branch = 'master' or (tag = 'v1' and result = 'passed')`, Input{Branch: "master", Result: "failed"}, true},
		{"precedence/true-or-false-and-false", `true or false and false`, Input{}, false},

		// On a pull request branch is empty, whatever the target.
		{"pr/branch-eq-empty", `branch = 'master'`, onPR, false},
		{"pr/branch-ne", `branch != 'master'`, onPR, true},
		{"pr/branch-regex", `branch =~ '.*'`, onPR, false},
		{"pr/branch-not-regex", `branch !~ '.*'`, onPR, true},
		{"pr/number", `pull_request = '42'`, onPR, true},
		{"pr/number-regex", `pull_request =~ '^4'`, onPR, true},

		// = and != are exact.
		{"eq/exact", `branch = 'master'`, onMaster, true},
		{"eq/prefix-is-not-equal", `branch = 'mast'`, onMaster, false},
		{"eq/case-sensitive", `branch = 'Master'`, onMaster, false},
		{"ne", `branch != 'master'`, onDev, true},
		{"eq/string-left", `'master' = branch`, onMaster, true},
		{"eq/string-string", `'prod' = 'prod'`, Input{}, true},
		{"ne/string-string", `'staging' != 'prod'`, Input{}, true},
		{"eq/empty-tag", `tag = 'v1'`, onMaster, false},
		{"eq/result", `result = 'passed' and result_reason = 'test'`, passedMain, true},

		// =~ is an unanchored search with PCRE syntax.
		{"regex/unanchored-middle", `branch =~ 'ast'`, onMaster, true},
		{"regex/anchored", `branch =~ '^ast'`, onMaster, false},
		{"regex/corpus-hotfix-star", `tag =~ '^hotfix*'`, Input{Tag: "hotfi"}, true},
		{"regex/corpus-live-test", `branch = 'master' OR branch =~ 'live-test' OR branch =~ 'gmail-test'`, Input{Branch: "feature/live-test-2"}, true},
		{"regex/lookahead-other", `branch =~ '^(?!master$|main$)'`, onDev, true},
		{"regex/lookahead-master", `branch =~ '^(?!master$|main$)'`, onMaster, false},
		{"regex/negative-lookahead-word", `branch =~ '^(?!.*wip)'`, Input{Branch: "feat/wip-x"}, false},
		{"regex/lookbehind", `tag =~ '(?<=release-)v\d+'`, Input{Tag: "release-v12"}, true},
		{"regex/lookbehind-miss", `tag =~ '(?<=release-)v\d+'`, Input{Tag: "v12"}, false},
		{"regex/inline-ignore-case", `branch =~ '(?i)^MASTER$'`, onMaster, true},
		{"regex/digit-class", `tag =~ '^v\d+\.\d+\.\d+$'`, onTag, true},
		{"regex/backreference", `branch =~ '^(\w)\1'`, Input{Branch: "aab"}, true},
		{"regex/not-match", `branch !~ '^release/'`, onDev, true},
		{"regex/not-match-hit", `branch !~ '^dev'`, onDev, false},
		{"regex/pattern-on-right", `'xv1' =~ tag`, Input{Tag: "^v1"}, false},
		{"regex/pattern-on-right-hit", `'v1' =~ tag`, Input{Tag: "^v1"}, true},
		{"regex/keyword-as-pattern", `'release-v1' =~ tag`, Input{Tag: "v\\d"}, true},

		// An empty value never matches: =~ is false and !~ is true.
		{"empty/tag-dot-star", `tag =~ '.*'`, onMaster, false},
		{"empty/tag-not-dot-star", `tag !~ '.*'`, onMaster, true},
		{"empty/branch-empty-pattern-ok", `branch =~ '^$'`, onTag, false},
		{"empty/branch-dot-star", `branch =~ '.*'`, onMaster, true},
		{"empty/branch-not-dot-star", `branch !~ '.*'`, onMaster, false},
		{"empty/result-on-push", `result =~ 'passed'`, onMaster, false},

		// Case variants evaluate alike.
		{"case/upper", `BRANCH = 'master' AND TAG !~ '.*' OR FALSE`, onMaster, true},
		{"case/mixed-ops", `branch = 'master' AND tag = 'x' or TRUE`, onDev, true},

		// Bare values and how 'and'/'or' coerce them.
		{"bare/true", `TRUE`, Input{}, true},
		{"bare/false", `false`, Input{}, false},
		{"bare/string", `'anything'`, Input{}, true},
		{"bare/string-false", `'false'`, Input{}, false},
		{"bare/string-false-parens", `('false')`, Input{}, false},
		{"bare/string-FALSE-is-true", `'FALSE'`, Input{}, true},
		{"bare/zero", `0`, Input{}, true},
		{"bare/negative", `-1`, Input{}, false},
		{"bare/float", `0.5`, Input{}, true},
		{"bare/negative-float", `-0.5`, Input{}, false},
		{"bare/negative-zero-float", `-0.0`, Input{}, true},
		{"bare/empty-list", `[]`, Input{}, false},
		{"bare/list", `['x']`, Input{}, true},
		{"bare/empty-map", `{}`, Input{}, false},
		{"bare/map", `{a: 1}`, Input{}, true},
		{"bare/false-and", `(FALSE) AND TAG != 'v1.*'`, onTag, false},
		{"bare/string-or", `'false' or 'false'`, Input{}, false},

		// change_in as a value.
		{"fun/true", `change_in('/yes')`, withChangeIn(Input{}), true},
		{"fun/false", `change_in('/no')`, withChangeIn(Input{}), false},
		{"fun/eq-false", `change_in('/no') = false`, withChangeIn(Input{}), true},
		{"fun/eq-string-true", `change_in('/yes') = 'true'`, withChangeIn(Input{}), true},
		{"fun/ne-string-true", `change_in('/no') != 'true'`, withChangeIn(Input{}), true},
		{"fun/eq-fun", `change_in('/yes') = change_in('/yes2')`, withChangeIn(Input{}), true},
		{"fun/eq-comparison", `change_in('/yes') = branch = 'master'`, withChangeIn(onMaster), true},
		{"fun/eq-group", `change_in('/no') = (branch = 'master' or false)`, withChangeIn(onDev), true},
		{"fun/and-branch", `branch = 'master' and change_in('/yes')`, withChangeIn(onMaster), true},
		{"fun/spc-rewritten", `(branch = 'master') and false`, onMaster, false},

		// Literal comparisons.
		{"values/bool-vs-number", `change_in('/no') = 0`, withChangeIn(Input{}), false},
		{"values/bool-vs-list", `change_in('/yes') != ['true']`, withChangeIn(Input{}), true},
		{"values/bool-vs-other-string", `change_in('/yes') = 'yes'`, withChangeIn(Input{}), false},
		{"values/strings-true", `'true' = 'true'`, Input{}, true},
		{"values/branch-named-true", `branch = 'true'`, Input{Branch: "true"}, true},

		// renderedtext/when's own test matrix (test/when_test.exs), first input.
		{"upstream/1", `branch = 'master' and tag =~ 'v1.*'`, Input{Branch: "master", Tag: "v1.5", Result: "passed", ResultReason: "stopped"}, true},
		{"upstream/2", `(branch = 'master' and tag =~ 'v1.*') or result != 'passed'`, Input{Branch: "dev", Tag: "v1.5", Result: "passed"}, false},
		{"upstream/3", `branch = 'master' AND (tag =~ 'v1.*' OR result_reason != 'stopped')`, Input{Branch: "master", Tag: "v2.0", Result: "passed", ResultReason: "skipped"}, true},
		{"upstream/4", "(branch = 'master' and result != 'failed') or\n (tag =~ 'v1.*' and result = 'passed' and result_reason != 'skipped')", Input{Branch: "master", Tag: "v1.5", Result: "failed", ResultReason: "stopped"}, false},
		{"upstream/5", "(branch = 'master' and result != 'failed') or\n (tag =~ 'v1.*' and result = 'passed' and result_reason != 'skipped')", Input{Branch: "dev", Tag: "v1.5", Result: "passed", ResultReason: "stopped"}, true},

		// Corpus conditions on typical inputs.
		{"corpus/kubernetes-canary-master", `result = 'passed' and (branch = 'master' or tag =~ '^hotfix*')`, Input{Branch: "master", Result: "passed"}, true},
		{"corpus/kubernetes-canary-failed", `result = 'passed' and (branch = 'master' or tag =~ '^hotfix*')`, Input{Branch: "master", Result: "failed"}, false},
		{"corpus/simple-server-release", `(branch = 'master' AND result = 'passed') OR (tag =~ '^release-.*' AND result = 'passed')`, Input{Tag: "release-2024", Result: "passed"}, true},
		{"corpus/sem-ai-tag-failed", `tag =~ '^v.*' AND result = 'passed'`, failedTag, false},
		{"corpus/auto-cancel-pr", `branch != 'main'`, onPR, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustParse(t, tc.src)
			got, err := Eval(e, tc.in)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tc.src, err)
			}
			if got != tc.want {
				t.Errorf("Eval(%q, %+v) = %v, want %v", tc.src, tc.in, got, tc.want)
			}
			// The canonical form means the same thing.
			got2, err := Eval(mustParse(t, e.String()), tc.in)
			if err != nil || got2 != got {
				t.Errorf("Eval(%q) = %v, %v; want %v as for %q", e.String(), got2, err, got, tc.src)
			}
		})
	}
}

func TestEvalChangeInReceivesDecodedCall(t *testing.T) {
	var got []ChangeInCall
	in := Input{ChangeIn: func(c ChangeInCall) (bool, error) {
		got = append(got, ChangeInCall{Paths: slices.Clone(c.Paths), Options: c.Options})
		c.Paths[0] = "mutated" // must not leak into the parsed expression
		return true, nil
	}}
	e := mustParse(t, `change_in('/a', {exclude: '/b', on_tags: false}) and change_in(['x', 'y'], {pipeline_file: 'ignore'})`)
	for range 2 {
		if _, err := Eval(e, in); err != nil {
			t.Fatal(err)
		}
	}
	first := DefaultChangeInOptions()
	first.Exclude = []string{"/b"}
	first.OnTags = false
	second := DefaultChangeInOptions()
	second.PipelineFile = PipelineFileIgnore
	want := []ChangeInCall{
		{Paths: []string{"/a"}, Options: first},
		{Paths: []string{"x", "y"}, Options: second},
	}
	want = append(want, want...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestEvalErrors(t *testing.T) {
	errBoom := errors.New("boom")
	failing := func(ChangeInCall) (bool, error) { return false, errBoom }
	tests := []struct {
		name    string
		src     string
		in      Input
		is      error
		wantMsg string
	}{
		{"change-in-unavailable", `change_in('/lib')`, Input{}, ErrChangeInUnavailable,
			"change_in('/lib'): change_in is not available here"},
		{"change-in-unavailable-right-of-false-and", `false and change_in('/lib')`, Input{}, ErrChangeInUnavailable,
			"change_in('/lib'): change_in is not available here"},
		{"change-in-unavailable-right-of-true-or", `true or change_in('/lib')`, Input{}, ErrChangeInUnavailable,
			"change_in('/lib'): change_in is not available here"},
		{"change-in-callback-error", `branch = 'x' or change_in(['/a', '/b'])`, Input{ChangeIn: failing}, errBoom,
			"change_in(['/a', '/b']): boom"},
		{"dynamic-regex-invalid", `'x' =~ branch`, Input{Branch: "("}, nil,
			"'x' =~ branch: invalid regular expression '(': error parsing regexp: missing closing ) in `(`"},
		{"dynamic-regex-invalid-empty-value", `'x' =~ tag`, Input{Tag: "("}, nil,
			"'x' =~ tag: invalid regular expression '(': error parsing regexp: missing closing ) in `(`"},
		{"regex-on-boolean", `change_in('/a') =~ 'true'`, Input{ChangeIn: changeInStub}, nil,
			"change_in('/a') =~ 'true': the left side of =~ must be a string, not a boolean"},
		{"regex-pattern-boolean", `change_in('/a') !~ change_in('/b')`, Input{ChangeIn: changeInStub}, nil,
			"change_in('/a') !~ change_in('/b'): the pattern on the right of !~ must be a string, not a boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Eval(mustParse(t, tc.src), tc.in)
			if err == nil {
				t.Fatalf("Eval(%q) = %v, want an error", tc.src, got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Eval(%q) error %v, want one wrapping %v", tc.src, err, tc.is)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("Eval(%q) error\n got %s\nwant %s", tc.src, err, tc.wantMsg)
			}
		})
	}
}

func TestEvalNil(t *testing.T) {
	if _, err := Eval(nil, Input{}); err == nil {
		t.Error("Eval(nil) succeeded, want an error")
	}
}

func TestEvalRegexTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the regex match timeout")
	}
	// Catastrophic backtracking: the match fails with an error (timeout or
	// backtracking limit) instead of hanging.
	e := mustParse(t, `'x' =~ branch`)
	_, err := Eval(e, Input{Branch: `^(a+)+$`})
	if err != nil {
		t.Fatalf("pattern on a short value: %v", err)
	}
	e = mustParse(t, `branch =~ '^(a|aa)+$'`)
	_, err = Eval(e, Input{Branch: strings.Repeat("a", 60) + "b"})
	if err == nil {
		t.Fatal("catastrophic pattern matched without an error")
	}
	if !strings.Contains(err.Error(), "branch =~ '^(a|aa)+$': regular expression '^(a|aa)+$' on 'aaaa") {
		t.Errorf("error = %v", err)
	}
}

func TestEvalConcurrent(t *testing.T) {
	e := mustParse(t, `(branch =~ '^rel' or tag =~ 'v\d') and change_in('/yes')`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				in := Input{Branch: fmt.Sprintf("release-%d-%d", i, j), ChangeIn: changeInStub}
				if got, err := Eval(e, in); err != nil || !got {
					t.Errorf("Eval = %v, %v; want true", got, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestUses(t *testing.T) {
	tests := []struct {
		src                    string
		wantResult, wantChange bool
	}{
		{`branch = 'master'`, false, false},
		{`result = 'passed'`, true, false},
		{`RESULT_REASON != 'test'`, true, false},
		{`'passed' = result`, true, false},
		{`branch = 'x' or (tag = 'y' and result_reason = 'z')`, true, false},
		{`change_in('/lib')`, false, true},
		{`true and (false or change_in('/lib') = true)`, false, true},
		{`'result' = branch`, false, false},
		{`{result: 'x'}`, false, false},
		{`change_in('/a') = (result = 'passed')`, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			e := mustParse(t, tc.src)
			if got := UsesResult(e); got != tc.wantResult {
				t.Errorf("UsesResult = %v, want %v", got, tc.wantResult)
			}
			if got := UsesChangeIn(e); got != tc.wantChange {
				t.Errorf("UsesChangeIn = %v, want %v", got, tc.wantChange)
			}
		})
	}
	if UsesResult(nil) || UsesChangeIn(nil) || ChangeInCalls(nil) != nil {
		t.Error("helpers on a nil Expr found something")
	}
}

func TestChangeInCalls(t *testing.T) {
	e := mustParse(t, `change_in('/a') or (branch = 'x' and change_in(['b/', '../c'], {default_branch: 'main', include: '/d', branch_range: '$SEMAPHORE_GIT_COMMIT_RANGE', default_range: 'x...y'}))`)
	got := ChangeInCalls(e)
	o2 := ChangeInOptions{DefaultBranch: "main", OnTags: true, Include: []string{"/d"}, BranchRange: "$SEMAPHORE_GIT_COMMIT_RANGE", DefaultRange: "x...y"}
	want := []ChangeInCall{
		{Paths: []string{"/a"}, Options: DefaultChangeInOptions()},
		{Paths: []string{"b/", "../c"}, Options: o2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ChangeInCalls (-want +got):\n%s", diff)
	}
	got[0].Paths[0] = "changed"
	if again := ChangeInCalls(e); again[0].Paths[0] != "/a" {
		t.Error("ChangeInCalls returned slices shared with the expression")
	}
}
