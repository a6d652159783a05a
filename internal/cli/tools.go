package cli

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/bytesize"
	"github.com/batonci/baton/internal/toolsource"
)

// toolFlags are `baton agent`'s tool cache flags.
type toolFlags struct {
	sources map[string]string
	sumdb   *string
	budget  *string
}

func addToolFlags(fs *flag.FlagSet) *toolFlags {
	tf := &toolFlags{sources: map[string]string{}}
	fs.Func("tool-source", "where the tool cache fetches a language from, as `NAME=URL`: go=URL (a Go module proxy; default the first of GOPROXY), node=URL (an npm registry, for Node.js and npm tools; default npm's registry setting); repeatable", func(s string) error {
		name, u, ok := strings.Cut(s, "=")
		if !ok || (name != "go" && name != "node" && name != "npm") || !(strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
			return fmt.Errorf("want go=URL or node=URL, not %q", s)
		}
		if name == "npm" {
			name = "node"
		}
		tf.sources[name] = strings.TrimSuffix(u, "/")
		return nil
	})
	tf.sumdb = fs.String("tool-sumdb", "", "the Go checksum database Go downloads are checked against, as GOSUMDB (`NAME[+KEY] [URL]`, or off); default GOSUMDB")
	tf.budget = fs.String("tool-budget", "20GiB", "keep the tool cache (language versions and tools, in the work directory's tools/) within `SIZE`, removing the least recently used; 0 disables the cache")
	return tf
}

// provider opens the agent's tool cache under workDir (readable by the
// jobs) with its private work files under dataDir; nil when disabled.
func (tf *toolFlags) provider(ctx context.Context, o *IO, workDir, dataDir string) (*toolsource.Provider, error) {
	budget, err := bytesize.Parse(*tf.budget)
	if err != nil {
		return nil, fmt.Errorf("--tool-budget: %w", err)
	}
	if budget == 0 {
		return nil, nil
	}
	opts := agent.ToolsOptions{Dir: filepath.Join(workDir, "tools"), WorkDir: filepath.Join(dataDir, "tool-work"), Budget: budget, Logger: logger(o)}
	opts.GoProxy = tf.sources["go"]
	if opts.GoProxy == "" {
		v, _ := machineSetting(ctx, o, "GOPROXY", "go", "env", "GOPROXY")
		opts.GoProxy = firstProxy(v)
	}
	opts.GoSumDB = *tf.sumdb
	if opts.GoSumDB == "" {
		opts.GoSumDB, _ = machineSetting(ctx, o, "GOSUMDB", "go", "env", "GOSUMDB")
	}
	opts.NPMRegistry = tf.sources["node"]
	if opts.NPMRegistry == "" {
		// npm's setting costs a Node.js start: asked on the first
		// Node.js or npm fetch, not when the agent starts.
		opts.NPMRegistryLookup = toolsource.NewLookup(func(ctx context.Context) (string, bool) {
			v, ok := machineSetting(ctx, o, "npm_config_registry", "npm", "config", "get", "registry")
			return strings.TrimSuffix(v, "/"), ok
		})
	}
	return agent.NewTools(opts)
}

// machineSetting is the environment variable env, or else what the
// command prints (the machine's go or npm setting), or "". ok is false
// when ctx ended before the command answered (it may be asked again).
func machineSetting(ctx context.Context, o *IO, env string, argv ...string) (v string, ok bool) {
	if v := o.Getenv(env); v != "" {
		return v, true
	}
	cmdCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cmdCtx, argv[0], argv[1:]...).Output()
	if err != nil {
		// No such command, or it failed or hung: the machine names
		// none; unless the asker gave up first.
		return "", ctx.Err() == nil
	}
	v = strings.TrimSpace(string(out))
	if v == "undefined" {
		return "", true
	}
	return v, true
}

// firstProxy is the first proxy URL of a GOPROXY list.
func firstProxy(list string) string {
	for _, p := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == '|' }) {
		if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
			return strings.TrimSuffix(p, "/")
		}
	}
	return ""
}

// toolCommands are `baton tools set` and `baton tools list`: the
// organisation's global tools, on every job's PATH.
func toolCommands() []*command {
	return []*command{toolsSetCommand(), toolsListCommand()}
}

func printTools(o *IO, view apiv1.ToolsView) {
	if len(view.Tools) == 0 {
		fmt.Fprintln(o.Out, "No global tools.")
		return
	}
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tVERSION\tKIND")
	for _, t := range view.Tools {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Version, t.Kind)
	}
	tw.Flush()
}

func toolsSetCommand() *command {
	var kind *string
	return apiCommand{
		command: &command{name: "tools set", summary: "set the tools every job gets on its PATH (admins)", usage: "[--npm|--go] [NAME@VERSION...]",
			help: `Replaces the organisation's global tools: npm packages (serverless@3, yarn@1) and Go
commands (golang.org/x/tools/cmd/stringer@v0.20.0; a name whose first path element
has a dot is a Go command). Every job's agent installs them once, in its tool cache,
and puts them on the job's PATH. VERSION is a version prefix (3 is the highest 3.x.y),
an exact version or latest (the default). Without arguments, the list is cleared.`},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			req := apiv1.ToolsRequest{Tools: args, Kind: *kind}
			if req.Tools == nil {
				req.Tools = []string{}
			}
			var view apiv1.ToolsView
			if err := c.do(ctx, "PUT", "/api/v1/tools", req, &view); err != nil {
				return failAPI(o, "tools set", err)
			}
			printTools(o, view)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		kind = new(string)
		fs.BoolFunc("npm", "every tool is an npm package", func(string) error { *kind = "npm"; return nil })
		fs.BoolFunc("go", "every tool is a Go command", func(string) error { *kind = "go"; return nil })
	})
}

func toolsListCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "tools list", summary: "list the tools every job gets on its PATH", usage: "[--json]",
			help: "Lists the organisation's global tools (baton tools set), which every job's agent installs once and puts on the job's PATH."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			var view apiv1.ToolsView
			if err := c.do(ctx, "GET", "/api/v1/tools", nil, &view); err != nil {
				return failAPI(o, "tools list", err)
			}
			if asJSON {
				printJSON(o.Out, view)
				return ExitOK
			}
			printTools(o, view)
			return ExitOK
		},
	}.build(nil)
}
