// Package hosts picks the forge adapter of a project: it is the one place
// that knows every adapter, so that they need not know each other.
package hosts

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/gitea"
	"github.com/batonci/baton/internal/forge/github"
	"github.com/batonci/baton/internal/forge/gitlab"
)

// Kinds are the forge kinds a project may name ("" is plain git).
var Kinds = []string{"github", "gitlab", "gitea"}

// New returns the adapter of a forge kind. webURL is the forge's web
// address for a self-hosted one ("" for github.com or gitlab.com; Gitea
// needs it). A kind of "" (plain git) gets GitHub's adapter, whose push
// webhook format Baton has always accepted.
func New(kind, webURL, token string, c *http.Client) (forge.Forge, error) {
	webURL = strings.TrimRight(webURL, "/")
	switch kind {
	case "", "github":
		api := ""
		if webURL != "" && webURL != "https://github.com" {
			api = webURL + "/api/v3"
		}
		return github.New(api, token, c), nil
	case "gitlab":
		return gitlab.New(webURL, token, c), nil
	case "gitea":
		if webURL == "" {
			return nil, fmt.Errorf("forge gitea needs its URL")
		}
		return gitea.New(webURL, token, c), nil
	}
	return nil, fmt.Errorf("unknown forge %q (want %s)", kind, strings.Join(Kinds, ", "))
}

// CloneURL derives the HTTPS clone URL of repo (owner/name) on a forge.
func CloneURL(kind, webURL, repo string) (string, error) {
	webURL = strings.TrimRight(webURL, "/")
	if webURL == "" {
		switch kind {
		case "github":
			webURL = "https://github.com"
		case "gitlab":
			webURL = "https://gitlab.com"
		default:
			return "", fmt.Errorf("forge %q needs --forge-url", kind)
		}
	}
	if repo == "" || strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") || !strings.Contains(repo, "/") {
		return "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return webURL + "/" + strings.TrimSuffix(repo, ".git") + ".git", nil
}
