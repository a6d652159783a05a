package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/server"
)

// The `baton secret` commands manage the server's organisation and project
// secrets. Values go in and never come out: list and show print names,
// descriptions, variable names and file paths.

// secretPath is the API path of a scope's secrets, or of one secret.
func secretPath(project, name string) string {
	p := "/api/v1/secrets"
	if project != "" {
		p = "/api/v1/projects/" + url.PathEscape(project) + "/secrets"
	}
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// secretInput is what create and update read from their flags.
type secretInput struct {
	env, files, removeEnv, removeFiles multiFlag
	// projects is --projects: all, none, or a comma-separated list.
	projects string
}

// policy sets the request's project policy from --projects.
func (in *secretInput) policy(body map[string]any) error {
	switch p := strings.TrimSpace(in.projects); p {
	case "":
	case "all", "none":
		body["project_access"] = p
	default:
		var names []string
		for _, n := range strings.Split(p, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return fmt.Errorf("--projects %q: give all, none, or project names separated by commas", in.projects)
		}
		body["project_access"], body["projects"] = "allowed", names
	}
	return nil
}

// projectsFlag adds --projects to a command's flags.
func (in *secretInput) projectsFlag(fs *flagSet) {
	fs.StringVar(&in.projects, "projects", "", "organisation secrets: the projects that may use it: `all` (default), none, or P1,P2")
}

// policyText describes an organisation secret's project policy.
func policyText(v *apiv1.SecretView) string {
	switch v.ProjectAccess {
	case "none":
		return "none"
	case "allowed":
		return orDash(strings.Join(v.Projects, ", "))
	}
	return "all"
}

// body builds the request's variables and files: --env KEY=VALUE, or
// --env KEY to take the value from this shell's environment (keeping it
// out of the command line); --file PATH=LOCALFILE reads a local file.
func (in *secretInput) body(o *IO, body map[string]any) error {
	var env []map[string]string
	for _, e := range in.env {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			if v = o.Getenv(k); v == "" {
				return fmt.Errorf("--env %s: give KEY=VALUE, or set %s in the environment", k, k)
			}
		}
		env = append(env, map[string]string{"name": k, "value": v})
	}
	var files []map[string]string
	for _, f := range in.files {
		p, local, ok := strings.Cut(f, "=")
		if !ok || p == "" || local == "" {
			return fmt.Errorf("--file %s: want PATH=LOCALFILE (PATH is where jobs find it, relative to $HOME or absolute)", f)
		}
		if !filepath.IsAbs(local) && o.Dir != "" {
			local = filepath.Join(o.Dir, local)
		}
		b, err := os.ReadFile(local)
		if err != nil {
			return fmt.Errorf("--file %s: %w", p, err)
		}
		files = append(files, map[string]string{"path": p, "content": base64.StdEncoding.EncodeToString(b)})
	}
	if env != nil {
		body["env_vars"] = env
	}
	if files != nil {
		body["files"] = files
	}
	if len(in.removeEnv) > 0 {
		body["remove_env"] = []string(in.removeEnv)
	}
	if len(in.removeFiles) > 0 {
		body["remove_files"] = []string(in.removeFiles)
	}
	return in.policy(body)
}

func printWarnings(o *IO, v *apiv1.SecretView) {
	for _, w := range v.Warnings {
		fmt.Fprintf(o.Err, "warning: %s\n", w)
	}
}

func secretScopeLabel(project string) string {
	if project == "" {
		return "organisation"
	}
	return "project " + project
}

func secretCreateCommand() *command {
	var in secretInput
	var project, description string
	var allowForks bool
	return apiCommand{
		command: &command{name: "secret create", summary: "create a secret (organisation, or project with --project)",
			usage: "NAME [--env KEY=VALUE | --env KEY]... [--file PATH=LOCALFILE]... [--project P] [--description D] [--allow-forks] [--projects all|none|P1,P2]",
			help: `Creates a secret that pipelines name under secrets: (- name: NAME). Its values
are encrypted on the server and never shown again. --env KEY without a value
takes it from this shell's environment, keeping it out of the command line and
shell history. --file PATH=LOCALFILE uploads a local file that jobs find at
PATH (relative to $HOME, or absolute). A project secret overrides an
organisation secret of the same name in that project. --allow-forks lets jobs
of pull requests from forks receive it (they get no other secret).
Organisation secrets need an admin. --projects says which projects may use an
organisation secret: all (the default), none, or a list (P1,P2); a pipeline of
another project that names it fails as if it did not exist.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton secret create: usage: baton secret create NAME --env KEY=VALUE [--file PATH=LOCALFILE]")
				return ExitUsage
			}
			body := map[string]any{"name": args[0], "allow_forks": allowForks}
			if description != "" {
				body["description"] = description
			}
			if err := in.body(o, body); err != nil {
				fmt.Fprintf(o.Err, "baton secret create: %v\n", err)
				return ExitUsage
			}
			var v apiv1.SecretView
			if err := c.do(ctx, "POST", secretPath(project, ""), body, &v); err != nil {
				return failAPI(o, "secret create", err)
			}
			printWarnings(o, &v)
			fmt.Fprintf(o.Out, "Created secret %s (%s): %d variable(s), %d file(s)\n", v.Name, secretScopeLabel(project), len(v.EnvVars), len(v.Files))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.Var(&in.env, "env", "environment variable `KEY=VALUE` (or KEY: from this environment); repeatable")
		fs.Var(&in.files, "file", "file `PATH=LOCALFILE`; repeatable")
		fs.StringVar(&project, "project", "", "a project secret of `PROJECT` (default: organisation)")
		fs.StringVar(&description, "description", "", "what it is for")
		fs.BoolVar(&allowForks, "allow-forks", false, "pull requests from forks receive it")
		in.projectsFlag(fs)
	})
}

func secretUpdateCommand() *command {
	var in secretInput
	var project, description, allowForks string
	return apiCommand{
		command: &command{name: "secret update", summary: "add, replace or remove a secret's variables and files",
			usage: "NAME [--env KEY=VALUE]... [--file PATH=LOCALFILE]... [--remove-env KEY]... [--remove-file PATH]... [--description D] [--allow-forks true|false] [--projects all|none|P1,P2] [--project P]",
			help:  "Changes a secret: --env and --file add variables and files or replace those of the same name or path; --remove-env and --remove-file remove them;\n--projects replaces an organisation secret's project policy. What is not named stays."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton secret update: usage: baton secret update NAME [--env KEY=VALUE] [--remove-env KEY]")
				return ExitUsage
			}
			body := map[string]any{}
			if description != "" {
				body["description"] = description
			}
			switch allowForks {
			case "":
			case "true", "false":
				body["allow_forks"] = allowForks == "true"
			default:
				fmt.Fprintln(o.Err, "baton secret update: --allow-forks is true or false")
				return ExitUsage
			}
			if err := in.body(o, body); err != nil {
				fmt.Fprintf(o.Err, "baton secret update: %v\n", err)
				return ExitUsage
			}
			var v apiv1.SecretView
			if err := c.do(ctx, "PUT", secretPath(project, args[0]), body, &v); err != nil {
				return failAPI(o, "secret update", err)
			}
			printWarnings(o, &v)
			fmt.Fprintf(o.Out, "Updated secret %s (%s): %d variable(s), %d file(s)\n", v.Name, secretScopeLabel(project), len(v.EnvVars), len(v.Files))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.Var(&in.env, "env", "set environment variable `KEY=VALUE` (or KEY: from this environment); repeatable")
		fs.Var(&in.files, "file", "set file `PATH=LOCALFILE`; repeatable")
		fs.Var(&in.removeEnv, "remove-env", "remove variable `KEY`; repeatable")
		fs.Var(&in.removeFiles, "remove-file", "remove file `PATH`; repeatable")
		fs.StringVar(&project, "project", "", "a project secret of `PROJECT` (default: organisation)")
		fs.StringVar(&description, "description", "", "new description")
		fs.StringVar(&allowForks, "allow-forks", "", "`true` or false: pull requests from forks receive it")
		in.projectsFlag(fs)
	})
}

func secretListCommand() *command {
	var project string
	return apiCommand{
		read:    true,
		command: &command{name: "secret list", summary: "list secrets (names only)", usage: "[--project P] [--json]", help: "Lists the organisation's secrets, or a project's with --project: names, variables and files, never values."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var vs []apiv1.SecretView
			if err := c.do(ctx, "GET", secretPath(project, ""), nil, &vs); err != nil {
				return failAPI(o, "secret list", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVARIABLES\tFILES\tFORKS\tPROJECTS\tUPDATED")
			for _, v := range vs {
				forks := "no"
				if v.AllowForks {
					forks = "yes"
				}
				projects := policyText(&v)
				if v.Project != "" {
					projects = v.Project
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s by %s\n", v.Name, orDash(strings.Join(v.EnvVars, ",")), orDash(strings.Join(v.Files, ",")), forks, strings.ReplaceAll(projects, " ", ""), v.UpdatedAt.Local().Format("2006-01-02 15:04"), orDash(v.UpdatedBy))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "the secrets of `PROJECT` (default: organisation)")
	})
}

func secretShowCommand() *command {
	var project string
	return apiCommand{
		read:    true,
		command: &command{name: "secret show", summary: "show a secret's metadata (never its values)", usage: "NAME [--project P] [--json]", help: "Shows a secret's description, variable names, file paths and who changed it when."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton secret show: usage: baton secret show NAME [--project P]")
				return ExitUsage
			}
			var v apiv1.SecretView
			if err := c.do(ctx, "GET", secretPath(project, args[0]), nil, &v); err != nil {
				return failAPI(o, "secret show", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			scope := "organisation"
			if v.Project != "" {
				scope = "project " + v.Project
			}
			fmt.Fprintf(o.Out, "Secret %s (%s)\n", v.Name, scope)
			if v.Description != "" {
				fmt.Fprintf(o.Out, "  %s\n", v.Description)
			}
			fmt.Fprintf(o.Out, "Variables:   %s\n", orDash(strings.Join(v.EnvVars, ", ")))
			fmt.Fprintf(o.Out, "Files:       %s\n", orDash(strings.Join(v.Files, ", ")))
			fmt.Fprintf(o.Out, "Forks:       %t\n", v.AllowForks)
			if v.Project == "" {
				fmt.Fprintf(o.Out, "Projects:    %s\n", policyText(&v))
			}
			fmt.Fprintf(o.Out, "Created:     %s by %s\n", v.CreatedAt.Local().Format(time.RFC3339), orDash(v.CreatedBy))
			fmt.Fprintf(o.Out, "Updated:     %s by %s\n", v.UpdatedAt.Local().Format(time.RFC3339), orDash(v.UpdatedBy))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "a secret of `PROJECT` (default: organisation)")
	})
}

func secretDeleteCommand() *command {
	var project string
	return apiCommand{
		command: &command{name: "secret delete", summary: "delete a secret", usage: "NAME [--project P]", help: "Deletes a secret; pipelines that name it fail until it exists again."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton secret delete: usage: baton secret delete NAME [--project P]")
				return ExitUsage
			}
			if err := c.do(ctx, "DELETE", secretPath(project, args[0]), nil, nil); err != nil {
				return failAPI(o, "secret delete", err)
			}
			fmt.Fprintf(o.Out, "Deleted secret %s (%s)\n", args[0], secretScopeLabel(project))
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&project, "project", "", "a secret of `PROJECT` (default: organisation)")
	})
}

func secretRotateKeyCommand() *command {
	c := &command{
		name:    "secret rotate-key",
		summary: "re-encrypt every secret under a new key",
		usage:   "--data DIR [--db sqlite:PATH|postgres://...] [--new-key FILE]",
		help: `Re-encrypts every secret under a new key in one database transaction: either
all secrets move to the new key or none does. Stop every server first.

The current key is DIR/secret.key, or BATON_SECRET_KEY when set. The new key
is read from --new-key FILE (base64 of 32 bytes, e.g. 'openssl rand -base64 32')
or generated. With a key file, the new key replaces DIR/secret.key (a crash
in between is completed by the next start); with BATON_SECRET_KEY, --new-key
is required and BATON_SECRET_KEY must be set to the new key afterwards.`,
	}
	c.run = func(ctx context.Context, o *IO, args []string) int {
		fs := c.flags(o)
		data := fs.String("data", "./baton-data", "data `DIR`")
		db := fs.String("db", "", "database (default: sqlite under --data, or BATON_DB)")
		newKey := fs.String("new-key", "", "`FILE` holding the new key (default: generate one)")
		rest, code, stop := parse(fs, args)
		if stop {
			return code
		}
		if len(rest) > 0 {
			fmt.Fprintf(o.Err, "baton secret rotate-key: unexpected argument %q\n", rest[0])
			return ExitUsage
		}
		dir, err := filepath.Abs(*data)
		if err != nil {
			fmt.Fprintf(o.Err, "baton secret rotate-key: %v\n", err)
			return ExitUsage
		}
		if _, err := os.Stat(dir); err != nil {
			fmt.Fprintf(o.Err, "baton secret rotate-key: data directory: %v\n", err)
			return ExitUsage
		}
		rc := server.RotateConfig{DataDir: dir, DB: *db, OldKey: o.Getenv("BATON_SECRET_KEY")}
		if rc.DB == "" {
			rc.DB = o.Getenv("BATON_DB")
		}
		if *newKey != "" {
			b, err := os.ReadFile(*newKey)
			if err != nil {
				fmt.Fprintf(o.Err, "baton secret rotate-key: %v\n", err)
				return ExitUsage
			}
			rc.NewKey = strings.TrimSpace(string(b))
		}
		res, err := server.RotateSecretKey(ctx, rc)
		if err != nil {
			fmt.Fprintf(o.Err, "baton secret rotate-key: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintf(o.Out, "Re-encrypted %d secret(s): key %s -> %s\n", res.Secrets, res.OldKeyID, res.NewKeyID)
		if res.KeyFile != "" {
			fmt.Fprintf(o.Out, "The new key is in %s; keep a backup of it.\n", res.KeyFile)
		} else {
			fmt.Fprintln(o.Out, "Now set BATON_SECRET_KEY to the new key before starting the server.")
		}
		return ExitOK
	}
	return c
}
