package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// The `baton notification` commands manage the organisation's
// notifications (organisation admins only): rules that send a pipeline's
// end to Slack and webhooks. Endpoints and the webhook secret go in and
// are shown back as scheme and host only.

func notificationPath(name string) string {
	p := "/api/v1/notifications"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// notificationInput is what create and update read from their flags.
type notificationInput struct {
	projects, branches, pipelines, results, channels multiFlag
	anyProject, anyBranch, anyPipeline, anyResult    bool
	// The endpoints and secret are pointers: set (even to "") or not.
	slack, webhook, secret *string
	// secretStdin reads the secret from standard input instead.
	secretStdin bool
}

type optString struct{ p **string }

func (o optString) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return **o.p
}

func (o optString) Set(s string) error { *o.p = &s; return nil }

func (in *notificationInput) flags(fs *flagSet, update bool) {
	fs.Var(&in.projects, "project", "match the project `NAME` or /REGEX/; repeatable (a private project only when named)")
	fs.Var(&in.branches, "branch", "match the branch `NAME` or /REGEX/; repeatable")
	fs.Var(&in.pipelines, "pipeline", "match the pipeline `FILE` or /REGEX/ (.semaphore/semaphore.yml); repeatable")
	fs.Var(&in.results, "result", "match the `RESULT`: passed, failed, stopped or canceled; repeatable")
	fs.Var(optString{&in.slack}, "slack-endpoint", "send to the Slack incoming-webhook `URL`"+map[bool]string{true: " ('' removes Slack)"}[update])
	fs.Var(&in.channels, "slack-channel", "post to the Slack `CHANNEL` (#name or @user); repeatable")
	fs.Var(optString{&in.webhook}, "webhook-endpoint", "POST JSON to the webhook `URL`"+map[bool]string{true: " ('' removes the webhook)"}[update])
	fs.Var(optString{&in.secret}, "webhook-secret", "sign webhook bodies with `SECRET` (header X-Baton-Signature-256); visible in the shell's history and ps, prefer --webhook-secret-stdin")
	fs.BoolVar(&in.secretStdin, "webhook-secret-stdin", false, "read the webhook secret from the first line of standard input")
	if update {
		fs.BoolVar(&in.anyProject, "any-project", false, "clear the project filter (every public project)")
		fs.BoolVar(&in.anyBranch, "any-branch", false, "clear the branch filter")
		fs.BoolVar(&in.anyPipeline, "any-pipeline", false, "clear the pipeline filter")
		fs.BoolVar(&in.anyResult, "any-result", false, "clear the result filter")
	}
}

// readSecret takes the secret from standard input when asked to.
func (in *notificationInput) readSecret(o *IO) error {
	if !in.secretStdin {
		return nil
	}
	if in.secret != nil {
		return errors.New("--webhook-secret and --webhook-secret-stdin contradict each other")
	}
	s, err := stdinSecret(o, "webhook secret")
	if err != nil {
		return err
	}
	in.secret = &s
	return nil
}

// body builds the request; on update only what the flags name changes.
func (in *notificationInput) body(body map[string]any, update bool) {
	list := func(key string, l multiFlag, clear bool) {
		switch {
		case len(l) > 0:
			body[key] = []string(l)
		case clear || !update:
			body[key] = []string{}
		}
	}
	list("projects", in.projects, in.anyProject)
	list("branches", in.branches, in.anyBranch)
	list("pipelines", in.pipelines, in.anyPipeline)
	list("results", in.results, in.anyResult)
	if len(in.channels) > 0 {
		body["slack_channels"] = []string(in.channels)
	}
	if in.slack != nil {
		body["slack_endpoint"] = *in.slack
	}
	if in.webhook != nil {
		body["webhook_endpoint"] = *in.webhook
	}
	if in.secret != nil {
		body["webhook_secret"] = *in.secret
	}
}

func notificationTargets(v *apiv1.Notification) string {
	var t []string
	if v.Slack != nil {
		s := "slack " + v.Slack.Endpoint
		if len(v.Slack.Channels) > 0 {
			s += " " + strings.Join(v.Slack.Channels, ",")
		}
		t = append(t, s)
	}
	if v.Webhook != nil {
		s := "webhook " + v.Webhook.Endpoint
		if v.Webhook.Secret {
			s += " (signed)"
		}
		t = append(t, s)
	}
	return strings.Join(t, "; ")
}

const notificationFilterHelp = `A pipeline that ends is sent about when every filter matches: --project,
--branch (a branch, a tag, or a pull request's base or head branch) and
--pipeline take exact names or /regex/, --result passed, failed, stopped or
canceled; a filter not given matches anything. A private project is only
sent about by a notification that names it exactly with --project: an
empty project filter or a /regex/ matches public projects only.`

func notificationCreateCommand() *command {
	var in notificationInput
	return apiCommand{
		command: &command{name: "notification create", summary: "create an organisation notification",
			usage: "NAME [--project P]... [--branch B]... [--pipeline F]... [--result R]... [--slack-endpoint URL [--slack-channel C]...] [--webhook-endpoint URL [--webhook-secret S | --webhook-secret-stdin]]",
			help: "Creates a notification: when a pipeline ends and the rule matches, a message goes to\n" +
				"Slack (one per --slack-channel, or the endpoint's own channel) and/or a JSON body to the\n" +
				"webhook. " + notificationFilterHelp + "\nNeeds organisation admin rights."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton notification create: usage: baton notification create NAME [flags]")
				return ExitUsage
			}
			if err := in.readSecret(o); err != nil {
				fmt.Fprintf(o.Err, "baton notification create: %v\n", err)
				return ExitUsage
			}
			body := map[string]any{"name": args[0]}
			in.body(body, false)
			var v apiv1.Notification
			if err := c.do(ctx, "POST", notificationPath(""), body, &v); err != nil {
				return failAPI(o, "notification create", err)
			}
			fmt.Fprintf(o.Out, "Created notification %s: %s\n", v.Name, notificationTargets(&v))
			return ExitOK
		},
	}.build(func(fs *flagSet) { in.flags(fs, false) })
}

func notificationUpdateCommand() *command {
	var in notificationInput
	return apiCommand{
		command: &command{name: "notification update", summary: "change an organisation notification",
			usage: "NAME [flags of create] [--any-project] [--any-branch] [--any-pipeline] [--any-result]",
			help: "Changes a notification. A filter flag replaces that filter; --any-* clears it. " +
				"--slack-endpoint and --webhook-endpoint replace the endpoint ('' removes the target), " +
				"--slack-channel replaces the channels. What is not named stays."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton notification update: usage: baton notification update NAME [flags]")
				return ExitUsage
			}
			if err := in.readSecret(o); err != nil {
				fmt.Fprintf(o.Err, "baton notification update: %v\n", err)
				return ExitUsage
			}
			body := map[string]any{}
			in.body(body, true)
			var v apiv1.Notification
			if err := c.do(ctx, "PATCH", notificationPath(args[0]), body, &v); err != nil {
				return failAPI(o, "notification update", err)
			}
			fmt.Fprintf(o.Out, "Updated notification %s: %s\n", v.Name, notificationTargets(&v))
			return ExitOK
		},
	}.build(func(fs *flagSet) { in.flags(fs, true) })
}

func notificationListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "notification list", summary: "list the organisation's notifications", usage: "[--json]", help: "Lists the notifications, their filters and targets (endpoints as scheme and host only)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 0 {
				fmt.Fprintln(o.Err, "baton notification list: usage: baton notification list [--json]")
				return ExitUsage
			}
			var vs []apiv1.Notification
			if err := c.do(ctx, "GET", notificationPath(""), nil, &vs); err != nil {
				return failAPI(o, "notification list", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			if len(vs) == 0 {
				fmt.Fprintln(o.Out, "No notifications. Create one with: baton notification create NAME --slack-endpoint URL")
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROJECTS\tBRANCHES\tPIPELINES\tRESULTS\tTARGETS")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, joinOr(v.Projects, "public"), joinOr(v.Branches, "any"),
					joinOr(v.Pipelines, "any"), joinOr(v.Results, "any"), notificationTargets(&v))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func notificationShowCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "notification show", summary: "show an organisation notification", usage: "NAME [--json]", help: "Shows a notification's filters, targets (endpoints as scheme and host only; whether the webhook is signed) and who changed it when."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton notification show: usage: baton notification show NAME [--json]")
				return ExitUsage
			}
			var v apiv1.Notification
			if err := c.do(ctx, "GET", notificationPath(args[0]), nil, &v); err != nil {
				return failAPI(o, "notification show", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			fmt.Fprintf(o.Out, "Notification %s\n", v.Name)
			fmt.Fprintf(o.Out, "Projects:   %s\n", joinOr(v.Projects, "every public project"))
			fmt.Fprintf(o.Out, "Branches:   %s\n", joinOr(v.Branches, "any"))
			fmt.Fprintf(o.Out, "Pipelines:  %s\n", joinOr(v.Pipelines, "any"))
			fmt.Fprintf(o.Out, "Results:    %s\n", joinOr(v.Results, "any"))
			if v.Slack != nil {
				fmt.Fprintf(o.Out, "Slack:      %s channels %s\n", v.Slack.Endpoint, joinOr(v.Slack.Channels, "(the endpoint's own)"))
			}
			if v.Webhook != nil {
				signed := "unsigned"
				if v.Webhook.Secret {
					signed = "signed"
				}
				fmt.Fprintf(o.Out, "Webhook:    %s (%s)\n", v.Webhook.Endpoint, signed)
			}
			fmt.Fprintf(o.Out, "Created:    %s by %s\n", v.CreatedAt.Local().Format(time.RFC3339), orDash(v.CreatedBy))
			fmt.Fprintf(o.Out, "Updated:    %s by %s\n", v.UpdatedAt.Local().Format(time.RFC3339), orDash(v.UpdatedBy))
			return ExitOK
		},
	}.build(nil)
}

func notificationDeleteCommand() *command {
	return apiCommand{
		command: &command{name: "notification delete", summary: "delete an organisation notification", usage: "NAME", help: "Deletes a notification and its deliveries, sent or not."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton notification delete: usage: baton notification delete NAME")
				return ExitUsage
			}
			if err := c.do(ctx, "DELETE", notificationPath(args[0]), nil, nil); err != nil {
				return failAPI(o, "notification delete", err)
			}
			fmt.Fprintf(o.Out, "Deleted notification %s\n", args[0])
			return ExitOK
		},
	}.build(nil)
}

func deliveryTarget(d *apiv1.NotificationDeliveryView) string {
	if d.Channel != "" {
		return d.Target + " " + d.Channel
	}
	return d.Target
}

func notificationTestCommand() *command {
	var wait time.Duration
	return apiCommand{
		command: &command{name: "notification test", summary: "send a sample message to a notification's targets", usage: "NAME [--wait DURATION]",
			help: "Sends a made-up failed pipeline of a project named \"sample\" to each target, whatever the filters, and waits\n" +
				"(--wait, default 30s; 0 does not wait) until each is sent or has failed. Exit 0 when every message was\n" +
				"sent, 1 when one failed or is still being retried."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton notification test: usage: baton notification test NAME")
				return ExitUsage
			}
			var queued []apiv1.NotificationDeliveryView
			if err := c.do(ctx, "POST", notificationPath(args[0])+"/test", nil, &queued); err != nil {
				return failAPI(o, "notification test", err)
			}
			fmt.Fprintf(o.Out, "Queued %d test message(s)\n", len(queued))
			if wait <= 0 {
				return ExitOK
			}
			ids := map[string]bool{}
			for _, d := range queued {
				ids[d.ID] = true
			}
			deadline := time.Now().Add(wait)
			for {
				var all []apiv1.NotificationDeliveryView
				if err := c.do(ctx, "GET", notificationPath(args[0])+"/deliveries?limit=500", nil, &all); err != nil {
					return failAPI(o, "notification test", err)
				}
				var got []apiv1.NotificationDeliveryView
				done := true
				for _, d := range all {
					if ids[d.ID] {
						got = append(got, d)
						done = done && d.State != "pending"
					}
				}
				if done || time.Now().After(deadline) {
					code := ExitOK
					for _, d := range got {
						status := d.State
						if d.HTTPStatus != 0 {
							status += fmt.Sprintf(" (HTTP %d)", d.HTTPStatus)
						}
						if d.Error != "" {
							status += ": " + d.Error
						}
						fmt.Fprintf(o.Out, "%s: %s\n", deliveryTarget(&d), status)
						if d.State != "sent" {
							code = ExitFailure
						}
					}
					return code
				}
				select {
				case <-ctx.Done():
					return ExitFailure
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}.build(func(fs *flagSet) {
		fs.DurationVar(&wait, "wait", 30*time.Second, "wait at most `DURATION` for the messages to be sent")
	})
}

func notificationDeliveriesCommand() *command {
	var limit int
	return apiCommand{
		read: true,
		command: &command{name: "notification deliveries", summary: "list a notification's messages and their HTTP status", usage: "NAME [--limit N] [--json]",
			help: "Lists a notification's latest messages, newest first: the pipeline (or test), target, state (pending,\nsent, failed), attempts and the last HTTP status and error; --json adds every attempt."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton notification deliveries: usage: baton notification deliveries NAME [--limit N]")
				return ExitUsage
			}
			path := notificationPath(args[0]) + "/deliveries"
			if limit > 0 {
				path += fmt.Sprintf("?limit=%d", limit)
			}
			var ds []apiv1.NotificationDeliveryView
			if err := c.do(ctx, "GET", path, nil, &ds); err != nil {
				return failAPI(o, "notification deliveries", err)
			}
			if asJSON {
				printJSON(o.Out, ds)
				return ExitOK
			}
			if len(ds) == 0 {
				fmt.Fprintf(o.Out, "No deliveries of notification %s yet\n", args[0])
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tPIPELINE\tTARGET\tSTATE\tATTEMPTS\tHTTP\tERROR")
			for _, d := range ds {
				p := d.PipelineID
				if d.Test {
					p = "(test)"
				}
				status := "-"
				if d.HTTPStatus != 0 {
					status = fmt.Sprint(d.HTTPStatus)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.CreatedAt.Local().Format("2006-01-02 15:04:05"), p, deliveryTarget(&d),
					d.State, d.Attempts, status, orDash(d.Error))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.IntVar(&limit, "limit", 0, "at most `N` deliveries (default 50, at most 500)")
	})
}

// notificationCommands are the `baton notification` commands.
func notificationCommands() []*command {
	return []*command{
		notificationCreateCommand(),
		notificationListCommand(),
		notificationShowCommand(),
		notificationUpdateCommand(),
		notificationDeleteCommand(),
		notificationTestCommand(),
		notificationDeliveriesCommand(),
	}
}

// stdinSecret reads a secret from the first line of standard input, so
// that it stays out of the shell's history and the process list.
func stdinSecret(o *IO, what string) (string, error) {
	line, err := bufio.NewReader(o.In).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err == nil || errors.Is(err, io.EOF) {
			return "", fmt.Errorf("no %s on standard input", what)
		}
		return "", fmt.Errorf("reading the %s from standard input: %v", what, err)
	}
	return line, nil
}
