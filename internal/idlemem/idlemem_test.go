package idlemem

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonci/baton/internal/testenv/probe"
)

// counting replaces trim with one that counts and trims.
func counting(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	old := trim
	trim = func() { old(); n.Add(1) }
	t.Cleanup(func() { trim = old })
	return &n
}

var sink [][]byte

// TestQuietProcessReturnsItsGarbage: after a burst of allocations, the
// first quiet period collects and returns the memory to the system.
func TestQuietProcessReturnsItsGarbage(t *testing.T) {
	n := counting(t)
	// No collection of its own meanwhile: the garbage stays in the heap
	// until Run takes it back.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	before := read()
	if before.held < 48<<20 {
		t.Fatalf("the heap holds %d MiB after the burst, want the 64 MiB of garbage", before.held>>20)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go Run(ctx, Config{Every: 20 * time.Millisecond})
	probe.Eventually(t, 10*time.Second, func() error {
		if n.Load() == 0 {
			return errNotYet
		}
		return nil
	})
	if after := read(); after.held > before.held-32<<20 {
		t.Errorf("the heap holds %d MiB after the trim, %d MiB before: want the garbage returned", after.held>>20, before.held>>20)
	}
}

// TestBusyProcessIsLeftAlone: a process that allocates more than Quiet in
// every period is never trimmed, nor is a quiet one with nothing to give.
func TestBusyProcessIsLeftAlone(t *testing.T) {
	n := counting(t)
	runtime.GC()
	debug.FreeOSMemory()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { Run(ctx, Config{Every: 50 * time.Millisecond, Quiet: 1 << 20}); close(done) }()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		for range 8 {
			sink = append(sink, make([]byte, 64<<10))
		}
		sink = sink[:0]
		time.Sleep(time.Millisecond)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("a busy process was trimmed %d times", got)
	}
	// Quiet now, with little beyond the live heap: at most the one
	// collection that the busy period's garbage is worth.
	time.Sleep(500 * time.Millisecond)
	if got := n.Load(); got > 1 {
		t.Errorf("a quiet process with nothing to give was trimmed %d times", got)
	}
	cancel()
	<-done
}

var errNotYet = errorString("not trimmed yet")

type errorString string

func (e errorString) Error() string { return string(e) }
