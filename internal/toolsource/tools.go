package toolsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/batonci/baton/internal/toolcache"
)

// npmName is an npm package name: lower case, optionally scoped.
var npmName = regexp.MustCompile(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)

// NPM installs npm packages as tools: `npm install --global` into the
// entry, with install scripts off (a package's code never runs as the
// agent's user), through the configured registry.
type NPM struct {
	// Registry is the npm registry's base URL; "" means the one
	// RegistryLookup finds on first use, or none.
	Registry       string
	RegistryLookup *Lookup
	// NPM is the npm command; "" means npm on PATH.
	NPM string
	// CacheDir is npm's own cache, the agent's.
	CacheDir string
	Client   *http.Client
}

// CheckNPMName refuses a name that is not an npm package name.
func CheckNPMName(name string) error {
	if !npmName.MatchString(name) || len(name) > 214 {
		return &Refused{Msg: fmt.Sprintf("%q is not an npm package name", name)}
	}
	return nil
}

// Resolve returns the version of package name that want names.
func (n *NPM) Resolve(ctx context.Context, name, want string) (string, error) {
	if err := CheckNPMName(name); err != nil {
		return "", err
	}
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	doc, err := packageDoc(ctx, client, registry(ctx, n.Registry, n.RegistryLookup), name)
	if err != nil {
		return "", err
	}
	v, _, err := resolveNPM(doc, "version of npm package", name, want)
	return v, err
}

// Installer installs name@version with npm, the node in nodeBin (a
// directory, "" for the machine's) running it.
func (n *NPM) Installer(name, version, nodeBin string, progress io.Writer) toolcache.Installer {
	return func(ctx context.Context, dir string) (toolcache.Manifest, error) {
		npm := n.NPM
		if npm == "" {
			p, err := exec.LookPath("npm")
			if err != nil {
				return toolcache.Manifest{}, errors.New("installing npm packages needs npm on the agent's machine, and there is none")
			}
			npm = p
		}
		cmd := exec.CommandContext(ctx, npm, "install", "--global", "--prefix", dir,
			"--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error",
			"--registry", registry(ctx, n.Registry, n.RegistryLookup), "--cache", n.CacheDir, name+"@"+version)
		env := os.Environ()
		if nodeBin != "" {
			env = append(env, "PATH="+nodeBin+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return toolcache.Manifest{}, fmt.Errorf("npm install %s@%s: %v: %s", name, version, err, lastLines(string(out), 10))
		}
		if progress != nil {
			fmt.Fprintf(progress, "installed npm package %s@%s\n", name, version)
		}
		return toolcache.Manifest{Bin: []string{"bin"}, Source: "npm " + name + "@" + version, Verified: "npm checked the registry's integrity hashes"}, nil
	}
}

// GoTool installs Go commands with go install.
type GoTool struct {
	Proxy, SumDB string
	// Go is the go command; "" means go on PATH.
	Go string
	// GoPath is the agent's GOPATH for the builds (its module cache).
	GoPath string
	Client *http.Client
}

// Resolve checks a package path and returns the version want names: an
// exact version (v1.2.3) as it is, "latest" (or "") the proxy's latest
// of the module that holds the package.
func (g *GoTool) Resolve(ctx context.Context, pkg, want string) (string, error) {
	if err := module.CheckImportPath(pkg); err != nil || !strings.Contains(strings.Split(pkg, "/")[0], ".") {
		return "", &Refused{Msg: fmt.Sprintf("%q is not a Go package path", pkg)}
	}
	if want != "" && want != "latest" {
		if !semver.IsValid(want) || semver.Canonical(want) != want {
			return "", &Refused{Msg: fmt.Sprintf("Go tools need an exact version (v1.2.3) or latest, not %q", want)}
		}
		return want, nil
	}
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	for p := pkg; p != "."; p = filepath.Dir(p) {
		esc, err := module.EscapePath(p)
		if err != nil {
			break
		}
		data, err := readSmall(ctx, client, joinURL(g.Proxy, esc, "@latest"), nil, 1<<20)
		var se *StatusError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusGone) {
			continue
		}
		if err != nil {
			return "", err
		}
		var info struct{ Version string }
		if err := json.Unmarshal(data, &info); err != nil || info.Version == "" {
			return "", fmt.Errorf("the proxy's latest of %s: %v", p, err)
		}
		return info.Version, nil
	}
	return "", &UnknownError{What: "Go package", Name: pkg}
}

// Installer builds pkg@version with go install (cgo off, no toolchain
// switch) into the entry's bin.
func (g *GoTool) Installer(pkg, version, goBin string, progress io.Writer) toolcache.Installer {
	return func(ctx context.Context, dir string) (toolcache.Manifest, error) {
		goCmd := g.Go
		if goBin != "" {
			goCmd = filepath.Join(goBin, "go")
		}
		if goCmd == "" {
			p, err := exec.LookPath("go")
			if err != nil {
				return toolcache.Manifest{}, errors.New("installing Go tools needs go: run sem-version go first, or install Go on the agent's machine")
			}
			goCmd = p
		}
		cmd := exec.CommandContext(ctx, goCmd, "install", pkg+"@"+version)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(dir, "bin"), "GOPATH="+g.GoPath,
			"GOFLAGS=-modcacherw", "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOPROXY="+g.Proxy, "GOSUMDB="+g.SumDB,
			"GOCACHE="+filepath.Join(g.GoPath, "cache"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return toolcache.Manifest{}, fmt.Errorf("go install %s@%s: %v: %s", pkg, version, err, lastLines(string(out), 10))
		}
		if progress != nil {
			fmt.Fprintf(progress, "built %s@%s\n", pkg, version)
		}
		return toolcache.Manifest{Bin: []string{"bin"}, Source: "go install " + pkg + "@" + version, Verified: "go checked the modules against go.sum and the checksum database"}, nil
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
