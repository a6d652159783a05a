package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// artifactCommands read what jobs pushed with `artifact push`: `baton
// artifact list` and `baton artifact get`.
func artifactCommands() []*command {
	return []*command{artifactListCommand(), artifactGetCommand(), artifactRetentionCommand()}
}

// artifactOwner is the --job, --workflow or --project of an artifact
// command.
type artifactOwner struct{ job, workflow, project string }

func (a *artifactOwner) flags(fs *flagSet) {
	fs.StringVar(&a.job, "job", "", "a job's artifacts (`ID`)")
	fs.StringVar(&a.workflow, "workflow", "", "a workflow's artifacts (`ID`)")
	fs.StringVar(&a.project, "project", "", "a project's artifacts (`NAME` or ID)")
}

// base returns the API path of the owner's artifacts.
func (a *artifactOwner) base() (string, error) {
	n := 0
	var p string
	for _, x := range []struct{ v, coll string }{{a.job, "jobs"}, {a.workflow, "workflows"}, {a.project, "projects"}} {
		if x.v != "" {
			n++
			p = "/api/v1/" + x.coll + "/" + url.PathEscape(x.v) + "/artifacts"
		}
	}
	if n != 1 {
		return "", errors.New("give exactly one of --job ID, --workflow ID or --project P")
	}
	return p, nil
}

func artifactListCommand() *command {
	var owner artifactOwner
	return apiCommand{
		read: true,
		command: &command{name: "artifact list", summary: "list a job's, workflow's or project's artifacts",
			usage: "--job ID | --workflow ID | --project P [--json]",
			help:  "Lists the files jobs pushed with 'artifact push' to that scope: path, size and when it was stored.\n--json prints a list of objects with path, size, scope and created_at. Whoever may read the\nproject's logs may read its artifacts."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			base, err := owner.base()
			if err != nil || len(args) != 0 {
				if err == nil {
					err = errors.New("no arguments expected")
				}
				fmt.Fprintf(o.Err, "baton artifact list: %v\n", err)
				return ExitUsage
			}
			var list []apiv1.Artifact
			if err := c.do(ctx, "GET", base, nil, &list); err != nil {
				return failAPI(o, "artifact list", err)
			}
			if asJSON {
				if list == nil {
					list = []apiv1.Artifact{}
				}
				printJSON(o.Out, list)
				return ExitOK
			}
			if len(list) == 0 {
				fmt.Fprintln(o.Out, "No artifacts.")
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PATH\tSIZE\tSTORED")
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Path, humanBytes(e.Size), e.CreatedAt.Local().Format(time.DateTime))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(owner.flags)
}

func artifactGetCommand() *command {
	var owner artifactOwner
	var out string
	return apiCommand{
		command: &command{name: "artifact get", summary: "download an artifact file",
			usage: "--job ID | --workflow ID | --project P PATH [-o FILE]",
			help:  "Downloads one artifact file (a path 'baton artifact list' shows) to FILE, by default its base name\nin the current directory; -o - writes it to standard output. An existing FILE is not overwritten."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			base, err := owner.base()
			if err == nil && len(args) != 1 {
				err = errors.New("give the artifact's PATH")
			}
			if err != nil {
				fmt.Fprintf(o.Err, "baton artifact get: %v\n", err)
				return ExitUsage
			}
			p := strings.Trim(args[0], "/")
			segs := strings.Split(p, "/")
			for i, s := range segs {
				segs[i] = url.PathEscape(s)
			}
			resp, err := c.stream(ctx, base+"/"+strings.Join(segs, "/"))
			if err != nil {
				return failAPI(o, "artifact get", err)
			}
			defer resp.Body.Close()
			var w io.Writer = o.Out
			failed := true
			if out != "-" {
				name := out
				if name == "" {
					name = path.Base(p)
				}
				f, ferr := os.OpenFile(filepath.Clean(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if ferr != nil {
					err = ferr
					fmt.Fprintf(o.Err, "baton artifact get: %v\n", err)
					return ExitFailure
				}
				defer f.Close()
				w = f
				defer func() {
					if failed {
						os.Remove(name)
					}
				}()
			}
			n, err := io.Copy(w, resp.Body)
			if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
				err = fmt.Errorf("the download stopped after %d of %d bytes", n, resp.ContentLength)
			}
			if err != nil {
				fmt.Fprintf(o.Err, "baton artifact get: %v\n", err)
				return ExitFailure
			}
			failed = false
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		owner.flags(fs)
		fs.StringVar(&out, "o", "", "write to `FILE` (- for standard output)")
	})
}

func artifactRetentionCommand() *command {
	var rules multiFlag
	var clear bool
	return apiCommand{
		read: true,
		command: &command{name: "artifact retention", summary: "show or set a project's artifact retention policy",
			usage: "PROJECT [--rule SCOPE:GLOB:AGE]... [--clear] [--json]",
			help: "Without --rule or --clear, shows the policy. --rule (repeatable, in order) replaces it: artifact\n" +
				"files of SCOPE (job, workflow or project) whose path matches GLOB (* within a directory, ** across\n" +
				"directories) are deleted once older than AGE (7d, 2w, 36h). For each file the first rule of its\n" +
				"scope whose glob matches decides; files no rule matches are kept. --clear removes every rule.\n" +
				"The servers apply the policies once an hour between them ('baton server --artifact-sweep-every').\nSetting them: project admins; reading them: whoever may read the project."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 || (clear && len(rules) > 0) {
				fmt.Fprintln(o.Err, "baton artifact retention: usage: baton artifact retention PROJECT [--rule SCOPE:GLOB:AGE]... | --clear")
				return ExitUsage
			}
			p := "/api/v1/projects/" + url.PathEscape(args[0]) + "/artifact-retention"
			var view apiv1.RetentionView
			var err error
			if len(rules) > 0 || clear {
				body := []map[string]string{}
				for _, r := range rules {
					scope, rest, ok1 := strings.Cut(r, ":")
					i := strings.LastIndex(rest, ":")
					if !ok1 || i < 0 {
						fmt.Fprintf(o.Err, "baton artifact retention: --rule %q: want SCOPE:GLOB:AGE, such as workflow:**:7d\n", r)
						return ExitUsage
					}
					body = append(body, map[string]string{"scope": scope, "glob": rest[:i], "age": rest[i+1:]})
				}
				err = c.do(ctx, "PUT", p, map[string]any{"rules": body}, &view)
			} else {
				err = c.do(ctx, "GET", p, nil, &view)
			}
			if err != nil {
				return failAPI(o, "artifact retention", err)
			}
			if asJSON {
				printJSON(o.Out, view)
				return ExitOK
			}
			if len(view.Rules) == 0 {
				fmt.Fprintln(o.Out, "No retention rules: artifacts are kept.")
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCOPE\tGLOB\tDELETE AFTER")
			for _, r := range view.Rules {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Scope, r.Glob, r.Age)
			}
			tw.Flush()
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.Var(&rules, "rule", "a retention rule `SCOPE:GLOB:AGE` (repeatable, in order)")
		fs.BoolVar(&clear, "clear", false, "remove every rule")
	})
}
