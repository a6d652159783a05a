package docker

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/executortest"
	"github.com/batonci/baton/internal/testenv/probe"
)

// Test images, built by scripts/docker-setup.sh (no registry needed).
const (
	debianImage  = "baton-test/debian"
	busyboxImage = "baton-test/busybox"
)

func TestContract(t *testing.T) {
	probe.Require(t, probe.Docker)
	executortest.Run(t, func(t *testing.T) executor.Executor {
		return New(Options{GracePeriod: time.Second, DefaultImage: debianImage, AgentID: "test-contract"})
	})
}

func TestShellContract(t *testing.T) {
	probe.Require(t, probe.Docker)
	executortest.RunShell(t, func(t *testing.T) executor.Executor {
		return New(Options{GracePeriod: time.Second, DefaultImage: debianImage, AgentID: "test-shell"})
	})
}

// listLabelled returns the containers and networks labelled with the
// agent id.
func listLabelled(t *testing.T, agent string) string {
	t.Helper()
	var out strings.Builder
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", "label=" + LabelAgent + "=" + agent},
		{"network", "ls", "-q", "--filter", "label=" + LabelAgent + "=" + agent},
	} {
		b, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		out.Write(b)
	}
	return strings.TrimSpace(out.String())
}

func TestServices(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	agent := "test-services-" + newID()
	e := New(Options{GracePeriod: time.Second, AgentID: agent})
	var log strings.Builder
	s, err := e.Start(t.Context(), executor.SessionConfig{
		Dir: t.TempDir(),
		Env: []string{"BATON_X=1"},
		Containers: []executor.Container{
			{Name: "main", Image: debianImage},
			{Name: "web", Image: busyboxImage, Env: []string{"GREETING=multi\nline secret"},
				Command: `sh -c 'while true; do printf "%s" "$GREETING" | nc -l -p 8080; done'`},
			{Name: "other", Image: busyboxImage, Command: "sleep 1000", User: "1234"},
		},
		Log: &log,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for _, want := range []string{"Image baton-test/debian: cached", "Service web (baton-test/busybox) started"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("set-up log %q lacks %q", log.String(), want)
		}
	}
	var out strings.Builder
	code, err := s.Run(t.Context(), "exec 3<>/dev/tcp/web/8080; cat <&3; echo; getent hosts other | wc -l; hostname", &out)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v (%q)", code, err, out.String())
	}
	if got, want := out.String(), "multi\nline secret\n1\nmain\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left := listLabelled(t, agent); left != "" {
		t.Errorf("left behind after Close: %s", left)
	}
}

func TestFailingService(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	agent := "test-failing-" + newID()
	e := New(Options{GracePeriod: time.Second, AgentID: agent})
	var log strings.Builder
	_, err := e.Start(t.Context(), executor.SessionConfig{
		Dir: t.TempDir(),
		Containers: []executor.Container{
			{Name: "main", Image: debianImage},
			{Name: "db", Image: busyboxImage, Command: `sh -c 'echo cannot open data dir; exit 3'`},
		},
		Log: &log,
	})
	if err == nil || !strings.Contains(err.Error(), `service "db"`) {
		t.Fatalf("Start error = %v, want a failing service", err)
	}
	if !strings.Contains(log.String(), "cannot open data dir") {
		t.Errorf("log %q lacks the service's last lines", log.String())
	}
	if left := listLabelled(t, agent); left != "" {
		t.Errorf("left behind after a failed start: %s", left)
	}
}

func TestMissingImage(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	e := New(Options{GracePeriod: time.Second, AgentID: "test-missing"})
	_, err := e.Start(t.Context(), executor.SessionConfig{
		Dir:        t.TempDir(),
		Containers: []executor.Container{{Name: "main", Image: "127.0.0.1:1/baton/no-such-image:1"}},
	})
	if err == nil || !strings.Contains(err.Error(), "pull image 127.0.0.1:1/baton/no-such-image:1") {
		t.Fatalf("Start error = %v, want a pull failure naming the image", err)
	}
}

func TestStopMidJobAndSweep(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	agent := "test-stop-" + newID()
	e := New(Options{GracePeriod: time.Second, AgentID: agent})
	ctx, cancel := context.WithCancel(t.Context())
	s, err := e.Start(ctx, executor.SessionConfig{
		Dir: t.TempDir(),
		Containers: []executor.Container{
			{Name: "main", Image: debianImage},
			{Name: "svc", Image: busyboxImage, Command: "sleep 1000"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, err := s.Run(ctx, "sleep 1000", nil); err == nil {
		t.Errorf("Run on a stopped job: no error")
	}
	_ = s.Close()
	if left := listLabelled(t, agent); left != "" {
		t.Errorf("left behind after a stop: %s", left)
	}

	// A session abandoned without Close (the agent died) is swept.
	s2, err := e.Start(t.Context(), executor.SessionConfig{
		Dir: t.TempDir(),
		Containers: []executor.Container{
			{Name: "main", Image: debianImage},
			{Name: "svc", Image: busyboxImage, Command: "sleep 1000"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s2 // abandoned
	if listLabelled(t, agent) == "" {
		t.Fatal("nothing running before the sweep")
	}
	if err := New(Options{AgentID: agent}).Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if left := listLabelled(t, agent); left != "" {
		t.Errorf("left behind after Sweep: %s", left)
	}
	_ = s2.Close()
}

func TestMirrorRef(t *testing.T) {
	for _, tc := range []struct{ image, want string }{
		{"debian:12", "m:5000/library/debian:12"},
		{"org/app", "m:5000/org/app"},
		{"docker.io/org/app:1", "m:5000/org/app:1"},
		{"ghcr.io/org/app", ""},
		{"localhost/app", ""},
	} {
		got, ok := mirrorRef("m:5000", tc.image)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("mirrorRef(%q) = %q, want %q", tc.image, got, tc.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	got := fmt.Sprintf("%q", splitWords(`sh -c 'echo "a b"; x' "c\"d" e\ f`))
	if want := `["sh" "-c" "echo \"a b\"; x" "c\"d" "e f"]`; got != want {
		t.Errorf("splitWords = %s, want %s", got, want)
	}
}
