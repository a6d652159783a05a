// Package gittest builds real git repositories in temporary directories for
// tests, with the git binary and a hermetic configuration.
package gittest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// identity is the author and committer of the commits tests make.
var identity = []string{
	"GIT_AUTHOR_NAME=Ada Tester", "GIT_AUTHOR_EMAIL=ada@example.com",
	"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com",
}

// Hermetic makes the git commands this process runs ignore the machine's
// and the user's git configuration. Call it from TestMain, before any test
// runs; it returns a function that undoes it.
func Hermetic() (restore func()) {
	old := map[string]*string{}
	set := func(k, v string) {
		if prev, ok := os.LookupEnv(k); ok {
			old[k] = &prev
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	set("GIT_CONFIG_NOSYSTEM", "1")
	set("GIT_CONFIG_GLOBAL", os.DevNull)
	for _, k := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"} {
		if prev, ok := os.LookupEnv(k); ok {
			old[k] = &prev
			os.Unsetenv(k)
		}
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

// Git runs git with args in dir as the test identity and returns its
// trimmed standard output; it fails the test if git fails.
func Git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := TryGit(dir, args...)
	if err != nil {
		tb.Fatalf("git %s (in %s): %v", strings.Join(args, " "), dir, err)
	}
	return out
}

// TryGit is Git that returns the failure instead of failing the test.
func TryGit(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), identity...)
	// No automatic gc: it goes on in the background and races with the
	// removal of the test's temporary directories.
	cmd.Env = append(cmd.Env, "GIT_CONFIG_NOSYSTEM=1", "GIT_OPTIONAL_LOCKS=0",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=gc.auto", "GIT_CONFIG_VALUE_0=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &gitError{err: err, stderr: stderr.String()}
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

type gitError struct {
	err    error
	stderr string
}

func (e *gitError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// Init creates an empty repository (branch "main") in a new temporary
// directory and returns its path.
func Init(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	// Resolve symlinks so that paths compare equal to git's.
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		tb.Fatal(err)
	}
	Git(tb, dir, "init", "-q", "--initial-branch=main", ".")
	return dir
}

// Write writes files (slash-separated relative path → content) under dir,
// creating directories as needed.
func Write(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// Commit writes files, stages everything and commits with message msg; it
// returns the new commit's hash.
func Commit(tb testing.TB, dir, msg string, files map[string]string) string {
	tb.Helper()
	Write(tb, dir, files)
	Git(tb, dir, "add", "-A")
	Git(tb, dir, "commit", "-q", "--allow-empty", "-m", msg)
	return Git(tb, dir, "rev-parse", "HEAD")
}
