package gitlab_test

import (
	"net/http"
	"testing"

	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/forge/gitlab"
)

func TestContract(t *testing.T) {
	forgetest.Run(t, forgetest.Suite{
		New:         func(url string) forge.Forge { return gitlab.New(url, "tok", nil) },
		Sign:        func(h http.Header, secret string, _ []byte) { h.Set("X-Gitlab-Token", secret) },
		EventHeader: "X-Gitlab-Event",
		Repo:        "gitlabhq/gitlab-test",
		StatusPath:  "/api/v4/projects/gitlabhq%2Fgitlab-test/statuses/abc123",
		AuthHeader:  "PRIVATE-TOKEN",
		AuthValue:   "tok",
		StateField:  "state",
		States:      map[forge.State]string{forge.Pending: "pending", forge.Success: "success", forge.Failure: "failed", forge.Error: "failed"},
		Fixtures: []forgetest.Fixture{
			{File: "push.json", Event: "Push Hook", Want: forge.Event{Kind: forge.Push, Name: "Push Hook", Ref: "refs/heads/main",
				Before: "95790bf891e76fee5e1747ab589903a6a1f80f22", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Sender: "jsmith"}},
			{File: "tag_push_delete.json", Event: "Tag Push Hook", Want: forge.Event{Kind: forge.Push, Name: "Tag Push Hook", Ref: "refs/tags/v1.0.0",
				Before: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", After: "0000000000000000000000000000000000000000", Deleted: true, Sender: "jsmith"}},
			{File: "merge_request_update_fork.json", Event: "Merge Request Hook", Want: forge.Event{Kind: forge.PullRequest, Name: "Merge Request Hook", Sender: "root",
				PRAction: forge.PRUpdated, PR: &forge.PR{Number: 1, Title: "MS-Viewport", Author: "GitLab dev user",
					BaseBranch: "master", BaseRepo: "gitlabhq/gitlab-test",
					HeadBranch: "ms-viewport", HeadSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", HeadRepo: "awesome_space/awesome_project",
					HeadCloneURL: "https://gitlab.example.com/awesome_space/awesome_project.git"}}},
			{File: "merge_request_merge.json", Event: "Merge Request Hook", Want: forge.Event{Kind: forge.PullRequest, Name: "Merge Request Hook", Sender: "root",
				PRAction: forge.PRClosed, PR: &forge.PR{Number: 1, Title: "MS-Viewport",
					BaseBranch: "master", BaseRepo: "gitlabhq/gitlab-test",
					HeadBranch: "ms-viewport", HeadSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", HeadRepo: "gitlabhq/gitlab-test",
					HeadCloneURL: "https://gitlab.example.com/gitlabhq/gitlab-test.git"}}},
		},
	})
}

func TestNumericProjectID(t *testing.T) {
	fake := forgetest.NewStatusServer(t)
	if err := gitlab.New(fake.URL(), "tok", nil).SetStatus(t.Context(), "15", "abc", forge.Status{State: forge.Success}); err != nil {
		t.Fatal(err)
	}
	if got, want := fake.Calls()[0].Path, "/api/v4/projects/15/statuses/abc"; got != want {
		t.Errorf("posted to %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	forgetest.Fuzz(f, gitlab.New("", "", nil), "X-Gitlab-Event", []string{"Push Hook", "Tag Push Hook", "Merge Request Hook"})
}
