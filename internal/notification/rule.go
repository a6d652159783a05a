// Package notification sends organisation notifications, as Semaphore's:
// each notification is a rule (projects, branches and pipeline files,
// exact or /regex/, and results) and its targets (a Slack incoming
// webhook with channels, a generic webhook signed with a secret, or
// both). When a pipeline ends, the rules that match it enqueue deliveries
// in the store's outbox, in the transaction that ends the pipeline; a
// Sender on each server claims due deliveries, sends them with retries and
// exponential backoff, and records every attempt's HTTP status. Endpoints
// and the webhook secret are sealed at rest (internal/vault) and never
// shown in full; a message carries the pipeline's metadata, never a
// secret value, a log line or a variable.
//
// Private projects: a rule sends about a private project only when its
// project filter names that project exactly. An empty project filter or a
// /regex/ matches public projects only, so a rule written for "every
// project" never tells its endpoint about a private one.
package notification

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// ErrInvalid wraps the errors of a notification that cannot be stored;
// the message names the field and says what to change.
var ErrInvalid = errors.New("invalid notification")

// Limits on what a notification holds.
const (
	maxNameLen     = 128
	maxFilters     = 100
	maxPatternLen  = 512
	maxEndpointLen = 2048
	maxSecretLen   = 1024
	maxChannels    = 20
)

// Results are the results a rule may name.
var Results = []string{string(ci.ResultPassed), string(ci.ResultFailed), string(ci.ResultStopped), string(ci.ResultCanceled)}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CheckName checks a notification's name.
func CheckName(name string) error {
	switch {
	case name == "":
		return invalid("a name is required")
	case len(name) > maxNameLen:
		return invalid("the name is longer than %d characters", maxNameLen)
	case strings.ContainsAny(name, "/?#%"):
		return invalid("name %q may not contain '/', '?', '#' or '%%'", name)
	case strings.ContainsFunc(name, unicode.IsControl) || strings.TrimSpace(name) != name:
		return invalid("name %q may not contain control characters or start or end with a space", name)
	}
	return nil
}

// isRegex reports whether a filter entry is a /regex/.
func isRegex(s string) bool {
	return len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/")
}

// checkFilter checks the entries of a filter: exact names or /regex/
// that compile (RE2: linear time whatever the input).
func checkFilter(field string, l []string) error {
	if len(l) > maxFilters {
		return invalid("%s: at most %d entries", field, maxFilters)
	}
	for i, s := range l {
		switch {
		case s == "":
			return invalid("%s[%d]: empty; give a name or /regex/", field, i)
		case len(s) > maxPatternLen:
			return invalid("%s[%d]: longer than %d characters", field, i, maxPatternLen)
		case strings.ContainsFunc(s, unicode.IsControl):
			return invalid("%s[%d] %q: control characters", field, i, s)
		case isRegex(s):
			if _, err := regexp.Compile(s[1 : len(s)-1]); err != nil {
				return invalid("%s[%d] %s: not a regular expression: %v", field, i, s, err)
			}
		}
	}
	return nil
}

// checkResults checks a results filter.
func checkResults(l []string) error {
	for i, r := range l {
		if !slices.Contains(Results, r) {
			return invalid("results[%d] %q: not a result; use %s", i, r, strings.Join(Results, ", "))
		}
	}
	return nil
}

// CheckEndpoint checks a Slack or webhook endpoint: an absolute http or
// https URL with a host. Loopback and private addresses are allowed: an
// organisation admin sets endpoints, and may run the receiver next to
// Baton.
func CheckEndpoint(field, raw string) error {
	if len(raw) > maxEndpointLen {
		return invalid("%s: longer than %d characters", field, maxEndpointLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return invalid("%s %s: not an http:// or https:// URL", field, Redact(raw))
	}
	if strings.ContainsFunc(raw, unicode.IsControl) || strings.ContainsAny(raw, " ") {
		return invalid("%s %s: spaces or control characters", field, Redact(raw))
	}
	return nil
}

// checkChannels checks Slack channels ("#name", "@user" or an ID).
func checkChannels(l []string) error {
	if len(l) > maxChannels {
		return invalid("slack channels: at most %d", maxChannels)
	}
	for i, c := range l {
		if c == "" || len(c) > 128 || strings.ContainsFunc(c, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
			return invalid("slack channels[%d] %q: give #channel, @user or a channel ID without spaces", i, c)
		}
	}
	return nil
}

// Redact shows an endpoint without what may be a credential: its scheme
// and host, and "…" for the rest (an incoming-webhook URL's path is its
// token).
func Redact(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// matchOne reports whether s matches an entry: equal, or found by the
// /regex/.
func matchOne(entry, s string) bool {
	if isRegex(entry) {
		re, err := regexp.Compile(entry[1 : len(entry)-1])
		return err == nil && re.MatchString(s)
	}
	return entry == s
}

// matchAny reports whether any of values matches the filter (an empty
// filter matches anything).
func matchAny(filter []string, values ...string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, e := range filter {
		for _, v := range values {
			if v != "" && matchOne(e, v) {
				return true
			}
		}
	}
	return false
}

// ProjectAllowed reports whether n may send about proj: a public project
// when the project filter is empty or any entry matches it, a private
// project only when an entry names it exactly.
func ProjectAllowed(n *store.Notification, proj *ci.Project) bool {
	if !proj.Public {
		return slices.Contains(n.Projects, proj.Name)
	}
	return matchAny(n.Projects, proj.Name)
}

// Refs are the names a workflow's branch filter is matched against: the
// branch of a branch push; the tag of a tag; both the base and the head
// branch of a pull request.
func Refs(wf *ci.Workflow) []string {
	switch wf.RefType {
	case "tag":
		return []string{wf.Tag}
	case "pull-request":
		return []string{wf.Branch, wf.PRBranch}
	}
	return []string{wf.Branch}
}

// Matches reports whether n's rule matches pipeline p, which ended, of
// workflow wf of project proj.
func Matches(n *store.Notification, proj *ci.Project, wf *ci.Workflow, p *ci.Pipeline) bool {
	return ProjectAllowed(n, proj) &&
		matchAny(n.Branches, Refs(wf)...) &&
		matchAny(n.Pipelines, p.File) &&
		(len(n.Results) == 0 || slices.Contains(n.Results, string(p.Result)))
}
