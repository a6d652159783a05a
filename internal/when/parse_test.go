package when

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// spec25 are the examples of docs/semaphore.md §2.5, all valid.
var spec25 = []string{
	`branch = 'master' OR tag =~ '^v1\.'`,
	`(branch = 'master' OR tag =~ '.*') AND result = 'passed'`,
	`branch =~ '^hotfix/' and change_in('/backend/', {default_branch: 'main'})`,
	`change_in(['/web-app/', '/lib/'], {exclude: ['/docs'], pipeline_file: 'ignore'})`,
	`pull_request =~ '.*'`,
	`true`,
}

// parseCases are valid conditions and their canonical form.
var parseCases = []struct {
	name, src, want string
}{
	// See docs/semaphore.md §2.5.
	{"spec/branch-or-tag", spec25[0], `branch = 'master' or tag =~ '^v1\.'`},
	{"spec/grouped-and-result", spec25[1], `(branch = 'master' or tag =~ '.*') and result = 'passed'`},
	{"spec/regex-and-change-in", spec25[2], `branch =~ '^hotfix/' and change_in('/backend/', {default_branch: 'main'})`},
	{"spec/change-in-list-options", spec25[3], `change_in(['/web-app/', '/lib/'], {exclude: ['/docs'], pipeline_file: 'ignore'})`},
	{"spec/pull-request", spec25[4], `pull_request =~ '.*'`},
	{"spec/true", spec25[5], `true`},

	// Precedence: equal, left to right.
	{"precedence/or-and", `branch = 'a' or tag = 'b' and result = 'c'`, `(branch = 'a' or tag = 'b') and result = 'c'`},
	{"precedence/and-or", `branch = 'a' and tag = 'b' or result = 'c'`, `(branch = 'a' and tag = 'b') or result = 'c'`},
	{"precedence/or-chain", `true or false or true`, `true or false or true`},
	{"precedence/and-chain", `true and false and true`, `true and false and true`},
	{"precedence/right-group", `true or (false and true)`, `true or (false and true)`},
	{"precedence/right-group-same-op", `true or (false or true)`, `true or (false or true)`},
	{"precedence/redundant-parens", `((branch = 'x'))`, `branch = 'x'`},
	{"precedence/left-group-same-op", `(true or false) or true`, `true or false or true`},

	// Case variants.
	{"case/upper-keywords", `BRANCH = 'x' AND TAG != 'y' OR PULL_REQUEST =~ 'z' OR RESULT = 'passed' OR RESULT_REASON = 'test'`,
		`(branch = 'x' and tag != 'y') or pull_request =~ 'z' or result = 'passed' or result_reason = 'test'`},
	{"case/upper-booleans", `TRUE AND FALSE`, `true and false`},
	{"case/mixed-operators", `true AND false or true`, `(true and false) or true`},

	// Whitespace is ignored, including newlines from folded YAML.
	{"space/none", `branch='master'and(tag=~'v1')`, `branch = 'master' and tag =~ 'v1'`},
	{"space/newlines-tabs", "(branch = 'master' and result != 'failed') or\n\t(tag =~ 'v1.*' and result = 'passed')\r\n",
		`(branch = 'master' and result != 'failed') or (tag =~ 'v1.*' and result = 'passed')`},

	// Comparisons with a string on the left.
	{"string-op-keyword", `'master' = branch`, `'master' = branch`},
	{"string-op-string", `'${{parameters.ENV}}' = 'prod'`, `'${{parameters.ENV}}' = 'prod'`},
	{"string-regex-keyword", `'v1.2' =~ tag`, `'v1.2' =~ tag`},

	// Bare values.
	{"bare/string", `'true'`, `'true'`},
	{"bare/string-in-parens", `('false')`, `'false'`},
	{"bare/false-parens", `(FALSE) AND TAG != 'v1.*'`, `false and tag != 'v1.*'`},
	{"bare/integer", `42`, `42`},
	{"bare/negative-integer", `-7`, `-7`},
	{"bare/zero", `0`, `0`},
	{"bare/negative-zero", `-0`, `0`},
	{"bare/float", `4.50`, `4.5`},
	{"bare/float-whole", `3.0`, `3.0`},
	{"bare/negative-float-zero", `-0.0`, `-0.0`},
	{"bare/list", `['a', 1, 2.5, true, [], {}]`, `['a', 1, 2.5, true, [], {}]`},
	{"bare/empty-list", `[]`, `[]`},
	{"bare/map-sorted", `{zeta: 1, alpha: 'a', mid-key: [1]}`, `{alpha: 'a', mid-key: [1], zeta: 1}`},
	{"bare/map-keyword-keys", `{branch: 'x', true: 1, and: 2}`, `{and: 2, branch: 'x', true: 1}`},

	// Strings hold anything but a single quote.
	{"string/special-chars", `branch = 'feature\/special' and tag = '"quoted"'`, `branch = 'feature\/special' and tag = '"quoted"'`},
	{"string/newline", "branch = 'a\nb'", "branch = 'a\nb'"},
	{"string/unicode", `branch = 'ünï/🚀'`, `branch = 'ünï/🚀'`},
	{"string/spaces", `branch = ' x '`, `branch = ' x '`},

	// Functions.
	{"fun/path-string", `change_in('/lib')`, `change_in('/lib')`},
	{"fun/path-list", `change_in(['/lib', 'app/', '**/*.md'])`, `change_in(['/lib', 'app/', '**/*.md'])`},
	{"fun/empty-list", `change_in([])`, `change_in([])`},
	{"fun/all-options", `change_in('/', {on_tags: false, default_branch: 'main', pipeline_file: 'track', exclude: '/docs', include: ['/a'], branch_range: '$SEMAPHORE_GIT_SHA^...$SEMAPHORE_GIT_SHA', default_range: 'HEAD~1...HEAD'})`,
		`change_in('/', {branch_range: '$SEMAPHORE_GIT_SHA^...$SEMAPHORE_GIT_SHA', default_branch: 'main', default_range: 'HEAD~1...HEAD', exclude: '/docs', include: ['/a'], on_tags: false, pipeline_file: 'track'})`},
	{"fun/empty-options", `change_in('/lib', {})`, `change_in('/lib', {})`},
	{"fun/op-bool", `change_in('/lib') = false`, `change_in('/lib') = false`},
	{"fun/op-string", `change_in('/lib') != 'true'`, `change_in('/lib') != 'true'`},
	{"fun/op-paren-term", `change_in('/lib') = (branch = 'master' or true)`, `change_in('/lib') = (branch = 'master' or true)`},
	{"fun/op-comparison-term", `change_in('/a') = branch = 'master'`, `change_in('/a') = (branch = 'master')`},
	{"fun/op-fun", `change_in('/a') = change_in('/b')`, `change_in('/a') = change_in('/b')`},
	{"fun/spc-rewrite", `(branch = 'master') and false`, `branch = 'master' and false`},

	// Regular expressions PCRE users write.
	{"regex/lookahead", `branch =~ '^(?!master$|main$)'`, `branch =~ '^(?!master$|main$)'`},
	{"regex/lookbehind", `tag =~ '(?<=release-)v\d+'`, `tag =~ '(?<=release-)v\d+'`},
	{"regex/inline-flag", `branch =~ '(?i)^MASTER$'`, `branch =~ '(?i)^MASTER$'`},
	{"regex/atomic-group", `branch =~ '(?>a+)b'`, `branch =~ '(?>a+)b'`},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			if got := e.String(); got != tc.want {
				t.Errorf("Parse(%q).String()\n got %s\nwant %s", tc.src, got, tc.want)
			}
			assertRoundTrip(t, tc.src, e)
		})
	}
}

// assertRoundTrip checks that the canonical form parses back to itself.
func assertRoundTrip(t *testing.T, src string, e Expr) {
	t.Helper()
	s := e.String()
	e2, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) = %q, which does not parse: %v", src, s, err)
	}
	if s2 := e2.String(); s2 != s {
		t.Fatalf("round trip of %q: %q then %q", src, s, s2)
	}
}

// corpusConditions reads testdata/corpus.txt: the when conditions of the
// real pipelines in the shared corpus.
func corpusConditions(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var conds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			conds = append(conds, line)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return conds
}

func TestParseCorpus(t *testing.T) {
	conds := corpusConditions(t)
	if len(conds) < 25 {
		t.Fatalf("read %d corpus conditions, want at least 25", len(conds))
	}
	for _, src := range conds {
		t.Run(src, func(t *testing.T) {
			e, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", src, err)
			}
			assertRoundTrip(t, src, e)
		})
	}
}

// parseErrorCases are invalid conditions, with the offset and message of the
// error. testdata/errors.txtar shows more, rendered with a caret.
var parseErrorCases = []struct {
	name, src string
	offset    int
	msg       string
}{
	{"empty", ``, 0, "empty condition"},
	{"blank", "  \n\t", 0, "empty condition"},
	{"unexpected-rparen", `true or false)`, 13, "unexpected ')' without a matching '('"},
	{"unclosed-paren", `(branch = 'master'`, 18, "missing ')' to close the '(' at offset 0"},
	{"empty-parens", `()`, 1, "empty parentheses; expected a condition inside '(' ')'"},
	{"unterminated-string", `branch = 'master`, 9, "unterminated string; add the closing '"},
	{"empty-string", `branch = ''`, 9, "'' (empty string) is not allowed"},
	{"double-quotes", `branch = "master"`, 9, "double-quoted strings are not supported; use single quotes"},
	{"escaped-quote", `branch = 'it''s'`, 13, "quotes cannot be escaped inside a string; a string ends at the next '"},
	{"keyword-without-op", `branch`, 6, "expected an operator (=, !=, =~ or !~) after 'branch', found end of condition"},
	{"keyword-then-string", `branch 'master'`, 7, "expected an operator (=, !=, =~ or !~) after 'branch', found string 'master'"},
	{"keyword-op-eof", `branch !~`, 9, "expected a quoted string after '!~', found end of condition"},
	{"keyword-op-bare-word", `branch = master`, 9, "expected a quoted string after '=', found 'master'; quote it: 'master'"},
	{"keyword-op-bool", `branch = true`, 9, "expected a quoted string after '=', found 'true'; quote it: 'true'"},
	{"keyword-op-number", `pull_request = 12`, 15, "expected a quoted string after '=', found number 12; quote it: '12'"},
	{"keyword-op-keyword", `branch = tag`, 9, "expected a quoted string after '=', found keyword 'tag'; two keywords cannot be compared"},
	{"string-op-bool", `'x' = true`, 6, "expected a keyword or a quoted string after '=', found 'true'; quote it: 'true'"},
	{"double-equals", `branch == 'master'`, 7, "'==' is not an operator; use '=' to compare"},
	{"bang", `!(branch = 'master')`, 0, "there is no '!' (NOT) operator; use '!=' or '!~' to negate a comparison"},
	{"not", `not branch = 'master'`, 0, "there is no NOT operator; negate the comparison instead, with '!=' or '!~'"},
	{"ampersands", `true && false`, 5, "unexpected '&'; use 'and' to combine conditions"},
	{"pipes", `true || false`, 5, "unexpected '|'; use 'or' to combine conditions"},
	{"less-than", `branch < 'b'`, 7, `unexpected "<"; only =, !=, =~ and !~ compare values`},
	{"typo-keyword", `brnch = 'master'`, 0, "unknown keyword 'brnch' (did you mean 'branch'?)"},
	{"mixed-case-keyword", `Branch = 'master'`, 0, "unknown keyword 'Branch'; keywords are all lower case or all upper case (did you mean 'branch'?)"},
	{"mixed-case-boolean", `True`, 0, "unknown keyword 'True'; booleans are all lower case or all upper case (did you mean 'true'?)"},
	{"plural-keyword", `branches = 'x'`, 0, "unknown keyword 'branches' (did you mean 'branch'?)"},
	{"garbage-word", `branch = 'master' and ahahahahaha`, 22, "unknown keyword 'ahahahahaha'; expected branch, tag, pull_request, result, result_reason, a quoted string, true, false or a function call"},
	{"typo-operator", `branch = 'a' adn tag = 'b'`, 13, "unknown operator 'adn' (did you mean 'and'?)"},
	{"missing-operator", `branch = 'a' tag = 'b'`, 13, "unexpected keyword 'tag'; expected 'and', 'or' or the end of the condition"},
	{"missing-operator-in-parens", `(branch = 'a' tag = 'b')`, 14, "unexpected keyword 'tag'; expected 'and', 'or' or ')'"},
	{"leading-and", `and branch != 'master'`, 0, "unexpected 'and'; expected a condition before it"},
	{"double-and", `true and and false`, 9, "unexpected 'and'; expected a condition after 'and'"},
	{"trailing-or", `'true' or`, 9, "unexpected end of condition; expected a condition after 'or'"},
	{"leading-op", ` =~ 'master'`, 1, "unexpected '=~'; a comparison needs a keyword, a quoted string or a function call on its left"},
	{"op-alone", `=`, 0, "unexpected '='; a comparison needs a keyword, a quoted string or a function call on its left"},
	{"compare-group", `(true and false) = 'master'`, 17, "unexpected '='; only a keyword, a quoted string or a function call can be compared, and a comparison cannot be compared again"},
	{"chained-compare", `branch = 'a' = 'b'`, 13, "unexpected '='; only a keyword, a quoted string or a function call can be compared, and a comparison cannot be compared again"},
	{"compare-bool", `true = 'x'`, 5, "unexpected '=' after 'true'; only a keyword, a quoted string or a function call can be compared"},
	{"string-compare-group", `'master' != (true and false)`, 12, "expected a keyword or a quoted string after '!=', found '('"},
	{"map-as-condition", `{branch or false}`, 1, "expected ':' right after the map key 'branch'"},
	{"brackets-around-comparison", `[branch = 'x'] and true`, 1, "unexpected keyword 'branch'; lists, maps and function arguments hold only literal values (quoted strings, numbers, booleans, lists and maps)"},
	{"hash", `# branch = 'x'`, 0, `unexpected character "#"`},
	{"underscore-start", `_identifier(123)`, 0, "unexpected '_'; names start with a letter"},
	{"ident-bad-char", `cant_contain_&^('x')`, 0, "unknown keyword 'cant_contain_'; expected branch, tag, pull_request, result, result_reason, a quoted string, true, false or a function call"},
	{"bad-char-after-term", `true &^ false`, 5, "unexpected '&'; use 'and' to combine conditions"},
	{"bad-number", `change_in('/a') and x(123.456.2323)`, 20, "unknown function 'x'; the only function is change_in"},
	{"float-second-dot", `[123.456.2]`, 8, `unexpected character "."`},
	{"float-no-digits", `[1.]`, 1, `malformed number "1.": a digit must follow '.'`},
	{"leading-zero", `[007]`, 1, `malformed number "007": leading zeros are not allowed`},
	{"lone-minus", `[- 1]`, 1, "unexpected '-'; a minus sign must be directly followed by a digit"},
	{"integer-overflow", `[9223372036854775808]`, 1, "integer 9223372036854775808 is out of range"},
	{"float-overflow", `[1` + strings.Repeat("0", 400) + `.0]`, 1, "number 1" + strings.Repeat("0", 400) + ".0 is out of range"},
	{"unicode-char", `branch = 'a' ∧ true`, 13, `unexpected character "∧"`},
	{"invalid-utf8", "branch = 'a' \xff", 13, "invalid UTF-8 byte 0xff"},
	{"colon-with-space", `change_in('/', {exclude : '/a'})`, 16, "expected ':' right after the map key 'exclude'"},
	{"stray-colon", `change_in('/', {exclude: : '/a'})`, 25, "unexpected ':'; a map key is written directly before its colon, like {default_branch: 'main'}"},
	{"map-key-outside-map", `branch: 'x'`, 0, "unexpected 'branch:'; 'name:' map keys only appear inside { }"},
	{"quoted-map-key", `change_in('/', {'exclude': '/a'})`, 16, "map keys are not quoted; write exclude: value"},
	{"map-missing-value", `{a: }`, 4, "expected a value after 'a:'"},
	{"map-trailing-comma", `{a: 1,}`, 6, "unexpected '}'; a trailing comma is not allowed"},
	{"map-duplicate-key", `{a: 1, a: 2}`, 7, "duplicate map key 'a'"},
	{"map-unclosed", `{a: 1`, 5, "missing '}' to close the '{' at offset 0"},
	{"map-missing-comma", `{a: 1 b: 2}`, 6, "unexpected 'b:' in map; expected ',' or '}'"},
	{"list-trailing-comma", `['a',]`, 5, "unexpected ']'; a trailing comma is not allowed"},
	{"list-unclosed", `['a'`, 4, "missing ']' to close the '[' at offset 0"},
	{"list-missing-comma", `['a' 'b']`, 5, "unexpected string 'b' in list; expected ',' or ']'"},
	{"list-bare-word", `[master]`, 1, "unexpected 'master'; lists, maps and function arguments hold only literal values; quote it: 'master'"},
	{"too-deep", strings.Repeat("(", 101) + "true" + strings.Repeat(")", 101), 100, "condition is nested too deeply (more than 100 levels)"},

	// Functions.
	{"unknown-function", `foo('x')`, 0, "unknown function 'foo'; the only function is change_in"},
	{"typo-function", `changed_in('/lib')`, 0, "unknown function 'changed_in' (did you mean 'change_in'?)"},
	{"upper-function", `CHANGE_IN('/lib')`, 0, "unknown function 'CHANGE_IN' (did you mean 'change_in'?)"},
	{"function-without-parens", `change_in`, 0, "unknown keyword 'change_in' (did you mean the function 'change_in(...)'?)"},
	{"function-unclosed", `change_in('/lib'`, 16, "missing ')' to close the '(' at offset 9"},
	{"function-trailing-comma", `change_in('/lib',)`, 17, "unexpected ')'; a trailing comma is not allowed"},
	{"function-keyword-arg", `change_in(branch)`, 10, "unexpected keyword 'branch'; lists, maps and function arguments hold only literal values (quoted strings, numbers, booleans, lists and maps)"},
	{"function-missing-comma", `change_in('/a' {})`, 15, "unexpected '{' in the arguments of change_in; expected ',' or ')'"},
	{"fun-op-eof", `change_in('/a') =`, 17, "expected a value after '='"},
	{"change-in-no-args", `change_in()`, 0, "change_in needs the paths to watch, like change_in('/lib') or change_in(['/lib', '/app'])"},
	{"change-in-three-args", `change_in('/a', {}, 1)`, 20, "change_in takes at most 2 arguments (the paths and an options map), got 3"},
	{"change-in-paths-number", `change_in(1)`, 10, "the first argument of change_in must be a quoted path or a list of them, like '/lib' or ['/lib', '/app'], not a number"},
	{"change-in-paths-list-bool", `change_in(['/a', true])`, 17, "the first argument of change_in must be a list of quoted paths; found a boolean"},
	{"change-in-options-not-map", `change_in('/a', ['/b'])`, 16, "the second argument of change_in must be an options map, like {default_branch: 'main'}, not a list"},
	{"change-in-unknown-option", `change_in('/a', {exlude: '/b'})`, 17, "unknown change_in option 'exlude' (did you mean 'exclude'?)"},
	{"change-in-unknown-option-far", `change_in('/a', {paths: '/b'})`, 17, "unknown change_in option 'paths'; the options are branch_range, default_branch, default_range, exclude, include, on_tags, pipeline_file"},
	{"change-in-on-tags-string", `change_in('/a', {on_tags: 'false'})`, 26, "on_tags must be true or false, without quotes"},
	{"change-in-on-tags-number", `change_in('/a', {on_tags: 0})`, 26, "on_tags must be true or false, not a number"},
	{"change-in-pipeline-file", `change_in('/a', {pipeline_file: 'always'})`, 32, "pipeline_file must be 'track' or 'ignore', not 'always'"},
	{"change-in-default-branch-bool", `change_in('/a', {default_branch: true})`, 33, "default_branch must be a quoted string, not a boolean"},
	{"change-in-exclude-map", `change_in('/a', {exclude: {}})`, 26, "exclude must be a quoted path or a list of them, like '/lib' or ['/lib', '/app'], not a map"},
	{"change-in-bad-glob", `change_in('/a/*[')`, 10, "invalid glob pattern '/a/*['"},
	{"change-in-bad-glob-exclude", `change_in('/a', {exclude: ['/b', '/c/**/{x'] })`, 33, "invalid glob pattern '/c/**/{x'"},

	// Regular expressions.
	{"regex-invalid", `branch =~ '('`, 10, "invalid regular expression '(': error parsing regexp: missing closing ) in `(`"},
	{"regex-invalid-negated", `tag !~ '[a-'`, 7, "invalid regular expression '[a-': error parsing regexp: unterminated [] set in `[a-`"},
	{"regex-invalid-string-left", `'x' =~ '*'`, 7, "invalid regular expression '*': error parsing regexp: missing argument to repetition operator in `*`"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.src)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tc.src, e)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", tc.src, err, err)
			}
			if se.Offset != tc.offset || se.Msg != tc.msg {
				t.Errorf("Parse(%q)\n got offset %d: %s\nwant offset %d: %s", tc.src, se.Offset, se.Msg, tc.offset, tc.msg)
			}
			if se.Offset < 0 || se.Offset > len(tc.src) {
				t.Errorf("offset %d outside [0, %d]", se.Offset, len(tc.src))
			}
		})
	}
}

func TestSyntaxErrorError(t *testing.T) {
	_, err := Parse(`branch = `)
	if got, want := err.Error(), "syntax error at offset 9: expected a quoted string after '=', found end of condition"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
