// Package when implements Semaphore's condition language, the strings in
// blocks[].skip.when, blocks[].run.when, promotions[].auto_promote.when,
// auto_cancel, fail_fast, queue and priority (docs/semaphore.md §2), with the semantics of
// renderedtext/when, plus the pure parts of change_in (semaphoreci/spc) and
// the deprecated auto_promote_on rules (docs/semaphore.md §3.1).
//
// The package is pure: it takes values and returns values, and does no I/O.
// Computing a git diff for change_in is the caller's job: Range says which
// range to diff, Match decides from the changed files, and Input.ChangeIn
// plugs the answer into Eval.
//
// # Language
//
//	branch = 'master' OR tag =~ '^v1\.'
//	(branch = 'master' OR tag =~ '.*') AND result = 'passed'
//	branch =~ '^hotfix/' and change_in('/backend/', {default_branch: 'main'})
//
// 'and' and 'or' have the same precedence and group left to right, so
// "a or b and c" is "(a or b) and c". There is no NOT. Strings are single
// quoted, at least one character long, without escapes. Keywords, operators
// and booleans are all lower case or all upper case. = and != compare
// exactly; =~ and !~ search the value on the left for the PCRE-style
// pattern on the right, unanchored (regexp2, with a match timeout). An empty
// value never matches, so tag =~ '.*' is true exactly on tag builds.
//
// # Decisions
//
// Where upstream is silent, sloppy or buggy, this package decides:
//
//   - Parse reports, with offsets, everything it can see in literals:
//     unknown functions, change_in arity, option names and types, malformed
//     glob patterns, and literal regular expressions that do not compile.
//     Upstream accepts these and fails when the condition is evaluated.
//   - change_in rejects unknown option keys (upstream ignores them, which
//     hides typos such as "exlude"), and accepts "include", which spc
//     implements: with include patterns, only changed files matching one of
//     them count.
//   - Duplicate map keys are an error (upstream keeps the last one).
//   - The string literals 'true' and 'false' equal the booleans they name,
//     as upstream (which turns those literals into booleans), so
//     change_in('/a') = 'true' works; but branch = 'true' still compares
//     strings, where upstream could never match a branch named "true".
//   - Numbers are 64-bit (upstream's are unbounded); out-of-range numbers
//     are syntax errors.
//   - Relative change_in patterns keep a trailing slash after cleaning, so
//     'lib/' from .semaphore/ is '/.semaphore/lib/', not a prefix of
//     '/.semaphore/library'. The pipeline file rule matches the file itself,
//     not every path it prefixes.
//   - A range that resolves to nothing falls back to
//     <default_branch>...<sha>, for branch_range as for default_range.
//   - Regular expressions use regexp2 (.NET syntax, which covers what people
//     write for PCRE: lookarounds, backreferences, atomic groups, inline
//     flags; not \Q...\E or possessive quantifiers). A match that runs longer
//     than a second is an evaluation error, not a false; that timeout is the
//     only use of a clock, inside regexp2.
//   - auto_promote_on rules with branch patterns never match a pull request,
//     whose branch keyword is empty.
package when
