package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/batonci/baton"

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
	Imports    []string
	Name       string
}

// listPackages runs `go list -deps -json` over the module.
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	pkgs := map[string]pkg{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestDependencyDirection checks the rules of ../shared/STYLE.md.
func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	rules := []struct {
		pkgs      []string
		forbidden []string
		why       string
	}{
		{
			pkgs:      []string{"internal/ci", "internal/pipeline", "internal/when", "internal/plan", "internal/jobenv", "internal/jobspec", "internal/editdist", "internal/containerjob", "internal/scheduler", "internal/pipelinestate", "internal/testreport", "internal/coverage"},
			forbidden: []string{"net/http", "database/sql", "os/exec"},
			why:       "the pure core takes values and returns values",
		},
		{
			pkgs:      []string{"internal/agent", "internal/executor", "internal/executor/shell", "internal/executor/docker", "internal/runner", "internal/redact", "internal/imagecache"},
			forbidden: []string{module + "/internal/store", module + "/internal/api", module + "/internal/engine", module + "/internal/dispatch", "database/sql", "github.com/jackc/pgx/v5", "modernc.org/sqlite"},
			why:       "agents and executors never reach the server's state",
		},
		{
			pkgs:      []string{"internal/engine", "internal/dispatch", "internal/vault", "internal/web", "internal/api", "internal/store", "internal/agentapi", "internal/scheduler"},
			forbidden: []string{module + "/internal/runner", module + "/internal/executor"},
			why:       "the server hands jobs out as jobspec.Job; only agents and `baton run` run them",
		},
		{
			pkgs:      []string{"internal/forge", "internal/forge/github", "internal/forge/gitlab", "internal/forge/gitea"},
			forbidden: []string{module + "/internal/store", module + "/internal/engine", module + "/internal/api", "database/sql"},
			why:       "forge adapters speak HTTP to a forge and nothing else",
		},
		{pkgs: []string{"internal/forge/github"}, forbidden: []string{module + "/internal/forge/gitlab", module + "/internal/forge/gitea"}, why: "adapters never import their siblings"},
		{pkgs: []string{"internal/forge/gitlab"}, forbidden: []string{module + "/internal/forge/github", module + "/internal/forge/gitea"}, why: "adapters never import their siblings"},
		{pkgs: []string{"internal/forge/gitea"}, forbidden: []string{module + "/internal/forge/github", module + "/internal/forge/gitlab"}, why: "adapters never import their siblings"},
	}
	for _, r := range rules {
		for _, name := range r.pkgs {
			p, ok := pkgs[module+"/"+name]
			if !ok {
				t.Errorf("package %s not found", name)
				continue
			}
			for _, d := range p.Deps {
				for _, f := range r.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s depends on %s: %s", name, d, r.why)
					}
				}
			}
		}
	}
}

// TestCommandLineOnly: internal/cli is the command line (the command
// table, flags, rendering). It reaches local runs through localrun and
// agents' executors through agent, and never drives jobs itself.
func TestCommandLineOnly(t *testing.T) {
	p, ok := listPackages(t)[module+"/internal/cli"]
	if !ok {
		t.Fatal("package internal/cli not found")
	}
	forbidden := []string{"internal/runner", "internal/executor", "internal/containerjob", "internal/jobsvc", "internal/workspace", "internal/gitrepo"}
	for _, imp := range p.Imports {
		for _, f := range forbidden {
			if f = module + "/" + f; imp == f || strings.HasPrefix(imp, f+"/") {
				t.Errorf("internal/cli imports %s: local runs go through internal/localrun, agents' executors through internal/agent", imp)
			}
		}
	}
}

// TestStdlibOnly checks that the protocol's vocabulary packages and the
// API's client import nothing but the standard library (and the client
// the contract), so that every side can share them.
func TestStdlibOnly(t *testing.T) {
	pkgs := listPackages(t)
	for _, name := range []string{"internal/jobspec", "internal/apiv1", "internal/apiclient"} {
		p, ok := pkgs[module+"/"+name]
		if !ok {
			t.Errorf("package %s not found", name)
			continue
		}
		for _, d := range p.Deps {
			if d == module+"/internal/apiv1" && name == "internal/apiclient" {
				continue // the client speaks the contract
			}
			if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") {
				t.Errorf("%s depends on %s: it must import only the standard library", name, d)
			}
		}
	}
}

// TestEveryPackageIsDocumented checks that each package has a doc comment.
func TestEveryPackageIsDocumented(t *testing.T) {
	for path, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}

// TestOnlyMainExits: os.Exit skips deferred clean-up and makes code
// untestable, so only cmd/baton's main calls it; everything else returns
// an exit code or takes an exit function.
func TestOnlyMainExits(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}|{{join .GoFiles \",\"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, files, _ := strings.Cut(line, "|")
		if strings.HasSuffix(filepath.ToSlash(dir), "/cmd/baton") || files == "" {
			continue
		}
		for _, name := range strings.Split(files, ",") {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if ok && sel.Sel.Name == "Exit" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "os" {
						t.Errorf("%s calls os.Exit; only cmd/baton's main may", fset.Position(sel.Pos()))
					}
				}
				return true
			})
		}
	}
}

// TestInjectedLoggers: the API and the pages log with the logger the
// server gives them, never the process-wide default.
func TestInjectedLoggers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}|{{join .GoFiles \",\"}}", module+"/internal/api", module+"/internal/web").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, files, _ := strings.Cut(line, "|")
		for _, name := range strings.Split(files, ",") {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if ok && sel.Sel.Name == "Default" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "slog" {
						t.Errorf("%s calls slog.Default(); log with the injected Config.Logger", fset.Position(sel.Pos()))
					}
				}
				return true
			})
		}
	}
}
