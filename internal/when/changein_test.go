package when

import (
	"testing"
)

// parseCall parses a condition holding one change_in call and returns it.
func parseCall(tb testing.TB, src string) ChangeInCall {
	tb.Helper()
	calls := ChangeInCalls(mustParse(tb, src))
	if len(calls) != 1 {
		tb.Fatalf("%q has %d change_in calls, want 1", src, len(calls))
	}
	return calls[0]
}

func TestRange(t *testing.T) {
	branch := func(name string) ChangeInContext {
		return ChangeInContext{RefType: RefTypeBranch, Branch: name, SHA: "abc123", CommitRange: "old...abc123"}
	}
	noRange := func(c ChangeInContext) ChangeInContext { c.CommitRange = ""; return c }
	pr := ChangeInContext{RefType: RefTypePullRequest, PRBaseBranch: "main", PRHeadBranch: "feature/x", SHA: "merge1", CommitRange: "base1...head1"}
	fork := pr
	fork.PRFromFork = true
	tag := ChangeInContext{RefType: RefTypeTag, SHA: "abc123"}

	tests := []struct {
		name      string
		call      string
		ctx       ChangeInContext
		wantRange string
		wantFixed bool
		wantValue bool
	}{
		// Tags: no diff, the result is on_tags.
		{"tag/default-on-tags", `change_in('/lib')`, tag, "", true, true},
		{"tag/on-tags-false", `change_in('/lib', {on_tags: false})`, tag, "", true, false},
		{"tag/on-tags-true", `change_in('/lib', {on_tags: true})`, tag, "", true, true},

		// Pull requests from the same repository: target...head.
		{"pr/same-repo", `change_in('/lib')`, pr, "main...feature/x", false, false},
		{"pr/same-repo-ignores-ranges", `change_in('/lib', {default_range: 'a...b', branch_range: 'c...d', default_branch: 'dev'})`, pr, "main...feature/x", false, false},
		// Forks: default_range.
		{"pr/fork-default-range", `change_in('/lib')`, fork, "base1...head1", false, false},
		{"pr/fork-custom-default-range", `change_in('/lib', {default_range: '$SEMAPHORE_GIT_SHA~3...$SEMAPHORE_GIT_SHA'})`, fork, "merge1~3...merge1", false, false},
		{"pr/fork-no-commit-range", `change_in('/lib')`, noRange(fork), "master...merge1", false, false},

		// Push to the default branch: default_range, falling back to trunk...sha.
		{"default-branch/commit-range", `change_in('/lib')`, branch("master"), "old...abc123", false, false},
		{"default-branch/empty-commit-range", `change_in('/lib')`, noRange(branch("master")), "master...abc123", false, false},
		{"default-branch/custom-trunk", `change_in('/lib', {default_branch: 'main'})`, branch("main"), "old...abc123", false, false},
		{"default-branch/custom-trunk-empty", `change_in('/lib', {default_branch: 'main'})`, noRange(branch("main")), "main...abc123", false, false},
		{"default-branch/custom-default-range", `change_in('/lib', {default_range: 'HEAD~1...HEAD'})`, branch("master"), "HEAD~1...HEAD", false, false},
		{"default-branch/default-range-substituted", `change_in('/lib', {default_range: '$SEMAPHORE_MERGE_BASE..$SEMAPHORE_GIT_SHA'})`, branch("master"), "master..abc123", false, false},
		{"default-branch/default-range-commit-range-var", `change_in('/lib', {default_range: '$SEMAPHORE_GIT_COMMIT_RANGE'})`, noRange(branch("master")), "master...abc123", false, false},

		// Push to another branch: branch_range with substitutions.
		{"branch/default-branch-range", `change_in('/lib')`, branch("feature/y"), "master...abc123", false, false},
		{"branch/custom-trunk", `change_in('/lib', {default_branch: 'main'})`, branch("master"), "main...abc123", false, false},
		{"branch/commit-range", `change_in('/lib', {branch_range: '$SEMAPHORE_GIT_COMMIT_RANGE'})`, branch("dev"), "old...abc123", false, false},
		{"branch/commit-range-empty", `change_in('/lib', {branch_range: '$SEMAPHORE_GIT_COMMIT_RANGE'})`, noRange(branch("dev")), "master...abc123", false, false},
		{"branch/last-commit", `change_in('/lib', {branch_range: '$SEMAPHORE_GIT_SHA^...$SEMAPHORE_GIT_SHA'})`, branch("dev"), "abc123^...abc123", false, false},
		{"branch/literal-range", `change_in('/lib', {branch_range: 'origin/release...HEAD'})`, branch("dev"), "origin/release...HEAD", false, false},
		{"branch/unknown-ref-type-is-branch", `change_in('/lib')`, ChangeInContext{Branch: "dev", SHA: "s"}, "master...s", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng, fixed, value := Range(parseCall(t, tc.call), tc.ctx)
			if rng != tc.wantRange || fixed != tc.wantFixed || value != tc.wantValue {
				t.Errorf("Range(%s) = (%q, %v, %v), want (%q, %v, %v)", tc.call, rng, fixed, value, tc.wantRange, tc.wantFixed, tc.wantValue)
			}
		})
	}
}

func TestRangeZeroOptions(t *testing.T) {
	// A hand-built call with empty strings gets the string defaults.
	c := ChangeInCall{Paths: []string{"/lib"}}
	rng, fixed, _ := Range(c, ChangeInContext{RefType: RefTypeBranch, Branch: "dev", SHA: "s"})
	if rng != "master...s" || fixed {
		t.Errorf("Range = %q, %v; want master...s, false", rng, fixed)
	}
}

func TestMatch(t *testing.T) {
	block := ChangeInContext{PipelineFile: ".semaphore/semaphore.yml", PipelineFileDefault: PipelineFileTrack}
	promotion := ChangeInContext{PipelineFile: ".semaphore/semaphore.yml", PipelineFileDefault: PipelineFileIgnore}
	nested := ChangeInContext{PipelineFile: "services/api/.semaphore/ci.yml", PipelineFileDefault: PipelineFileTrack}
	noDefault := ChangeInContext{PipelineFile: ".semaphore/semaphore.yml"}

	tests := []struct {
		name    string
		call    string
		ctx     ChangeInContext
		changed []string
		want    bool
	}{
		// Prefix patterns (no '*').
		{"prefix/dir", `change_in('/lib')`, block, []string{"lib/a.txt"}, true},
		{"prefix/deep", `change_in('/lib')`, block, []string{"lib/package/a.txt"}, true},
		{"prefix/other-dir", `change_in('/app')`, block, []string{"lib/b.txt"}, false},
		{"prefix/is-a-string-prefix", `change_in('/lib')`, block, []string{"library/x"}, true},
		{"prefix/trailing-slash", `change_in('/lib/')`, block, []string{"library/a.txt"}, false},
		{"prefix/trailing-slash-hit", `change_in('/lib/')`, block, []string{"lib/a.txt"}, true},
		{"prefix/file", `change_in('/Cargo.lock')`, block, []string{"Cargo.lock"}, true},
		{"prefix/root", `change_in('/')`, block, []string{"anything/at/all"}, true},
		{"prefix/list-any", `change_in(['/docs', '/site'])`, block, []string{"src/main.rs", "site/index.html"}, true},
		{"prefix/list-none", `change_in(['/docs', '/site'])`, block, []string{"src/main.rs"}, false},
		{"prefix/no-changes", `change_in('/')`, block, nil, false},
		{"prefix/empty-line-ignored", `change_in('/')`, promotion, []string{""}, false},
		{"prefix/empty-path-list", `change_in([])`, promotion, []string{"a"}, false},

		// Relative patterns start at the pipeline file's directory.
		{"relative/parent", `change_in('../lib')`, block, []string{"lib/c.txt"}, true},
		{"relative/sibling", `change_in('lib')`, block, []string{"lib/c.txt"}, false},
		{"relative/in-pipeline-dir", `change_in('scripts/')`, block, []string{".semaphore/scripts/x.sh"}, true},
		{"relative/trailing-slash-kept", `change_in('lib/', {pipeline_file: 'ignore'})`, block, []string{".semaphore/library"}, false},
		{"relative/nested-pipeline", `change_in('../')`, nested, []string{"services/api/main.go"}, true},
		{"relative/nested-pipeline-other-service", `change_in('../')`, nested, []string{"services/web/main.go"}, false},
		{"relative/above-root-clamps", `change_in('../../../../lib')`, block, []string{"lib/a"}, true},
		{"relative/no-pipeline-file-is-root", `change_in('lib')`, ChangeInContext{}, []string{"lib/a"}, true},
		{"absolute/cleaned", `change_in('/a/./b/../c')`, block, []string{"a/c/x"}, true},

		// Globs ('*' anywhere) match the whole path with doublestar.
		{"glob/star", `change_in('/lib/*.txt')`, block, []string{"lib/d.txt"}, true},
		{"glob/star-not-deep", `change_in('/lib/*.txt')`, block, []string{"lib/sub/d.txt"}, false},
		{"glob/double-star", `change_in('/lib/**/*.txt')`, block, []string{"lib/x/y/e.txt"}, true},
		{"glob/double-star-zero-dirs", `change_in('/lib/**/*.txt')`, block, []string{"lib/e.txt"}, true},
		{"glob/double-star-other-ext", `change_in('/lib/**/*.txt')`, block, []string{"lib/f.rb"}, false},
		{"glob/relative", `change_in('../lib/**/*.txt')`, block, []string{"lib/g.txt"}, true},
		{"glob/relative-miss", `change_in('../lib/**/*.txt')`, block, []string{"lib/h.rb"}, false},
		{"glob/whole-path", `change_in('/*.md')`, block, []string{"docs/a.md"}, false},
		{"glob/anywhere", `change_in('/**/*.md')`, block, []string{"docs/deep/a.md"}, true},
		{"glob/relative-double-star-stays-in-pipeline-dir", `change_in('**/*.md', {pipeline_file: 'ignore'})`, block, []string{"docs/a.md"}, false},
		{"glob/relative-double-star-hit", `change_in('**/*.md')`, block, []string{".semaphore/notes.md"}, true},
		{"glob/braces", `change_in('/*.{yml,yaml}')`, block, []string{"x.yaml"}, true},
		{"glob/no-prefix-semantics", `change_in('/li*')`, block, []string{"lib/a.txt"}, false},

		// Excludes are applied first.
		{"exclude/all-excluded", `change_in('/', {exclude: ['/devbox.json', '/flake.lock']})`, promotion, []string{"devbox.json", "flake.lock"}, false},
		{"exclude/one-left", `change_in('/', {exclude: ['/devbox.json', '/flake.lock']})`, promotion, []string{"devbox.json", "src/x"}, true},
		{"exclude/string", `change_in('/docs', {exclude: '/docs/drafts'})`, block, []string{"docs/drafts/a.md"}, false},
		{"exclude/glob", `change_in('/', {exclude: '/**/*.md'})`, promotion, []string{"README.md", "a/b.md"}, false},
		{"exclude/relative", `change_in('/', {exclude: '../docs'})`, promotion, []string{"docs/a"}, false},
		{"exclude/beats-pipeline-file", `change_in('/lib', {exclude: '/.semaphore'})`, block, []string{".semaphore/semaphore.yml"}, false},

		// Include narrows the changed files that count (spc e2e scenarios).
		{"include/frontend", `change_in('/', {include: ['/frontend', '/shared']})`, promotion, []string{"frontend/app.js"}, true},
		{"include/backend-only", `change_in('/', {include: ['/frontend', '/shared']})`, promotion, []string{"backend/server.js"}, false},
		{"include/unrelated", `change_in('/', {include: ['/frontend', '/shared']})`, promotion, []string{"docs/readme.md"}, false},
		{"include/shared", `change_in('/', {include: ['/frontend', '/shared']})`, promotion, []string{"shared/utils.js"}, true},
		{"include-exclude/web", `change_in('/', {include: ['/frontend', '/shared'], exclude: ['/frontend/mobile']})`, promotion, []string{"frontend/web/app.js"}, true},
		{"include-exclude/mobile", `change_in('/', {include: ['/frontend', '/shared'], exclude: ['/frontend/mobile']})`, promotion, []string{"frontend/mobile/app.js"}, false},
		{"include-exclude/both", `change_in('/', {include: ['/frontend', '/shared'], exclude: ['/frontend/mobile']})`, promotion, []string{"frontend/mobile/app.js", "frontend/web/app.js"}, true},
		{"include/filters-pipeline-file", `change_in('/lib', {include: '/lib'})`, block, []string{".semaphore/semaphore.yml"}, false},

		// The pipeline file rule.
		{"pipeline-file/tracked-by-default-in-blocks", `change_in('/lib')`, block, []string{".semaphore/semaphore.yml"}, true},
		{"pipeline-file/ignored-by-default-in-promotions", `change_in('/lib')`, promotion, []string{".semaphore/semaphore.yml"}, false},
		{"pipeline-file/track-overrides-context", `change_in('/lib', {pipeline_file: 'track'})`, promotion, []string{".semaphore/semaphore.yml"}, true},
		{"pipeline-file/ignore-overrides-context", `change_in('/lib', {pipeline_file: 'ignore'})`, block, []string{".semaphore/semaphore.yml"}, false},
		{"pipeline-file/no-context-default-tracks", `change_in('/lib')`, noDefault, []string{".semaphore/semaphore.yml"}, true},
		{"pipeline-file/other-pipeline-not-tracked", `change_in('/lib')`, block, []string{".semaphore/deploy.yml"}, false},
		{"pipeline-file/exact-file", `change_in('/lib')`, block, []string{".semaphore/semaphore.yml.orig"}, false},
		{"pipeline-file/nested", `change_in('/lib')`, nested, []string{"services/api/.semaphore/ci.yml"}, true},
		{"pipeline-file/unknown-file-tracks-nothing", `change_in('/lib')`, ChangeInContext{}, []string{".semaphore/semaphore.yml"}, false},
		{"pipeline-file/listed-explicitly", `change_in(['/Cargo.toml', '/.semaphore/semaphore.yml'])`, promotion, []string{".semaphore/semaphore.yml"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Match(parseCall(t, tc.call), tc.ctx, tc.changed); got != tc.want {
				t.Errorf("Match(%s, %q) = %v, want %v", tc.call, tc.changed, got, tc.want)
			}
		})
	}
}

func TestChangeInCallString(t *testing.T) {
	tests := []struct {
		call ChangeInCall
		want string
	}{
		{
			parseCall(t, `change_in('/lib')`),
			`change_in(['/lib'], {branch_range: '$SEMAPHORE_MERGE_BASE...$SEMAPHORE_GIT_SHA', default_branch: 'master', default_range: '$SEMAPHORE_GIT_COMMIT_RANGE', on_tags: true})`,
		},
		{
			parseCall(t, `change_in(['/a', 'b'], {exclude: '/c', include: ['/d', '/e'], on_tags: false, pipeline_file: 'ignore', default_branch: 'main'})`),
			`change_in(['/a', 'b'], {branch_range: '$SEMAPHORE_MERGE_BASE...$SEMAPHORE_GIT_SHA', default_branch: 'main', default_range: '$SEMAPHORE_GIT_COMMIT_RANGE', exclude: ['/c'], include: ['/d', '/e'], on_tags: false, pipeline_file: 'ignore'})`,
		},
		{ChangeInCall{}, `change_in([], {on_tags: false})`},
	}
	for _, tc := range tests {
		got := tc.call.String()
		if got != tc.want {
			t.Errorf("String()\n got %s\nwant %s", got, tc.want)
		}
		// The key is itself a valid condition with the same call.
		if tc.call.Paths != nil {
			if again := parseCall(t, got); again.String() != got {
				t.Errorf("reparsed %s as %s", got, again.String())
			}
		}
	}
	// Calls differing only in how they spell defaults share a key.
	a := parseCall(t, `change_in('/lib')`).String()
	b := parseCall(t, `change_in(['/lib'], {default_branch: 'master', on_tags: true})`).String()
	if a != b {
		t.Errorf("equivalent calls render differently:\n%s\n%s", a, b)
	}
}
