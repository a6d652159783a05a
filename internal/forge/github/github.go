// Package github adapts GitHub (and GitHub Enterprise): push and
// pull_request webhooks signed with X-Hub-Signature-256, and the commit
// statuses API.
package github

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

// DefaultAPI is GitHub.com's API.
const DefaultAPI = "https://api.github.com"

// GitHub is the adapter; build it with New.
type GitHub struct {
	api   string
	token string
	http  *http.Client
}

var _ forge.Forge = (*GitHub)(nil)

// New returns the adapter for the API at api ("" for GitHub.com; GitHub
// Enterprise's is https://HOST/api/v3) with an API token (may be "" when
// only webhooks are used). A nil client means http.DefaultClient.
func New(api, token string, c *http.Client) *GitHub {
	if api == "" {
		api = DefaultAPI
	}
	return &GitHub{api: strings.TrimRight(api, "/"), token: token, http: c}
}

// Name is "github".
func (*GitHub) Name() string { return "github" }

// Delivery returns X-GitHub-Delivery and X-GitHub-Event.
func (*GitHub) Delivery(h http.Header) (id, event string) {
	return h.Get("X-GitHub-Delivery"), h.Get("X-GitHub-Event")
}

// Verify checks X-Hub-Signature-256: "sha256=" and the hex HMAC-SHA256
// of the body keyed with secret.
func (*GitHub) Verify(secret string, h http.Header, body []byte) bool {
	return VerifySignature(secret, body, h.Get("X-Hub-Signature-256"))
}

// VerifySignature checks a "sha256=<hex hmac>" header in constant time.
func VerifySignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Hub-Signature-256 value of body, for tests and
// tools.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

type repo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

type pushPayload struct {
	Ref     string `json:"ref"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
	Pusher  struct {
		Name string `json:"name"`
	} `json:"pusher"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

type prPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		User   struct {
			Login string `json:"login"`
		} `json:"user"`
		Head struct {
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
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

// ParseHook decodes ping, push and pull_request events.
func (g *GitHub) ParseHook(h http.Header, body []byte) (*forge.Event, error) {
	_, name := g.Delivery(h)
	ev := &forge.Event{Kind: forge.Ignored, Name: name}
	switch name {
	case "ping":
		ev.Kind = forge.Ping
	case "push":
		var p pushPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("%w: %v", forge.ErrMalformed, err)
		}
		if p.Ref == "" {
			return nil, fmt.Errorf("%w: push without ref", forge.ErrMalformed)
		}
		ev.Kind, ev.Ref, ev.Before, ev.After, ev.Deleted = forge.Push, p.Ref, p.Before, p.After, p.Deleted
		ev.Sender = p.Pusher.Name
		if p.Sender.Login != "" {
			ev.Sender = p.Sender.Login
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
		ev.Kind, ev.Sender = forge.PullRequest, p.Sender.Login
		ev.PR = &forge.PR{Number: p.Number, Title: pr.Title, Author: pr.User.Login,
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
		case "synchronize":
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

// SetStatus posts to /repos/{owner}/{repo}/statuses/{sha}.
func (g *GitHub) SetStatus(ctx context.Context, repo, sha string, st forge.Status) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return fmt.Errorf("github: repository %q is not owner/name", repo)
	}
	u := g.api + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/" + url.PathEscape(sha)
	body := map[string]string{
		"state":       string(pendingIfRunning(st.State)),
		"target_url":  st.TargetURL,
		"description": truncate(st.Description, 140),
		"context":     st.Context,
	}
	hdr := map[string]string{"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
	if g.token != "" {
		hdr["Authorization"] = "Bearer " + g.token
	}
	return forge.PostJSON(ctx, g.http, u, hdr, body)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// pendingIfRunning maps Running, which this forge does not have, to
// Pending.
func pendingIfRunning(s forge.State) forge.State {
	if s == forge.Running {
		return forge.Pending
	}
	return s
}
