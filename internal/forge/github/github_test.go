package github_test

import (
	"net/http"
	"testing"

	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/forge/github"
)

func suite() forgetest.Suite {
	return forgetest.Suite{
		New: func(url string) forge.Forge { return github.New(url, "tok", nil) },
		Sign: func(h http.Header, secret string, body []byte) {
			h.Set("X-Hub-Signature-256", github.Sign(secret, body))
		},
		EventHeader: "X-GitHub-Event",
		SignsBody:   true,
		Repo:        "octo-org/widget",
		StatusPath:  "/repos/octo-org/widget/statuses/abc123",
		AuthHeader:  "Authorization",
		AuthValue:   "Bearer tok",
		StateField:  "state",
		States:      map[forge.State]string{forge.Pending: "pending", forge.Success: "success", forge.Failure: "failure", forge.Error: "error"},
		Fixtures: []forgetest.Fixture{
			{File: "push.json", Event: "push", Want: forge.Event{Kind: forge.Push, Name: "push", Ref: "refs/heads/main",
				Before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", Sender: "octocat"}},
			{File: "push_delete_tag.json", Event: "push", Want: forge.Event{Kind: forge.Push, Name: "push", Ref: "refs/tags/v1.0.0",
				Before: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", After: "0000000000000000000000000000000000000000", Deleted: true, Sender: "octocat"}},
			{File: "pull_request_opened_fork.json", Event: "pull_request", Want: forge.Event{Kind: forge.PullRequest, Name: "pull_request", Sender: "forker",
				PRAction: forge.PROpened, PR: &forge.PR{Number: 42, Title: "Make the widget blue", Author: "forker",
					BaseBranch: "main", BaseSHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", BaseRepo: "octo-org/widget",
					HeadBranch: "blue", HeadSHA: "e5bd3914e2e596debea16f433f57875b5b90bcd6", HeadRepo: "forker/widget",
					HeadCloneURL: "https://github.com/forker/widget.git"}}},
			{File: "pull_request_closed.json", Event: "pull_request", Want: forge.Event{Kind: forge.PullRequest, Name: "pull_request", Sender: "octocat",
				PRAction: forge.PRClosed, PR: &forge.PR{Number: 42, Title: "Make the widget blue",
					BaseBranch: "main", BaseSHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", BaseRepo: "octo-org/widget",
					HeadBranch: "blue", HeadSHA: "e5bd3914e2e596debea16f433f57875b5b90bcd6", HeadRepo: "octo-org/widget",
					HeadCloneURL: "https://github.com/octo-org/widget.git"}}},
			{File: "push.json", Event: "ping", Want: forge.Event{Kind: forge.Ping, Name: "ping"}},
		},
	}
}

func TestContract(t *testing.T) { forgetest.Run(t, suite()) }

func TestFork(t *testing.T) {
	pr := &forge.PR{BaseRepo: "octo-org/widget", HeadRepo: "forker/widget"}
	if !pr.FromFork() {
		t.Error("a head in forker/widget is not from a fork")
	}
}

func FuzzParse(f *testing.F) {
	forgetest.Fuzz(f, github.New("", "", nil), "X-GitHub-Event", []string{"push", "pull_request", "ping"})
}
