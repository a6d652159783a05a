package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
)

// These tests run the agent in a synctest bubble, with the fake server in
// memory and a fake executor: time is virtual, so timing is exact, and
// the bubble fails the test if any goroutine the agent started outlives
// Run.

// fakeExecutor runs a tiny command language: "echo WORDS", "sleep
// DURATION", "lines N" (N numbered lines), "exit N"; anything else
// succeeds silently.
type fakeExecutor struct{}

func (fakeExecutor) Start(ctx context.Context, cfg executor.SessionConfig) (executor.Session, error) {
	return &fakeSession{}, nil
}

type fakeSession struct{}

func (*fakeSession) Run(ctx context.Context, command string, out io.Writer) (int, error) {
	f := strings.Fields(command)
	if len(f) == 0 {
		return 0, nil
	}
	switch f[0] {
	case "echo":
		fmt.Fprintln(out, strings.Join(f[1:], " "))
	case "lines":
		n, _ := strconv.Atoi(f[1])
		io.WriteString(out, lines("line", n))
	case "sleep":
		d, _ := time.ParseDuration(f[1])
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	case "exit":
		n, _ := strconv.Atoi(f[1])
		return n, nil
	}
	return 0, nil
}

func (*fakeSession) Close() error { return nil }

// memListener is a listener that never accepts anything, until closed.
type memListener struct {
	closed chan struct{}
	once   sync.Once
}

func newMemListener() *memListener { return &memListener{closed: make(chan struct{})} }

func (l *memListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return &net.UnixAddr{Name: "mem", Net: "unix"} }

func bubbleConfig(t *testing.T, h http.Handler) agent.Config {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return agent.Config{
		ServerURL:  "http://baton.test",
		Token:      testToken,
		DataDir:    t.TempDir(),
		BatonPath:  self,
		Env:        []string{"PATH=/usr/bin:/bin"},
		Executor:   fakeExecutor{},
		HTTPClient: &http.Client{Transport: memTransport{h}},
		// A unix socket's Accept is not durably blocking: the bubble's
		// clock would never move.
		JobServiceListen: func(string) (net.Listener, error) { return newMemListener(), nil },
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func TestTimingInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeServer(t)
		fs.pollTimeout = 30 * time.Second
		cfg := bubbleConfig(t, fs.Handler())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx, cfg) }()

		start := time.Now()
		first := fs.enqueue(assignment("first", "echo a", "sleep 1s", "echo b"))
		second := fs.enqueue(assignment("second", "echo second"))

		// Output is sent ChunkInterval after it is printed, without
		// waiting for more.
		fs.waitFor(t, "the first output", time.Minute, func() bool {
			for _, c := range first.chunks {
				for _, e := range c.Events {
					if e.Output == "a\n" {
						return true
					}
				}
			}
			return false
		})
		if got := time.Since(start); got != agent.DefaultChunkInterval {
			t.Errorf("the first output arrived after %v, want %v", got, agent.DefaultChunkInterval)
		}

		// One slot: the second job waits for the first, and starts as
		// soon as it ends, not when the long poll times out.
		fs.result(t, first, time.Minute)
		fs.result(t, second, time.Minute)
		if got := time.Since(start); got > 2*time.Second {
			t.Errorf("the second job finished after %v, want about 1.4s", got)
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		if len(fs.disconnects) != 1 {
			t.Errorf("disconnects = %v", fs.disconnects)
		}
	})
}

func TestFlakyServerInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeServer(t)
		fs.pollTimeout = 30 * time.Second
		fl := newFlaky(fs.Handler(), 0.3, 3)
		cfg := bubbleConfig(t, fl)
		cfg.Slots = 2
		cfg.ChunkSize = 300
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx, cfg) }()

		jobs := []*fakeJob{
			fs.enqueue(assignment("a", "lines 200", "sleep 2s", "echo a")),
			fs.enqueue(assignment("b", "lines 100", "exit 3", "echo never")),
			fs.enqueue(assignment("c", "echo c", "sleep 1h", "echo never")),
			fs.enqueue(assignment("d", "lines 50")),
		}
		fs.waitFor(t, "job c to start", time.Hour, func() bool { return len(jobs[2].chunks) > 0 })
		fs.cancel("c", ci.ReasonFastFailing)

		want := []struct {
			result ci.Result
			reason ci.Reason
			out    map[string]string
		}{
			{ci.ResultPassed, "", map[string]string{"lines 200": lines("line", 200), "echo a": "a\n"}},
			{ci.ResultFailed, ci.ReasonTest, map[string]string{"lines 100": lines("line", 100)}},
			{ci.ResultStopped, ci.ReasonFastFailing, map[string]string{"echo c": "c\n"}},
			{ci.ResultPassed, "", map[string]string{"lines 50": lines("line", 50)}},
		}
		for i, j := range jobs {
			fin, events := fs.result(t, j, time.Hour)
			if fin.Result != want[i].result || fin.Reason != want[i].reason {
				t.Errorf("job %s: result %s/%s, want %s/%s", j.as.JobID, fin.Result, fin.Reason, want[i].result, want[i].reason)
			}
			dirs, out := outputs(events)
			for cmd, w := range want[i].out {
				if out[cmd] != w {
					t.Errorf("job %s: output of %q = %q, want %q", j.as.JobID, cmd, trunc(out[cmd]), trunc(w))
				}
			}
			seen := map[string]bool{}
			for _, d := range dirs {
				if seen[d] && slices.Contains(j.as.Job.Commands, d) {
					t.Errorf("job %s: command %q is twice in the log", j.as.JobID, d)
				}
				seen[d] = true
			}
			if seen["echo never"] {
				t.Errorf("job %s: a command ran after the job ended", j.as.JobID)
			}
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		t.Logf("failures: %v; duplicates: %d", fl.failures, fs.duplicates)
	})
}

func TestDrainWithServerDownInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The server goes away while a job runs and comes back later:
		// the job carries on, and its log and result are delivered.
		fs := newFakeServer(t)
		sw := newSwitchable(fs.Handler(), false)
		cfg := bubbleConfig(t, sw)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx, cfg) }()

		j := fs.enqueue(assignment("j", "echo before", "sleep 10s", "lines 500"))
		fs.waitFor(t, "the job to start", time.Hour, func() bool { return len(j.chunks) > 0 })
		sw.set(true)
		cancel() // drain while the server is down
		time.Sleep(time.Minute)
		select {
		case err := <-done:
			t.Fatalf("Run returned while its job's result was undelivered: %v", err)
		default:
		}
		sw.set(false)
		fin, events := fs.result(t, j, time.Hour)
		if fin.Result != ci.ResultPassed {
			t.Errorf("result = %s", fin.Result)
		}
		if _, out := outputs(events); out["lines 500"] != lines("line", 500) {
			t.Errorf("output = %q", trunc(out["lines 500"]))
		}
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

// switchable is a handler that can be taken down: requests then fail as
// dropped connections.
type switchable struct {
	h    http.Handler
	down chan bool // holds the state
}

func newSwitchable(h http.Handler, down bool) *switchable {
	s := &switchable{h: h, down: make(chan bool, 1)}
	s.down <- down
	return s
}

func (s *switchable) set(down bool) {
	<-s.down
	s.down <- down
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := <-s.down
	s.down <- d
	if d {
		panic(http.ErrAbortHandler)
	}
	s.h.ServeHTTP(w, r)
}

func TestServerLateInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeServer(t)
		sw := newSwitchable(fs.Handler(), true)
		cfg := bubbleConfig(t, sw)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx, cfg) }()

		// The agent keeps trying to register until the server is up.
		time.Sleep(time.Minute)
		sw.set(false)
		j := fs.enqueue(assignment("j", "echo hi"))
		if fin, _ := fs.result(t, j, time.Hour); fin.Result != ci.ResultPassed {
			t.Errorf("result = %s", fin.Result)
		}

		// Stopping while the server is down and no job runs is quick.
		sw.set(true)
		start := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Run took %v to return", d)
		}

		// Nor does an agent that never reached the server wait.
		cfg.DataDir = t.TempDir()
		ctx, cancel = context.WithCancel(t.Context())
		go func() { done <- agent.Run(ctx, cfg) }()
		time.Sleep(time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

func TestHardStopGivesUpInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeServer(t)
		sw := newSwitchable(fs.Handler(), false)
		cfg := bubbleConfig(t, sw)
		stop := make(chan struct{})
		cfg.Stop = stop
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx, cfg) }()

		j := fs.enqueue(assignment("j", "echo started", "sleep 1h"))
		fs.waitFor(t, "the job to start", time.Hour, func() bool { return len(j.chunks) > 0 })
		sw.set(true)
		cancel()
		time.Sleep(time.Minute) // draining: the job runs on
		start := time.Now()
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		// The job stopped at once; its result could not be delivered,
		// and the agent gave up after FlushTimeout.
		if d := time.Since(start); d != agent.DefaultFlushTimeout {
			t.Errorf("Run returned %v after the stop, want %v", d, agent.DefaultFlushTimeout)
		}
		select {
		case <-j.done:
			t.Error("the job finished on a server that was down")
		default:
		}
	})
}
