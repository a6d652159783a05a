// Package forge is the vocabulary of git hosts (GitHub, GitLab, Gitea):
// the events their webhooks deliver, normalised, and the commit statuses
// Baton reports back. Each host is an adapter in a subpackage
// (forge/github, forge/gitlab, forge/gitea) implementing Forge; the
// forgetest package is the contract every adapter passes.
package forge

import (
	"context"
	"errors"
	"net/http"
)

// Forge is one git host's webhook and status API.
type Forge interface {
	// Name is the forge kind: "github", "gitlab" or "gitea".
	Name() string
	// Delivery returns a delivery's ID and the forge's event name, from
	// its headers ("" when absent).
	Delivery(h http.Header) (id, event string)
	// Verify reports whether the delivery is authentic for secret, with
	// the forge's own scheme, in constant time. An empty secret verifies
	// nothing.
	Verify(secret string, h http.Header, body []byte) bool
	// ParseHook decodes a verified delivery. Events Baton does not act on
	// give an Event of kind Ignored; a malformed body gives an error
	// wrapping ErrMalformed.
	ParseHook(h http.Header, body []byte) (*Event, error)
	// SetStatus reports a commit status on the repository (owner/name,
	// or a GitLab project path or ID).
	SetStatus(ctx context.Context, repo, sha string, st Status) error
}

// ErrMalformed marks a delivery whose body cannot be understood.
var ErrMalformed = errors.New("malformed webhook payload")

// Kind is what a webhook event asks of Baton.
type Kind string

// The kinds of events.
const (
	// Ping is a forge checking the hook.
	Ping Kind = "ping"
	// Push is a push to a branch or tag (or its deletion).
	Push Kind = "push"
	// PullRequest is a pull (merge) request opened, updated, reopened or
	// closed.
	PullRequest Kind = "pull_request"
	// Ignored is any other event.
	Ignored Kind = "ignored"
)

// PRAction is what happened to a pull request.
type PRAction string

// The pull request actions Baton acts on; others are PROther.
const (
	PROpened   PRAction = "opened"
	PRUpdated  PRAction = "synchronize" // new commits on the head
	PRReopened PRAction = "reopened"
	PRClosed   PRAction = "closed" // closed or merged
	PROther    PRAction = "other"
)

// Event is a webhook delivery, normalised.
type Event struct {
	Kind Kind
	// Name is the forge's own event name ("push", "Merge Request Hook").
	Name string

	// Push: Ref is the full ref (refs/heads/x or refs/tags/x); Before and
	// After are the old and new commits; Deleted says the ref was
	// deleted.
	Ref, Before, After string
	Deleted            bool
	// Sender is the login of whoever pushed or acted.
	Sender string

	// PR is set for PullRequest events.
	PR       *PR
	PRAction PRAction
}

// PR is a pull (merge) request.
type PR struct {
	Number int
	Title  string
	// Author is who opened the pull request, as the forge names them
	// (GitHub: the login; GitLab: its last commit's author, the hook
	// naming only the user who acted).
	Author string
	// BaseBranch and BaseSHA are the target; BaseRepo is its full name
	// (owner/name).
	BaseBranch, BaseSHA, BaseRepo string
	// HeadBranch and HeadSHA are the source; HeadRepo is its full name
	// and HeadCloneURL its clone URL (a fork's, when they differ from the
	// base's).
	HeadBranch, HeadSHA, HeadRepo, HeadCloneURL string
}

// FromFork reports whether the head is in another repository than the
// base.
func (p *PR) FromFork() bool {
	return p.HeadRepo != "" && p.BaseRepo != "" && p.HeadRepo != p.BaseRepo
}

// State is a commit status.
type State string

// The commit states Baton reports; each forge maps them to its own names.
const (
	Pending State = "pending"
	// Running is a pipeline that started: GitLab's "running"; GitHub and
	// Gitea, which have no such state, say "pending".
	Running State = "running"
	Success State = "success"
	Failure State = "failure"
	Error   State = "error"
)

// Status is a commit status to report.
type Status struct {
	State State
	// TargetURL links to the workflow.
	TargetURL string
	// Description is one line ("2 jobs passed").
	Description string
	// Context names the check ("baton/<pipeline>").
	Context string
	// Ref is the branch or tag the commit was built for; PullRequest the
	// pull request's number when it was built for one (its head may be
	// on no branch of the repository, as a fork's is). GitLab wants a
	// ref for a commit on no branch.
	Ref         string
	PullRequest string
}

// StatusError is a status API's refusal: its HTTP status and body.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return "status API answered " + http.StatusText(e.Code) + ": " + e.Body
}

// Temporary reports whether retrying may help (rate limits and server
// errors).
func (e *StatusError) Temporary() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// MaxBody is the largest webhook body Baton reads.
const MaxBody = 5 << 20
