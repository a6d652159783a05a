package docker

import (
	"os/exec"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/testenv/probe"
)

// BenchmarkStart measures a session's start with a cached image until the
// first command has run, and closing it, against its baseline measured in
// the same run: `docker run --rm IMAGE true`.
func BenchmarkStart(b *testing.B) {
	probe.Require(b, probe.Docker)
	b.Run("baseline-docker-run", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("docker", "run", "--rm", debianImage, "true").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("session", func(b *testing.B) {
		benchSession(b, []executor.Container{{Name: "main", Image: debianImage}})
	})
}

// BenchmarkStartServices measures a session with two service containers
// against starting the three containers by hand (network, two detached
// services, the main one running `true`) and removing them.
func BenchmarkStartServices(b *testing.B) {
	probe.Require(b, probe.Docker)
	b.Run("baseline-by-hand", func(b *testing.B) {
		for b.Loop() {
			id := newID()
			run := func(args ...string) {
				if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
					b.Fatalf("docker %v: %v: %s", args, err, out)
				}
			}
			run("network", "create", "bench-"+id)
			run("run", "-d", "--name", "bench-"+id+"-a", "--network", "bench-"+id, busyboxImage, "sleep", "1000")
			run("run", "-d", "--name", "bench-"+id+"-b", "--network", "bench-"+id, busyboxImage, "sleep", "1000")
			run("run", "--rm", "--network", "bench-"+id, debianImage, "true")
			run("rm", "-f", "bench-"+id+"-a", "bench-"+id+"-b")
			run("network", "rm", "bench-"+id)
		}
	})
	b.Run("session", func(b *testing.B) {
		benchSession(b, []executor.Container{
			{Name: "main", Image: debianImage},
			{Name: "a", Image: busyboxImage, Command: "sleep 1000"},
			{Name: "b", Image: busyboxImage, Command: "sleep 1000"},
		})
	})
}

func benchSession(b *testing.B, cs []executor.Container) {
	e := New(Options{GracePeriod: time.Second, AgentID: "bench"})
	dir := b.TempDir()
	var first time.Duration
	for b.Loop() {
		start := time.Now()
		s, err := e.Start(b.Context(), executor.SessionConfig{Dir: dir, Containers: cs})
		if err != nil {
			b.Fatal(err)
		}
		if code, err := s.Run(b.Context(), "true", nil); err != nil || code != 0 {
			b.Fatalf("Run = %d, %v", code, err)
		}
		first += time.Since(start)
		_ = s.Close()
	}
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms-to-first-command")
}
