package when

import (
	"fmt"

	"github.com/dlclark/regexp2/v2"
)

// AutoPromoteRule mirrors one entry of a promotion's deprecated
// auto_promote_on list.
type AutoPromoteRule struct {
	Result, ResultReason string
	Branch               []string // regular expressions; empty matches any ref
}

// MatchAutoPromoteOn reports whether any rule matches the finished pipeline
// (docs/semaphore.md §3.1). A rule matches when Result equals in.Result, ResultReason
// (if set) equals in.ResultReason, and (if Branch is set) any Branch regular
// expression is found, unanchored, in the branch name, or on a tag build in
// the full ref "refs/tags/<tag>" or the tag name: real files write
// branch: ['^refs/tags/v*'] for tags. On a pull request there is no branch
// name, so a rule with Branch never matches there.
//
// Every pattern is compiled before anything is matched, so an invalid one is
// an error whatever the input.
func MatchAutoPromoteOn(rules []AutoPromoteRule, in Input) (bool, error) {
	compiled := make([][]*regexp2.Regexp, len(rules))
	for i, r := range rules {
		for _, p := range r.Branch {
			re, err := compileRegex(p)
			if err != nil {
				return false, fmt.Errorf("auto_promote_on[%d].branch: %w", i, err)
			}
			compiled[i] = append(compiled[i], re)
		}
	}
	var refs []string
	switch {
	case in.Tag != "":
		refs = []string{"refs/tags/" + in.Tag, in.Tag}
	case in.Branch != "":
		refs = []string{in.Branch}
	}
	for i, r := range rules {
		if r.Result != in.Result {
			continue
		}
		if r.ResultReason != "" && r.ResultReason != in.ResultReason {
			continue
		}
		if len(r.Branch) == 0 {
			return true, nil
		}
		for _, re := range compiled[i] {
			for _, ref := range refs {
				ok, err := matchRegex(re, ref)
				if err != nil {
					return false, fmt.Errorf("auto_promote_on[%d].branch: %w", i, err)
				}
				if ok {
					return true, nil
				}
			}
		}
	}
	return false, nil
}
