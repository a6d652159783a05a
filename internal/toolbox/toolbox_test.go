package toolbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
)

// TestMain makes the test binary a toolbox binary when it is called by a
// toolbox name (through the symlinks Install makes), so that the shell
// tests run the real executables.
func TestMain(m *testing.M) {
	if name := filepath.Base(os.Args[0]); slices.Contains(Names(), name) {
		os.Exit(Main(context.Background(), name, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
	}
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

// result is what a toolbox command did.
type result struct {
	code           int
	stdout, stderr string
}

// tool runs a toolbox command in-process in dir with env (KEY=VALUE; PATH
// and HOME come from the test process unless given).
func tool(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), name, args, append(base, env...), dir, strings.NewReader(""), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) check(t *testing.T, wantCode int, stderrHas ...string) {
	t.Helper()
	if r.code != wantCode {
		t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, wantCode, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	names := Names()
	for _, want := range []string{"checkout", "cache", "checksum", "artifact", "test-results", "sem-context", "retry", "sem-version", "sem-service", "install-package"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s", want)
		}
	}
	names[0] = "changed"
	if Names()[0] == "changed" {
		t.Error("Names() returns shared state")
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	tool(t, t.TempDir(), nil, "nope").check(t, 127, "nope: not a toolbox command")
}

func TestMessagesArePrefixed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"cache", []string{"bogus"}},
		{"artifact", []string{"push"}},
		{"sem-context", []string{"get"}},
		{"retry", nil},
		{"sem-version", nil},
		{"sem-service", []string{"start", "postgres"}},
		{"install-package", []string{"jq"}},
		{"test-results", []string{"bogus"}},
		{"checkout", nil},
		{"checksum", nil},
	} {
		r := tool(t, dir, nil, tc.name, tc.args...)
		if r.code == 0 {
			t.Errorf("%s %q: exit status 0, want failure", tc.name, tc.args)
		}
		for line := range strings.Lines(r.stderr) {
			if !strings.HasPrefix(line, tc.name+": ") && !strings.HasPrefix(line, "usage: ") && !strings.HasPrefix(line, "       ") {
				t.Errorf("%s %q: stderr line without the command's name: %q", tc.name, tc.args, line)
			}
		}
	}
}

func TestInstall(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "bin")
	baton := filepath.Join(t.TempDir(), "baton")
	if err := Install(bin, baton); err != nil {
		t.Fatal(err)
	}
	if err := Install(bin, baton); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	for _, name := range Names() {
		got, err := os.Readlink(filepath.Join(bin, name))
		if err != nil || got != baton {
			t.Errorf("%s -> %q, %v; want -> %s", name, got, err, baton)
		}
	}
	if err := os.Remove(filepath.Join(bin, "cache")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "cache"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Install(bin, baton); err == nil {
		t.Error("Install replaced a regular file")
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	specs := []flagSpec{{long: "destination", short: "d", value: true}, {long: "force", short: "f"}}
	tests := []struct {
		args    []string
		wantPos []string
		want    flags
		wantErr bool
	}{
		{[]string{"push", "job", "x", "-d", "y", "-f"}, []string{"push", "job", "x"}, flags{"destination": "y", "force": ""}, false},
		{[]string{"--destination=a=b", "p"}, []string{"p"}, flags{"destination": "a=b"}, false},
		{[]string{"-d=z", "--", "-f"}, []string{"-f"}, flags{"destination": "z"}, false},
		{[]string{"-"}, []string{"-"}, flags{}, false},
		{[]string{"--bogus"}, nil, nil, true},
		{[]string{"-d"}, nil, nil, true},
		{[]string{"--force=yes"}, nil, nil, true},
	}
	for _, tt := range tests {
		pos, f, err := parseFlags(tt.args, specs)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if !slices.Equal(pos, tt.wantPos) || len(f) != len(tt.want) {
			t.Errorf("parseFlags(%q) = %q, %v; want %q, %v", tt.args, pos, f, tt.wantPos, tt.want)
		}
		for k, v := range tt.want {
			if f[k] != v {
				t.Errorf("parseFlags(%q)[%s] = %q, want %q", tt.args, k, f[k], v)
			}
		}
	}
}

func TestUnavailableCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tool(t, dir, nil, "sem-service", "start", "postgres", "14").check(t, 1, "sem-service: cannot start services here: this is not a job that baton runs")
	tool(t, dir, nil, "sem-service", "status", "redis").check(t, 1, "sem-service: cannot start services here")
	tool(t, dir, nil, "sem-service", "launch", "redis").check(t, 1, `sem-service: unknown subcommand "launch"`, "usage: sem-service start SERVICE")
	tool(t, dir, nil, "install-package", "libpq-dev").check(t, 1, "install-package: not available in local runs")
	tool(t, dir, nil, "sem-semantic-release").check(t, 1, "not available in local runs")
}

// bashAvailable skips tests that need bash.
func bashAvailable(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
}
