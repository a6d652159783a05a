package toolbox

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/jobsvc"
)

// toolFunctionVar tells sem-version and tool that their shell function
// called them, and so will put the directories they print in front of
// the session's PATH.
const toolFunctionVar = "BATON_TOOL_FUNCTION"

// toolsShellInit defines sem-version and tool as shell functions: the
// executable asks the agent for the version or tool and prints the
// directories that go in front of PATH, which the function exports in
// the job's session, so that the job's next commands use them.
func toolsShellInit() string {
	return `__baton_tool_path() {
  local __baton_bin
  __baton_bin="$(` + toolFunctionVar + `=1 command "$@")" || return
  if [ -n "$__baton_bin" ]; then export PATH="$__baton_bin:$PATH"; hash -r; fi
}
sem-version() { __baton_tool_path sem-version "$@"; }
tool() { __baton_tool_path tool "$@"; }
`
}

// languagesWithSource are the languages the agent can install.
var languagesWithSource = []string{"go", "node"}

// provideTool asks the job's service for a tool, prints what happened,
// and prints the directories for PATH on stdout when the shell function
// called. ok is false when no job service or tool cache is there.
func provideTool(c *call, req jobsvc.ToolRequest, what string) (status int, ok bool) {
	client, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		return 0, false
	}
	res, err := client.ToolProvide(c.ctx, req)
	if jobsvc.IsStatus(err, http.StatusServiceUnavailable) {
		return 0, false
	}
	if err != nil {
		var se *jobsvc.StatusError
		if errors.As(err, &se) {
			c.errorf("%s: %s", what, se.Message)
		} else {
			c.errorf("%s: %v", what, err)
		}
		return 1, true
	}
	for _, line := range strings.Split(strings.TrimSpace(res.Log), "\n") {
		if line != "" {
			c.infof("%s", line)
		}
	}
	how := "from the agent's tool cache"
	if res.Installed {
		how = "installed in the agent's tool cache"
		if res.Verified != "" {
			how += "; " + res.Verified
		}
	}
	c.infof("using %s %s (%s)", displayName(res.Name), res.Version, how)
	c.printPath(res.Bin)
	return 0, true
}

// displayName is a cache name as a job calls it ("npm:serverless" →
// "serverless").
func displayName(name string) string {
	if _, n, ok := strings.Cut(name, ":"); ok {
		return n
	}
	return name
}

// printPath prints dirs for the shell function, which puts them on PATH;
// called as a plain executable it says how.
func (c *call) printPath(dirs []string) {
	if len(dirs) == 0 {
		return
	}
	if c.getenv(toolFunctionVar) == "1" {
		fmt.Fprintln(c.stdout, strings.Join(dirs, ":"))
		return
	}
	c.infof("run it as the shell function (in a job's session) to change PATH, or: export PATH=%s:$PATH", strings.Join(dirs, ":"))
}

const toolUsage = "tool install NAME@VERSION [--npm|--go]"

// runTool installs a tool (an npm package or a Go command) for this job
// and the later jobs on the agent.
func runTool(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{{long: "npm"}, {long: "go"}})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n\nInstalls an npm package (--npm, the default for names without a dot in\ntheir first path element) or a Go command (--go: a package path, version\nv1.2.3 or latest) in the agent's tool cache, once per agent and version,\nand puts it on the job's PATH.\n", toolUsage)
		return 0
	}
	if err != nil {
		return c.usageError(toolUsage, "%v", err)
	}
	if len(pos) != 2 || pos[0] != "install" {
		return c.usageError(toolUsage, "want: install NAME@VERSION")
	}
	if fl.has("npm") && fl.has("go") {
		return c.usageError(toolUsage, "--npm or --go, not both")
	}
	name, version := splitToolVersion(pos[1])
	kind := "npm"
	switch {
	case fl.has("go"):
		kind = "go"
	case fl.has("npm"):
	case strings.Contains(strings.Split(name, "/")[0], "."):
		kind = "go"
	}
	status, ok := provideTool(c, jobsvc.ToolRequest{Kind: kind, Name: name, Version: version}, "install "+pos[1])
	if !ok {
		c.errorf("install %s: this job has no tool cache (tools are installed by an agent; in a local run, install the tool on this machine)", pos[1])
		return 1
	}
	return status
}

// splitToolVersion splits NAME@VERSION; a scoped npm name's leading @ is
// part of the name.
func splitToolVersion(s string) (name, version string) {
	i := strings.LastIndex(s, "@")
	if i <= 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// semVersionFromCache switches lang to want with the agent's tool cache
// when lang has a source; handled is false when it has none or the job
// has no tool cache.
func semVersionFromCache(c *call, lang, want string) (status int, handled bool) {
	if !slices.Contains(languagesWithSource, lang) {
		return 0, false
	}
	return provideTool(c, jobsvc.ToolRequest{Kind: "lang", Name: lang, Version: want}, lang+" "+want)
}
