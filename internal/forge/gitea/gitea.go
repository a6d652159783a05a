// Package gitea adapts Gitea (and Forgejo): push and pull_request webhooks
// signed with X-Gitea-Signature, and the commit statuses API.
package gitea

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/forge"
)

// Gitea is the adapter; build it with New.
type Gitea struct {
	api   string
	token string
	http  *http.Client
}

var _ forge.Forge = (*Gitea)(nil)

// New returns the adapter for the Gitea at base (its web URL, such as
// https://gitea.example.com; the API is base/api/v1) with an API token.
// A nil client means http.DefaultClient.
func New(base, token string, c *http.Client) *Gitea {
	return &Gitea{api: strings.TrimRight(base, "/") + "/api/v1", token: token, http: c}
}

// Name is "gitea".
func (*Gitea) Name() string { return "gitea" }

// Delivery returns X-Gitea-Delivery and X-Gitea-Event.
func (*Gitea) Delivery(h http.Header) (id, event string) {
	return h.Get("X-Gitea-Delivery"), h.Get("X-Gitea-Event")
}

// Verify checks X-Gitea-Signature: the hex HMAC-SHA256 of the body keyed
// with secret.
func (*Gitea) Verify(secret string, h http.Header, body []byte) bool {
	if secret == "" {
		return false
	}
	got, err := hex.DecodeString(h.Get("X-Gitea-Signature"))
	if err != nil || len(got) == 0 {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Gitea-Signature value of body, for tests and tools.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

type user struct {
	Login    string `json:"login"`
	Username string `json:"username"`
}

func (u user) name() string {
	if u.Login != "" {
		return u.Login
	}
	return u.Username
}

type repo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

type pushPayload struct {
	Ref    string `json:"ref"`
	Before string `json:"before"`
	After  string `json:"after"`
	Pusher user   `json:"pusher"`
	Sender user   `json:"sender"`
}

type prPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		User   user   `json:"user"`
		Head   struct {
			Ref  string `json:"ref"`
			SHA  string `json:"sha"`
			Repo *repo  `json:"repo"`
		} `json:"head"`
		Base struct {
			Ref  string `json:"ref"`
			SHA  string `json:"sha"`
			Repo *repo  `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Sender user `json:"sender"`
}

// ParseHook decodes push and pull_request events.
func (g *Gitea) ParseHook(h http.Header, body []byte) (*forge.Event, error) {
	_, name := g.Delivery(h)
	ev := &forge.Event{Kind: forge.Ignored, Name: name}
	switch name {
	case "push":
		var p pushPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("%w: %v", forge.ErrMalformed, err)
		}
		if p.Ref == "" {
			return nil, fmt.Errorf("%w: push without ref", forge.ErrMalformed)
		}
		ev.Kind, ev.Ref, ev.Before, ev.After = forge.Push, p.Ref, p.Before, p.After
		ev.Deleted = strings.Trim(p.After, "0") == ""
		ev.Sender = p.Pusher.name()
		if ev.Sender == "" {
			ev.Sender = p.Sender.name()
		}
	case "pull_request":
		var p prPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("%w: %v", forge.ErrMalformed, err)
		}
		pr := p.PullRequest
		if p.Number == 0 {
			p.Number = pr.Number
		}
		if p.Number <= 0 || pr.Head.SHA == "" || pr.Base.Ref == "" {
			return nil, fmt.Errorf("%w: pull_request without number, head sha or base ref", forge.ErrMalformed)
		}
		ev.Kind, ev.Sender = forge.PullRequest, p.Sender.name()
		ev.PR = &forge.PR{Number: p.Number, Title: pr.Title, Author: pr.User.name(),
			BaseBranch: pr.Base.Ref, BaseSHA: pr.Base.SHA,
			HeadBranch: pr.Head.Ref, HeadSHA: pr.Head.SHA}
		if pr.Base.Repo != nil {
			ev.PR.BaseRepo = pr.Base.Repo.FullName
		}
		if pr.Head.Repo != nil {
			ev.PR.HeadRepo, ev.PR.HeadCloneURL = pr.Head.Repo.FullName, pr.Head.Repo.CloneURL
		}
		switch p.Action {
		case "opened":
			ev.PRAction = forge.PROpened
		case "synchronized", "synchronize":
			ev.PRAction = forge.PRUpdated
		case "reopened":
			ev.PRAction = forge.PRReopened
		case "closed":
			ev.PRAction = forge.PRClosed
		default:
			ev.PRAction = forge.PROther
		}
	}
	return ev, nil
}

// SetStatus posts to /api/v1/repos/{owner}/{repo}/statuses/{sha}.
func (g *Gitea) SetStatus(ctx context.Context, repo, sha string, st forge.Status) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return fmt.Errorf("gitea: repository %q is not owner/name", repo)
	}
	u := g.api + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/" + url.PathEscape(sha)
	body := map[string]string{
		"state":       string(pendingIfRunning(st.State)),
		"target_url":  st.TargetURL,
		"description": st.Description,
		"context":     st.Context,
	}
	hdr := map[string]string{}
	if g.token != "" {
		hdr["Authorization"] = "token " + g.token
	}
	return forge.PostJSON(ctx, g.http, u, hdr, body)
}

// pendingIfRunning maps Running, which this forge does not have, to
// Pending.
func pendingIfRunning(s forge.State) forge.State {
	if s == forge.Running {
		return forge.Pending
	}
	return s
}
