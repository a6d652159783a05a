package toolbox

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
)

// shellEnv installs the toolbox (this test binary) and the shell init file
// and returns the environment for a job's bash.
type shellEnv struct {
	bin, init string
}

func newShellEnv(t *testing.T) shellEnv {
	t.Helper()
	bashAvailable(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := Install(bin, exe); err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(dir, "init.sh")
	if err := os.WriteFile(init, []byte(ShellInit()), 0o644); err != nil {
		t.Fatal(err)
	}
	return shellEnv{bin: bin, init: init}
}

// bash runs script in a job-like bash: strict mode, the init file sourced,
// the toolbox on PATH, env added.
func (s shellEnv) bash(t *testing.T, dir string, env []string, script string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", "set -euo pipefail\nsource \"$BATON_TEST_INIT\"\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+s.bin+":"+os.Getenv("PATH"), "BATON_TEST_INIT="+s.init)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if xerr, ok := err.(*exec.ExitError); ok {
		code = xerr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestShellInitPrintsNothing(t *testing.T) {
	t.Parallel()
	s := newShellEnv(t)
	stdout, stderr, code := s.bash(t, t.TempDir(), nil, "type checkout >/dev/null")
	if stdout != "" || stderr != "" || code != 0 {
		t.Errorf("sourcing ShellInit: stdout %q stderr %q status %d; want nothing", stdout, stderr, code)
	}
}

// jobHome makes a job's home directory with the runner's copy of the
// working tree in it at home/widgets, on branch main.
func jobHome(t *testing.T) (home, ws, sha string) {
	t.Helper()
	home = t.TempDir()
	home, _ = filepath.EvalSymlinks(home)
	ws = filepath.Join(home, "widgets")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, ws, "init", "-q", "--initial-branch=main")
	sha = gittest.Commit(t, ws, "first", map[string]string{"README": "hi\n"})
	return home, ws, sha
}

func TestCheckoutShellFunction(t *testing.T) {
	t.Parallel()
	s := newShellEnv(t)
	outside := t.TempDir()
	outside, _ = filepath.EvalSymlinks(outside)

	tests := []struct {
		name   string
		gitDir string // SEMAPHORE_GIT_DIR; "-" for unset
		setup  func(t *testing.T, home, outside string)
		want   string // the directory checkout cds to, {home} and {outside} replaced
	}{
		{"default: the repository name in home", "-", nil, "{home}/widgets"},
		{"explicit default", "widgets", nil, "{home}/widgets"},
		{"relative", "go/src/github.com/acme/widgets", nil, "{home}/go/src/github.com/acme/widgets"},
		{"absolute in home", "{home}/work/w", nil, "{home}/work/w"},
		{"absolute outside home", "{outside}/abs/w", nil, "{outside}/abs/w"},
		{"replaces an existing directory in home", "old", func(t *testing.T, home, outside string) {
			gittest.Write(t, filepath.Join(home, "old"), map[string]string{"stale.txt": "x"})
		}, "{home}/old"},
		{"uses an empty directory outside home", "{outside}/empty", func(t *testing.T, home, outside string) {
			if err := os.MkdirAll(filepath.Join(outside, "empty"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "{outside}/empty"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, ws, sha := jobHome(t)
			// Each case gets its own "outside" directory.
			caseOutside := filepath.Join(outside, string(rune('a'+i)))
			repl := strings.NewReplacer("{home}", home, "{outside}", caseOutside)
			if tt.setup != nil {
				tt.setup(t, home, caseOutside)
			}
			env := []string{"HOME=" + home, "BATON_JOB_HOME=" + home, "BATON_WORKSPACE=" + ws, "SEMAPHORE_GIT_REPO_NAME=widgets"}
			if tt.gitDir != "-" {
				env = append(env, "SEMAPHORE_GIT_DIR="+repl.Replace(tt.gitDir))
			}
			script := `
checkout
pwd
echo "workspace=$BATON_WORKSPACE"
git rev-parse --abbrev-ref HEAD
echo "local change" > local.txt
cd /
checkout --use-cache
pwd
cat local.txt
`
			stdout, stderr, code := s.bash(t, home, env, script)
			if code != 0 {
				t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			want := repl.Replace(tt.want)
			wantOut := want + "\nworkspace=" + want + "\nmain\n" + want + "\nlocal change\n"
			if stdout != wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s\nstderr:\n%s", stdout, wantOut, stderr)
			}
			if !strings.Contains(stderr, "checkout: Using the working tree snapshot "+sha[:12]+" (branch main) in "+want) {
				t.Errorf("stderr lacks the checkout line:\n%s", stderr)
			}
			if _, err := os.Stat(filepath.Join(want, "stale.txt")); err == nil {
				t.Error("the old content of SEMAPHORE_GIT_DIR is still there")
			}
			if want != ws {
				if _, err := os.Stat(ws); err == nil {
					t.Errorf("the workspace is still at %s as well", ws)
				}
			}
		})
	}
}

func TestCheckoutChangingDirectory(t *testing.T) {
	t.Parallel()
	s := newShellEnv(t)
	home, ws, _ := jobHome(t)
	env := []string{"HOME=" + home, "BATON_JOB_HOME=" + home, "BATON_WORKSPACE=" + ws}
	stdout, stderr, code := s.bash(t, home, env, `
export SEMAPHORE_GIT_DIR=first
checkout
pwd
export SEMAPHORE_GIT_DIR=second
checkout
pwd
ls "$HOME"
`)
	want := home + "/first\n" + home + "/second\nsecond\n"
	if code != 0 || stdout != want {
		t.Errorf("status %d stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
}

func TestCheckoutFailures(t *testing.T) {
	t.Parallel()
	s := newShellEnv(t)

	t.Run("no workspace", func(t *testing.T) {
		stdout, stderr, code := s.bash(t, t.TempDir(), []string{"BATON_WORKSPACE="}, `checkout || echo "failed with $?"; pwd`)
		if !strings.Contains(stdout, "failed with 1") {
			t.Errorf("stdout %q, want a failure with status 1", stdout)
		}
		if !strings.Contains(stderr, "checkout: no working copy for this job: BATON_WORKSPACE is not set") {
			t.Errorf("stderr:\n%s", stderr)
		}
		if code != 0 {
			t.Errorf("status %d", code)
		}
	})

	t.Run("fails the job under set -e", func(t *testing.T) {
		stdout, _, code := s.bash(t, t.TempDir(), []string{"BATON_WORKSPACE=/nonexistent/ws"}, "checkout\necho after")
		if code != 1 || strings.Contains(stdout, "after") {
			t.Errorf("status %d stdout %q; want status 1 and nothing after", code, stdout)
		}
	})

	t.Run("non-empty directory outside home", func(t *testing.T) {
		home, ws, _ := jobHome(t)
		other := t.TempDir()
		gittest.Write(t, other, map[string]string{"precious.txt": "keep me"})
		env := []string{"HOME=" + home, "BATON_JOB_HOME=" + home, "BATON_WORKSPACE=" + ws, "SEMAPHORE_GIT_DIR=" + other}
		_, stderr, code := s.bash(t, home, env, "checkout")
		if code != 1 || !strings.Contains(stderr, "not deleting it") {
			t.Errorf("status %d stderr:\n%s", code, stderr)
		}
		if data, err := os.ReadFile(filepath.Join(other, "precious.txt")); err != nil || string(data) != "keep me" {
			t.Errorf("checkout touched a directory outside home: %q, %v", data, err)
		}
		if _, err := os.Stat(filepath.Join(ws, ".git")); err != nil {
			t.Errorf("the workspace moved: %v", err)
		}
	})

	t.Run("home itself", func(t *testing.T) {
		home, ws, _ := jobHome(t)
		env := []string{"HOME=" + home, "BATON_JOB_HOME=" + home, "BATON_WORKSPACE=" + ws, "SEMAPHORE_GIT_DIR=."}
		_, stderr, code := s.bash(t, home, env, "checkout")
		if code != 1 || !strings.Contains(stderr, "contains the working copy") {
			t.Errorf("status %d stderr:\n%s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(ws, ".git")); err != nil {
			t.Errorf("the workspace is gone: %v", err)
		}
	})

	t.Run("inside the workspace", func(t *testing.T) {
		home, ws, _ := jobHome(t)
		env := []string{"HOME=" + home, "BATON_JOB_HOME=" + home, "BATON_WORKSPACE=" + ws, "SEMAPHORE_GIT_DIR=widgets/sub"}
		_, stderr, code := s.bash(t, home, env, "checkout")
		if code != 1 || !strings.Contains(stderr, "inside the working copy") {
			t.Errorf("status %d stderr:\n%s", code, stderr)
		}
	})
}

func TestCheckoutExecutableAlone(t *testing.T) {
	t.Parallel()
	home, ws, _ := jobHome(t)
	env := []string{"HOME=" + home, "BATON_JOB_HOME=" + home, "BATON_WORKSPACE=" + ws, "SEMAPHORE_GIT_DIR=moved"}
	r := tool(t, home, env, "checkout")
	r.check(t, 0, "checkout: Using the working tree snapshot", "run `cd "+filepath.Join(home, "moved")+"`")
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing when not called by the shell function", r.stdout)
	}
	// Called again after the move, it finds the copy where it left it.
	tool(t, home, env, "checkout").check(t, 0, "in "+filepath.Join(home, "moved"))
	tool(t, home, env, "checkout", "extra").check(t, 1, "unexpected argument")
}
