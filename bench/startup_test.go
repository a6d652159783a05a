package bench

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startUntil runs baton with args and returns how long it took to print
// a line starting with ready, then stops it.
func startUntil(b *testing.B, ready string, args ...string) time.Duration {
	b.Helper()
	home := b.TempDir()
	cmd := exec.Command(baton(b), args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	var seen []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ready) {
			return time.Since(start)
		}
		seen = append(seen, sc.Text())
	}
	b.Fatalf("baton %s did not print %q:\n%s", args[0], ready, strings.Join(seen, "\n"))
	return 0
}

// BenchmarkStart: from exec to `baton up` serving ("Baton is running
// at") and to `baton agent` connecting ("agent ... connecting to"), with
// the machine's default sources (npm's registry setting is read on the
// first Node.js fetch) against the baseline of every source given as a
// flag (nothing to look up), in the same run, alternating.
func BenchmarkStart(b *testing.B) {
	if _, err := exec.LookPath("npm"); err != nil {
		b.Skip("no npm on this machine: nothing to look up")
	}
	given := []string{"--tool-source", "node=http://127.0.0.1:9", "--tool-source", "go=http://127.0.0.1:9", "--tool-sumdb", "off"}
	for _, c := range []struct {
		name, ready string
		args        func(b *testing.B) []string
	}{
		{"up", "Baton is running at ", func(b *testing.B) []string {
			return []string{"up", "--data", b.TempDir(), "--addr", "127.0.0.1:0", "--slots", "1"}
		}},
		{"agent", "agent ", func(b *testing.B) []string {
			return []string{"agent", "--server", "http://127.0.0.1:9", "--token", "x", "--executor", "shell", "--data", b.TempDir(), "--work-dir", filepath.Join(b.TempDir(), "work")}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var def, base time.Duration
			for b.Loop() {
				def += startUntil(b, c.ready, c.args(b)...)
				base += startUntil(b, c.ready, append(c.args(b), given...)...)
			}
			b.ReportMetric(float64(def.Milliseconds())/float64(b.N), "default-ms/start")
			b.ReportMetric(float64(base.Milliseconds())/float64(b.N), "sources-given-ms/start")
			b.ReportMetric(0, "ns/op")
		})
	}
}
