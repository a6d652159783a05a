package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// peopleCommands are the commands for users, API tokens, project members
// and the audit log.
func peopleCommands() []*command {
	return []*command{
		userAddCommand(), userUpdateCommand(), userListCommand(), userShowCommand(), userRemoveCommand(),
		tokenCreateCommand(), tokenListCommand(), tokenRevokeCommand(),
		memberAddCommand(), memberRemoveCommand(), memberListCommand(),
		auditListCommand(),
	}
}

// ago formats how long ago t was, "never" for the zero time.
func ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}

func userAddCommand() *command {
	var admin, canCreate, passwordStdin bool
	return apiCommand{
		command: &command{name: "user add", summary: "add a user (admins)", usage: "LOGIN [--admin] [--can-create-projects] [--password-stdin]",
			help: "Adds a user who signs in to the web UI with a password. Without --password-stdin a password is\ngenerated and printed once. --admin makes them an organisation admin; --can-create-projects lets\nthem create projects (which organisation admins always may)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton user add: usage: baton user add LOGIN [--admin] [--can-create-projects] [--password-stdin]")
				return ExitUsage
			}
			body := apiv1.UserRequest{Login: args[0], Admin: admin, CanCreateProjects: canCreate}
			if passwordStdin {
				line, err := bufio.NewReader(o.In).ReadString('\n')
				line = strings.TrimRight(line, "\r\n")
				if line == "" {
					fmt.Fprintf(o.Err, "baton user add: no password on standard input (%v)\n", err)
					return ExitUsage
				}
				body.Password = line
			}
			out := apiv1.UserCreated{User: &apiv1.User{}}
			if err := c.do(ctx, "POST", "/api/v1/users", body, &out); err != nil {
				return failAPI(o, "user add", err)
			}
			fmt.Fprintf(o.Out, "Added user %s\n", out.Login)
			if out.Password != "" {
				fmt.Fprintf(o.Out, "Password (shown once): %s\n", out.Password)
			}
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.BoolVar(&admin, "admin", false, "make the user an organisation admin")
		fs.BoolVar(&canCreate, "can-create-projects", false, "let the user create projects")
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	})
}

func userListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "user list", summary: "list users (admins)", usage: "[--json]", help: "Lists the users, by login."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var us []apiv1.User
			if err := c.do(ctx, "GET", "/api/v1/users", nil, &us); err != nil {
				return failAPI(o, "user list", err)
			}
			if asJSON {
				printJSON(o.Out, us)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LOGIN\tADMIN\tCREATE PROJECTS\tCREATED")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%t\t%t\t%s\n", u.Login, u.Admin, u.Admin || u.CanCreateProjects, u.CreatedAt.Format(time.DateTime))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func userUpdateCommand() *command {
	var canCreate bool
	var fs *flagSet
	return apiCommand{
		command: &command{name: "user update", summary: "change a user (admins)", usage: "LOGIN --can-create-projects[=false]",
			help: "Changes what a user may do: --can-create-projects lets them create projects, --can-create-projects=false\nstops them (the projects they created stay theirs)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || !fs.Changed("can-create-projects") {
				fmt.Fprintln(o.Err, "baton user update: usage: baton user update LOGIN --can-create-projects[=false]")
				return ExitUsage
			}
			var u apiv1.User
			body := map[string]any{"can_create_projects": canCreate}
			if err := c.do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(args[0]), body, &u); err != nil {
				return failAPI(o, "user update", err)
			}
			fmt.Fprintf(o.Out, "Updated user %s (may create projects: %t)\n", u.Login, u.Admin || u.CanCreateProjects)
			return ExitOK
		},
	}.build(func(f *flagSet) {
		fs = f
		f.BoolVar(&canCreate, "can-create-projects", false, "let the user create projects (=false: no longer)")
	})
}

func userShowCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "user show", summary: "show a user (admins)", usage: "LOGIN [--json]", help: "Shows a user: whether they are an organisation admin and may create projects."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton user show: usage: baton user show LOGIN [--json]")
				return ExitUsage
			}
			var us []apiv1.User
			if err := c.do(ctx, "GET", "/api/v1/users", nil, &us); err != nil {
				return failAPI(o, "user show", err)
			}
			i := slices.IndexFunc(us, func(u apiv1.User) bool { return u.Login == args[0] })
			if i < 0 {
				fmt.Fprintf(o.Err, "baton user show: not found: user %q\n", args[0])
				return ExitFailure
			}
			u := us[i]
			if asJSON {
				printJSON(o.Out, u)
				return ExitOK
			}
			fmt.Fprintf(o.Out, "Login: %s\nOrganisation admin: %t\nMay create projects: %t\nCreated: %s\n",
				u.Login, u.Admin, u.Admin || u.CanCreateProjects, u.CreatedAt.Format(time.DateTime))
			return ExitOK
		},
	}.build(nil)
}

// simpleCommand is an API command that sends one request built from its
// positional arguments and prints the answer's message.
func simpleCommand(name, summary, usage, help string, nargs int, req func(args []string) (method, path string, body any)) *command {
	return apiCommand{
		command: &command{name: name, summary: summary, usage: usage, help: help},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != nargs {
				fmt.Fprintf(o.Err, "baton %s: usage: baton %s %s\n", name, name, usage)
				return ExitUsage
			}
			method, path, body := req(args)
			var out apiv1.MessageView
			if err := c.do(ctx, method, path, body, &out); err != nil {
				return failAPI(o, name, err)
			}
			if out.Message != "" {
				fmt.Fprintln(o.Out, strings.ToUpper(out.Message[:1])+out.Message[1:])
			}
			return ExitOK
		},
	}.build(nil)
}

func userRemoveCommand() *command {
	return simpleCommand("user remove", "remove a user (admins)", "LOGIN",
		"Removes a user with their API tokens, sessions and project roles. Agent tokens they created keep working.", 1,
		func(args []string) (string, string, any) {
			return "DELETE", "/api/v1/users/" + url.PathEscape(args[0]), nil
		})
}

func tokenCreateCommand() *command {
	var name string
	return apiCommand{
		command: &command{name: "token create", summary: "create a personal API token", usage: "[--name NAME]",
			help: "Creates an API token that acts as you, printed once: store it now. 'baton token revoke' ends it."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 0 {
				fmt.Fprintln(o.Err, "baton token create: usage: baton token create [--name NAME]")
				return ExitUsage
			}
			var out apiv1.TokenView
			if err := c.do(ctx, "POST", "/api/v1/tokens", apiv1.TokenRequest{Name: name}, &out); err != nil {
				return failAPI(o, "token create", err)
			}
			fmt.Fprintln(o.Out, out.Token)
			fmt.Fprintf(o.Err, "Token %s created; it is shown only this once.\n", out.ID)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&name, "name", "", "a `name` to recognise the token by")
	})
}

func tokenListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "token list", summary: "list your API tokens", usage: "[--json]", help: "Lists your API tokens (never their secrets) with when each was last used."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var ts []apiv1.TokenView
			if err := c.do(ctx, "GET", "/api/v1/tokens", nil, &ts); err != nil {
				return failAPI(o, "token list", err)
			}
			if asJSON {
				printJSON(o.Out, ts)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCREATED\tLAST USED")
			for _, t := range ts {
				state := "active"
				if t.Revoked {
					state = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, state, t.CreatedAt.Format(time.DateTime), ago(t.LastUsed))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func tokenRevokeCommand() *command {
	return simpleCommand("token revoke", "revoke an API token", "ID",
		"Revokes one of your API tokens (admins: anyone's). It stops working at once.", 1,
		func(args []string) (string, string, any) {
			return "DELETE", "/api/v1/tokens/" + url.PathEscape(args[0]), nil
		})
}

func memberAddCommand() *command {
	var role string
	return apiCommand{
		command: &command{name: "project member add", summary: "give a user a role in a project", usage: "PROJECT LOGIN --role read|write|admin",
			help: "Gives a user a role in a project (project admins), replacing any role they had.\nread sees the project; write also runs, stops and rebuilds; admin also changes settings, members and secrets."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 2 || role == "" {
				fmt.Fprintln(o.Err, "baton project member add: usage: baton project member add PROJECT LOGIN --role read|write|admin")
				return ExitUsage
			}
			path := "/api/v1/projects/" + url.PathEscape(args[0]) + "/members/" + url.PathEscape(args[1])
			if err := c.do(ctx, "PUT", path, map[string]string{"role": role}, nil); err != nil {
				return failAPI(o, "project member add", err)
			}
			fmt.Fprintf(o.Out, "%s has the %s role in %s\n", args[1], role, args[0])
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&role, "role", "", "the `role`: read, write or admin")
	})
}

func memberRemoveCommand() *command {
	return simpleCommand("project member remove", "take a user's role in a project away", "PROJECT LOGIN",
		"Takes a user's role in a project away (project admins).", 2,
		func(args []string) (string, string, any) {
			return "DELETE", "/api/v1/projects/" + url.PathEscape(args[0]) + "/members/" + url.PathEscape(args[1]), nil
		})
}

func memberListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "project member list", summary: "list a project's members", usage: "PROJECT [--json]", help: "Lists the users with a role in a project (project admins)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton project member list: usage: baton project member list PROJECT [--json]")
				return ExitUsage
			}
			var ms []apiv1.Member
			if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(args[0])+"/members", nil, &ms); err != nil {
				return failAPI(o, "project member list", err)
			}
			if asJSON {
				printJSON(o.Out, ms)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LOGIN\tROLE\tSINCE")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Login, m.Role, m.CreatedAt.Format(time.DateTime))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func auditListCommand() *command {
	var limit int
	return apiCommand{
		read: true,
		command: &command{name: "audit list", summary: "show the audit log (admins)", usage: "[--limit N] [--json]",
			help: "Shows the last security-relevant actions, newest first: sign-ins, tokens, users, members, secrets..."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var evs []apiv1.AuditEvent
			if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/audit?limit=%d", limit), nil, &evs); err != nil {
				return failAPI(o, "audit list", err)
			}
			if asJSON {
				printJSON(o.Out, evs)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tTARGET\tFROM\tDETAIL")
			for _, e := range evs {
				actor := e.Actor
				if actor == "" {
					actor = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Action, actor, e.Target, e.IP, e.Detail)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.IntVar(&limit, "limit", 50, "show the last `N` events (1-1000)")
	})
}

// Changed reports whether the command line set the flag name.
func (fs *flagSet) Changed(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
