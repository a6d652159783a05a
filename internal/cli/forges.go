package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/forge/hosts"
)

// forgeSetup turns project create's forge flags into API fields: the
// clone URL derived from the repository (unless --clone-url is given),
// the token read from stdin, and a webhook secret generated when none is
// given. It returns the secret to print.
func forgeSetup(o *IO, body map[string]any, kind, forgeURL, repo, cloneURL string, tokenStdin bool, secret string) (string, error) {
	if kind == "git" {
		kind = ""
	}
	if _, err := hosts.New(kind, forgeURL, "", nil); err != nil {
		return "", err
	}
	if kind != "" {
		body["forge"], body["forge_repo"] = kind, strings.Trim(repo, "/")
		if forgeURL != "" {
			body["forge_url"] = strings.TrimRight(forgeURL, "/")
		}
		if cloneURL == "" {
			u, err := hosts.CloneURL(kind, forgeURL, repo)
			if err != nil {
				return "", err
			}
			cloneURL = u
		}
		body["repo_url"] = cloneURL
	}
	if tokenStdin {
		line, err := bufio.NewReader(o.In).ReadString('\n')
		token := strings.TrimSpace(line)
		if token == "" {
			return "", fmt.Errorf("--token-stdin: no token on standard input (%v)", err)
		}
		body["forge_token"] = token
	}
	if secret == "" && kind != "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		secret = hex.EncodeToString(b)
	}
	if secret != "" {
		body["webhook_secret"] = secret
	}
	return secret, nil
}

// printWebhookSetup tells the user what to paste into the forge.
func printWebhookSetup(o *IO, server, project, kind, secret string) {
	hookURL := server + "/hooks/" + url.PathEscape(project)
	switch kind {
	case "gitlab":
		fmt.Fprintf(o.Out, "GitLab webhook (Settings → Webhooks):\n  URL:          %s\n  Secret token: %s\n  Triggers:     Push events, Tag push events, Merge request events\n", hookURL, secret)
	case "gitea":
		fmt.Fprintf(o.Out, "Gitea webhook (Settings → Webhooks → Gitea):\n  Target URL:   %s\n  Content type: application/json\n  Secret:       %s\n  Events:       Push, Pull Request\n", hookURL, secret)
	default:
		fmt.Fprintf(o.Out, "GitHub webhook (Settings → Webhooks):\n  Payload URL:  %s\n  Content type: application/json\n  Secret:       %s\n  Events:       Pushes, Pull requests\n", hookURL, secret)
	}
}

func projectDeliveriesCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "project deliveries", summary: "list a project's recent webhook deliveries", usage: "PROJECT [--json]",
			help: "Lists the webhook deliveries the server received for a project, newest first, with what it made of them.\nNeeds the project's admin role."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton project deliveries: usage: baton project deliveries PROJECT [--json]")
				return ExitUsage
			}
			ds := []apiv1.DeliveryView{}
			if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(args[0])+"/deliveries", nil, &ds); err != nil {
				return failAPI(o, "project deliveries", err)
			}
			if asJSON {
				printJSON(o.Out, ds)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tWHEN\tEVENT\tSTATUS\tHTTP\tMESSAGE")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.CreatedAt.Local().Format("2006-01-02 15:04:05"), d.Event, d.Status, d.HTTPStatus, d.Message)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func projectRedeliverCommand() *command {
	return apiCommand{
		command: &command{name: "project redeliver", summary: "process a webhook delivery again", usage: "PROJECT DELIVERY_ID",
			help: "Processes a recorded webhook delivery again, as if the forge had sent it now: a push or pull request\nis built again even if it was built already. Needs the project's admin role."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 {
				fmt.Fprintln(o.Err, "baton project redeliver: usage: baton project redeliver PROJECT DELIVERY_ID")
				return ExitUsage
			}
			var d apiv1.DeliveryView
			path := "/api/v1/projects/" + url.PathEscape(args[0]) + "/deliveries/" + url.PathEscape(args[1]) + "/redeliver"
			if err := c.do(ctx, "POST", path, nil, &d); err != nil {
				return failAPI(o, "project redeliver", err)
			}
			fmt.Fprintf(o.Out, "Redelivered %s as %s: %d %s\n", args[1], d.ID, d.HTTPStatus, d.Message)
			if d.HTTPStatus >= 300 {
				return ExitFailure
			}
			return ExitOK
		},
	}.build(nil)
}
