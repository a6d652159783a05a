package toolbox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

const semVersionUsage = "sem-version LANGUAGE VERSION [-i|--ignore]"

// versionProbe is how to ask a language's tool for its version.
type versionProbe struct {
	tool    string         // what the messages call it
	command [][]string     // commands to try, in order
	re      *regexp.Regexp // first group: the version
}

func versionProbes() map[string]versionProbe {
	num := `(\d+(?:\.\d+)*)`
	return map[string]versionProbe{
		"go":      {"go", [][]string{{"go", "version"}}, regexp.MustCompile(`go` + num)},
		"node":    {"node", [][]string{{"node", "--version"}}, regexp.MustCompile(`v?` + num)},
		"python":  {"python", [][]string{{"python3", "--version"}, {"python", "--version"}}, regexp.MustCompile(`Python ` + num)},
		"ruby":    {"ruby", [][]string{{"ruby", "--version"}}, regexp.MustCompile(`ruby ` + num)},
		"java":    {"java", [][]string{{"java", "-version"}}, regexp.MustCompile(`version "` + num)},
		"php":     {"php", [][]string{{"php", "--version"}}, regexp.MustCompile(`PHP ` + num)},
		"elixir":  {"elixir", [][]string{{"elixir", "--version"}}, regexp.MustCompile(`Elixir ` + num)},
		"erlang":  {"erlang", [][]string{{"erl", "-noshell", "-eval", `io:fwrite("~s", [erlang:system_info(otp_release)]), halt().`}}, regexp.MustCompile(num)},
		"kubectl": {"kubectl", [][]string{{"kubectl", "version", "--client"}}, regexp.MustCompile(`v` + num)},
		"scala":   {"scala", [][]string{{"scala", "-version"}}, regexp.MustCompile(`version ` + num)},
	}
}

// runSemVersion switches a language to a version: the machine's when it
// matches, else, for the languages with a source (Go, Node.js), the
// agent's tool cache's, installed there if needed (tools.go); an unknown
// version fails the command. For the other languages, or without a tool
// cache (a local run), it reports whether the installed version is the
// one asked for, says plainly when it is not and which version the job
// got, and exits 0 either way, so the job goes on with the machine's.
func runSemVersion(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{{long: "ignore", short: "i"}})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\n", semVersionUsage)
		return 0
	}
	if err != nil {
		return c.usageError(semVersionUsage, "%v", err)
	}
	if len(pos) != 2 {
		return c.usageError(semVersionUsage, "want a language and a version")
	}
	lang, want := strings.ToLower(pos[0]), pos[1]
	probes := versionProbes()
	probe, ok := probes[lang]
	if !ok {
		var langs []string
		for l := range probes {
			langs = append(langs, l)
		}
		slices.Sort(langs)
		c.errorf("unknown language %q; sem-version knows %s (and in a local run it cannot switch versions anyway)", pos[0], strings.Join(langs, ", "))
		if fl.has("ignore") {
			return 0
		}
		return 1
	}
	have, err := installedVersion(c, probe)
	if err == nil && versionMatches(lang, want, have) {
		c.infof("%s %s is installed on this machine (%s %s); nothing to switch", probe.tool, want, probe.tool, have)
		return 0
	}
	if status, handled := semVersionFromCache(c, lang, want); handled {
		return status
	}
	switch {
	case err != nil:
		c.errorf("cannot switch %s to %s: sem-version is not available in local runs, and %s is not installed on this machine (%v); the job continues without it",
			probe.tool, want, probe.tool, err)
	case versionMatches(lang, want, have):
		c.infof("%s %s is installed on this machine (%s %s); nothing to switch", probe.tool, want, probe.tool, have)
	default:
		c.errorf("cannot switch %s to %s: sem-version is not available in local runs; the job continues with the installed %s %s. To use %s %s, install it on this machine or run the job in a container image that has it (agent.containers, with the Docker executor)",
			probe.tool, want, probe.tool, have, probe.tool, want)
	}
	return 0
}

// installedVersion runs the probe's commands until one reports a version.
func installedVersion(c *call, p versionProbe) (string, error) {
	var errs []error
	for _, argv := range p.command {
		ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
		out, err := c.command(ctx, argv[0], argv[1:]...).CombinedOutput()
		cancel()
		if m := p.re.FindSubmatch(out); err == nil && m != nil {
			return string(m[1]), nil
		}
		if err == nil {
			err = fmt.Errorf("no version in the output of %s", strings.Join(argv, " "))
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// versionMatches reports whether the installed version have is the
// version want asks for: want's components are a prefix of have's, so
// "1.22" matches 1.22.5. Java's old "1.8" numbering matches "8".
func versionMatches(lang, want, have string) bool {
	split := func(v string) []string {
		v = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(v), "v"), lang)
		parts := strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '_' || r == '-' })
		if lang == "java" && len(parts) > 1 && parts[0] == "1" {
			parts = parts[1:]
		}
		return parts
	}
	w, h := split(want), split(have)
	return len(w) > 0 && len(w) <= len(h) && slices.Equal(w, h[:len(w)])
}

// runInstallPackage cannot install system packages.
func runInstallPackage(c *call, args []string) int {
	c.errorf("not available in local runs: on Semaphore it installs Ubuntu packages, with a cache, on the hosted VM. Install the packages on this machine, or run the job in a container image that has them (agent.containers, with the Docker executor)")
	return 1
}

// runSemanticRelease cannot release: it needs the repository's remote and
// credentials.
func runSemanticRelease(c *call, args []string) int {
	c.errorf("not available in local runs: it publishes releases to the git host. Run releases from Semaphore (or baton's server), not from a local run")
	return 1
}
