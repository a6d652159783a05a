package shell_test

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/reaper"
)

// BenchmarkCommandOverhead runs 500 `true` commands. One op of "baseline"
// is `bash -c 'true; true; …'`; one op of "pty" and "pipe" is a whole
// session: Start, 500 Session.Run calls, Close. The ns/cmd metric is the
// per-command cost; the acceptance target is (session − baseline)/500 under
// 1 ms.
func BenchmarkCommandOverhead(b *testing.B) {
	const n = 500
	script := strings.Repeat("true; ", n)
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("bash", "--noprofile", "--norc", "-c", script).Run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cmd")
	})
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			e := shell.New(shell.Options{PTY: m.pty, GracePeriod: time.Second})
			dir := b.TempDir()
			for b.Loop() {
				s, err := e.Start(b.Context(), executor.SessionConfig{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				for range n {
					if code, err := s.Run(b.Context(), "true", io.Discard); err != nil || code != 0 {
						b.Fatalf("Run = %d, %v", code, err)
					}
				}
				_ = s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cmd")
		})
	}
}

// BenchmarkMillionLines runs `seq 1000000` (6.9 MB). One op of "baseline"
// is bare `bash -c 'seq 1000000'` writing to a pipe that Go reads to EOF;
// one op of "pty" and "pipe" is Session.Run of the same command into
// io.Discard in a session started beforehand. B/op shows memory stays flat.
func BenchmarkMillionLines(b *testing.B) {
	const cmd = "seq 1000000"
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			c := exec.Command("bash", "--noprofile", "--norc", "-c", cmd)
			c.Stdout = w
			if err := c.Start(); err != nil {
				b.Fatal(err)
			}
			_ = w.Close()
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
			_ = r.Close()
			if err := c.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			e := shell.New(shell.Options{PTY: m.pty, GracePeriod: time.Second})
			s, err := e.Start(b.Context(), executor.SessionConfig{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			for b.Loop() {
				if code, err := s.Run(b.Context(), cmd, io.Discard); err != nil || code != 0 {
					b.Fatalf("Run = %d, %v", code, err)
				}
			}
		})
	}
}

// BenchmarkSessionStartClose measures what a job supervisor adds to a
// session's life: start, one command, close. The supervisor is this test
// binary, or the binary BATON_BENCH_SUPERVISOR names (a baton binary, whose
// start costs more, as deployed).
func BenchmarkSessionStartClose(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	if bin := os.Getenv("BATON_BENCH_SUPERVISOR"); bin != "" {
		self = bin
	}
	ahead := shell.New(shell.Options{Supervisor: &reaper.Supervisor{Binary: self, RecordDir: b.TempDir()}, Prestart: 1})
	defer ahead.Close()
	for _, bc := range []struct {
		name string
		e    *shell.Executor
	}{
		{"direct", shell.New(shell.Options{})},
		{"supervised", shell.New(shell.Options{Supervisor: &reaper.Supervisor{Binary: self, RecordDir: b.TempDir()}})},
		// The supervisor started ahead, ready before each session is
		// asked for (the wait is not timed), as between a trigger and the
		// next.
		{"supervised-ahead", ahead},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			var toFirst time.Duration
			for b.Loop() {
				if bc.e == ahead {
					b.StopTimer()
					waitSupervisorReady(b)
					b.StartTimer()
				}
				start := time.Now()
				s, err := bc.e.Start(b.Context(), executor.SessionConfig{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if code, err := s.Run(b.Context(), "true", io.Discard); code != 0 || err != nil {
					b.Fatal(code, err)
				}
				toFirst += time.Since(start)
				_ = s.Close()
			}
			// Start to the first command done: what a job's start waits for.
			b.ReportMetric(float64(toFirst.Microseconds())/float64(b.N)/1000, "start-to-first-ms")
		})
	}
}

// waitSupervisorReady waits until a supervisor started ahead by this
// process waits for its program.
func waitSupervisorReady(b *testing.B) {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(time.Millisecond) {
		out, _ := exec.Command("pgrep", "-P", strconv.Itoa(os.Getpid()), "-f", "control-fd").Output()
		for _, f := range strings.Fields(string(out)) {
			// Waiting: not yet the parent of the session's bash.
			if kids, _ := os.ReadFile("/proc/" + f + "/task/" + f + "/children"); len(kids) == 0 {
				return
			}
		}
	}
	b.Fatal("no supervisor ready after a minute")
}
