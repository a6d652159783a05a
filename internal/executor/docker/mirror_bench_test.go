package docker

import (
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/testenv/probe"
)

// BenchmarkMirrorPull measures pulling an image with a 32 MB layer that
// the daemon does not have through a pull-through cache (a docker-registry
// in proxy mode in front of an "upstream" registry, both on this
// machine): the first agent's pull, which the mirror fetches from
// upstream ("cold"), and a second agent's pull of the same image, which
// the mirror serves from its cache ("warm"; the image is removed from the
// daemon in between, as it would be absent on another machine). The
// baseline, in the same run, is `docker pull` straight from upstream.
func BenchmarkMirrorPull(b *testing.B) {
	probe.Require(b, probe.Docker)
	upstream := startRegistry(b, registryOptions{})
	mirror := startRegistry(b, registryOptions{Proxy: "http://" + upstream.Host})
	first := New(Options{AgentID: "bench-mirror-1", Mirror: mirror.Host})
	second := New(Options{AgentID: "bench-mirror-2", Mirror: mirror.Host})
	var cold, warm, direct time.Duration
	for b.Loop() {
		b.StopTimer()
		name := "baton-bench-" + newID() + "/img:1"
		pushLarge(b, upstream, name, 32<<20)
		b.StartTimer()

		start := time.Now()
		if err := first.ensureImages(b.Context(), []executor.Container{{Name: "x", Image: name}}, executor.PullIfNotPresent, nil, io.Discard); err != nil {
			b.Fatal(err)
		}
		cold += time.Since(start)
		dockerRun(b, nil, "rmi", name)

		start = time.Now()
		if err := second.ensureImages(b.Context(), []executor.Container{{Name: "x", Image: name}}, executor.PullIfNotPresent, nil, io.Discard); err != nil {
			b.Fatal(err)
		}
		warm += time.Since(start)
		dockerRun(b, nil, "rmi", name)

		start = time.Now()
		dockerRun(b, nil, "pull", "-q", upstream.Host+"/"+name)
		direct += time.Since(start)
		dockerRun(b, nil, "rmi", upstream.Host+"/"+name)
	}
	n := float64(b.N)
	b.ReportMetric(float64(cold.Milliseconds())/n, "ms-cold-via-mirror")
	b.ReportMetric(float64(warm.Milliseconds())/n, "ms-warm-mirror")
	b.ReportMetric(float64(direct.Milliseconds())/n, "ms-direct-upstream")
}

// pushLarge pushes an image with a layer of size random bytes to r as
// name and removes it locally.
func pushLarge(tb testing.TB, r *registry, name string, size int) {
	tb.Helper()
	dir := tb.TempDir()
	blob := make([]byte, size)
	rand.Read(blob)
	if err := os.WriteFile(filepath.Join(dir, "blob"), blob, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+busyboxImage+"\nCOPY blob /blob\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	remote := r.Host + "/" + name
	dockerRun(tb, nil, "build", "-q", "-t", remote, dir)
	dockerRun(tb, nil, "push", "-q", remote)
	dockerRun(tb, nil, "rmi", remote)
	tb.Cleanup(func() { exec.Command("docker", "rmi", "-f", remote, name).Run() })
}
