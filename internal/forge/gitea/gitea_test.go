package gitea_test

import (
	"net/http"
	"testing"

	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/forge/gitea"
)

func TestContract(t *testing.T) {
	forgetest.Run(t, forgetest.Suite{
		New:         func(url string) forge.Forge { return gitea.New(url, "tok", nil) },
		Sign:        func(h http.Header, secret string, body []byte) { h.Set("X-Gitea-Signature", gitea.Sign(secret, body)) },
		EventHeader: "X-Gitea-Event",
		SignsBody:   true,
		Repo:        "gitea/webhooks",
		StatusPath:  "/api/v1/repos/gitea/webhooks/statuses/abc123",
		AuthHeader:  "Authorization",
		AuthValue:   "token tok",
		StateField:  "state",
		States:      map[forge.State]string{forge.Pending: "pending", forge.Success: "success", forge.Failure: "failure", forge.Error: "error"},
		Fixtures: []forgetest.Fixture{
			{File: "push.json", Event: "push", Want: forge.Event{Kind: forge.Push, Name: "push", Ref: "refs/heads/develop",
				Before: "28e1879d029cb852e4844d9c718537df08844e03", After: "bffeb74224043ba2feb48d137756c8a9331c449a", Sender: "gitea"}},
			{File: "pull_request_synchronized.json", Event: "pull_request", Want: forge.Event{Kind: forge.PullRequest, Name: "pull_request", Sender: "gitea",
				PRAction: forge.PRUpdated, PR: &forge.PR{Number: 7, Title: "Speed up the frobnicator", Author: "gitea",
					BaseBranch: "master", BaseSHA: "28e1879d029cb852e4844d9c718537df08844e03", BaseRepo: "gitea/webhooks",
					HeadBranch: "fast", HeadSHA: "bffeb74224043ba2feb48d137756c8a9331c449a", HeadRepo: "gitea/webhooks",
					HeadCloneURL: "https://gitea.example.com/gitea/webhooks.git"}}},
			{File: "pull_request_closed.json", Event: "pull_request", Want: forge.Event{Kind: forge.PullRequest, Name: "pull_request", Sender: "gitea",
				PRAction: forge.PRClosed, PR: &forge.PR{Number: 7, Title: "Speed up the frobnicator",
					BaseBranch: "master", BaseSHA: "28e1879d029cb852e4844d9c718537df08844e03", BaseRepo: "gitea/webhooks",
					HeadBranch: "fast", HeadSHA: "bffeb74224043ba2feb48d137756c8a9331c449a", HeadRepo: "someone/webhooks",
					HeadCloneURL: "https://gitea.example.com/someone/webhooks.git"}}},
		},
	})
}

func FuzzParse(f *testing.F) {
	forgetest.Fuzz(f, gitea.New("", "", nil), "X-Gitea-Event", []string{"push", "pull_request"})
}
