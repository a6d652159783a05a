// Package gitlab adapts GitLab: Push Hook, Tag Push Hook and Merge
// Request Hook webhooks authenticated with X-Gitlab-Token, and the commit
// statuses API.
package gitlab

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/forge"
)

// DefaultURL is GitLab.com.
const DefaultURL = "https://gitlab.com"

// GitLab is the adapter; build it with New.
type GitLab struct {
	api   string
	token string
	http  *http.Client
}

var _ forge.Forge = (*GitLab)(nil)

// New returns the adapter for the GitLab at base (its web URL, "" for
// GitLab.com; the API is base/api/v4) with an API token. A nil client
// means http.DefaultClient.
func New(base, token string, c *http.Client) *GitLab {
	if base == "" {
		base = DefaultURL
	}
	return &GitLab{api: strings.TrimRight(base, "/") + "/api/v4", token: token, http: c}
}

// Name is "gitlab".
func (*GitLab) Name() string { return "gitlab" }

// Delivery returns X-Gitlab-Event-UUID and X-Gitlab-Event.
func (*GitLab) Delivery(h http.Header) (id, event string) {
	id = h.Get("X-Gitlab-Event-UUID")
	if id == "" {
		id = h.Get("X-Gitlab-Webhook-UUID")
	}
	return id, h.Get("X-Gitlab-Event")
}

// Verify compares X-Gitlab-Token with secret in constant time.
func (*GitLab) Verify(secret string, h http.Header, _ []byte) bool {
	got := h.Get("X-Gitlab-Token")
	return secret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
}

type project struct {
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
}

type pushPayload struct {
	ObjectKind   string `json:"object_kind"`
	Ref          string `json:"ref"`
	Before       string `json:"before"`
	After        string `json:"after"`
	UserUsername string `json:"user_username"`
}

type mrPayload struct {
	ObjectKind string `json:"object_kind"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	Project          project `json:"project"`
	ObjectAttributes struct {
		IID          int      `json:"iid"`
		Title        string   `json:"title"`
		SourceBranch string   `json:"source_branch"`
		TargetBranch string   `json:"target_branch"`
		Action       string   `json:"action"`
		OldRev       string   `json:"oldrev"`
		Source       *project `json:"source"`
		Target       *project `json:"target"`
		LastCommit   struct {
			ID     string `json:"id"`
			Author struct {
				Name string `json:"name"`
			} `json:"author"`
		} `json:"last_commit"`
	} `json:"object_attributes"`
}

// ParseHook decodes Push Hook, Tag Push Hook and Merge Request Hook
// events. A merge request hook names no base commit: the base branch's
// head is used.
func (g *GitLab) ParseHook(h http.Header, body []byte) (*forge.Event, error) {
	_, name := g.Delivery(h)
	ev := &forge.Event{Kind: forge.Ignored, Name: name}
	switch name {
	case "Push Hook", "Tag Push Hook":
		var p pushPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("%w: %v", forge.ErrMalformed, err)
		}
		if p.Ref == "" {
			return nil, fmt.Errorf("%w: push without ref", forge.ErrMalformed)
		}
		ev.Kind, ev.Ref, ev.Before, ev.After, ev.Sender = forge.Push, p.Ref, p.Before, p.After, p.UserUsername
		ev.Deleted = strings.Trim(p.After, "0") == ""
	case "Merge Request Hook":
		var p mrPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("%w: %v", forge.ErrMalformed, err)
		}
		a := p.ObjectAttributes
		if a.IID <= 0 || a.LastCommit.ID == "" || a.TargetBranch == "" {
			return nil, fmt.Errorf("%w: merge request without iid, last commit or target branch", forge.ErrMalformed)
		}
		ev.Kind, ev.Sender = forge.PullRequest, p.User.Username
		ev.PR = &forge.PR{Number: a.IID, Title: a.Title, Author: a.LastCommit.Author.Name,
			BaseBranch: a.TargetBranch, BaseRepo: p.Project.PathWithNamespace,
			HeadBranch: a.SourceBranch, HeadSHA: a.LastCommit.ID}
		if a.Target != nil {
			ev.PR.BaseRepo = a.Target.PathWithNamespace
		}
		if a.Source != nil {
			ev.PR.HeadRepo, ev.PR.HeadCloneURL = a.Source.PathWithNamespace, a.Source.GitHTTPURL
		}
		switch a.Action {
		case "open":
			ev.PRAction = forge.PROpened
		case "update":
			// An update without oldrev changed the title, labels...
			// not the commits.
			ev.PRAction = forge.PROther
			if a.OldRev != "" {
				ev.PRAction = forge.PRUpdated
			}
		case "reopen":
			ev.PRAction = forge.PRReopened
		case "close", "merge":
			ev.PRAction = forge.PRClosed
		default:
			ev.PRAction = forge.PROther
		}
	}
	return ev, nil
}

// SetStatus posts to /api/v4/projects/{id}/statuses/{sha}; repo is the
// project's path (group/name) or numeric ID. Running is GitLab's
// "running"; failure and error are both its "failed". The status names
// its ref: a merge request's refs/merge-requests/IID/head, which GitLab
// keeps in the project for every merge request (a fork's head is on no
// branch of it, and GitLab refuses a status on such a commit without a
// ref), else the branch or tag. GitLab refuses a state the status
// already has ("Cannot transition status via :enqueue from :pending"):
// that answer means the status is as asked, and is no error.
func (g *GitLab) SetStatus(ctx context.Context, repo, sha string, st forge.Status) error {
	if repo == "" {
		return fmt.Errorf("gitlab: no project")
	}
	state := map[forge.State]string{forge.Pending: "pending", forge.Running: "running", forge.Success: "success",
		forge.Failure: "failed", forge.Error: "failed"}[st.State]
	if state == "" {
		return fmt.Errorf("gitlab: unknown state %q", st.State)
	}
	id := repo
	if _, err := strconv.Atoi(repo); err != nil {
		id = url.PathEscape(repo) // group/name → group%2Fname
	}
	u := g.api + "/projects/" + id + "/statuses/" + url.PathEscape(sha)
	body := map[string]string{
		"state":       state,
		"target_url":  st.TargetURL,
		"description": st.Description,
		"name":        st.Context,
	}
	switch {
	case st.PullRequest != "":
		body["ref"] = "refs/merge-requests/" + st.PullRequest + "/head"
	case st.Ref != "":
		body["ref"] = st.Ref
	}
	hdr := map[string]string{}
	if g.token != "" {
		hdr["PRIVATE-TOKEN"] = g.token
	}
	err := forge.PostJSON(ctx, g.http, u, hdr, body)
	if already(err, state) {
		return nil
	}
	return err
}

// transitions are the state each of GitLab's status events leads to.
var transitions = map[string]string{"enqueue": "pending", "run": "running", "succeed": "success", "drop": "failed", "cancel": "canceled"}

// transitionRE matches GitLab's refusal of a status it cannot move.
var transitionRE = regexp.MustCompile(`Cannot transition status via :(\w+) from :(\w+)`)

// already reports whether err is GitLab's refusal to set a status to the
// state it already has.
func already(err error, state string) bool {
	var se *forge.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		return false
	}
	m := transitionRE.FindStringSubmatch(se.Body)
	return m != nil && transitions[m[1]] == m[2] && m[2] == state
}
