// Package idlemem gives a quiet process's unused memory back to the
// operating system.
//
// Go's collector runs when the heap has grown by GOGC percent, and the
// runtime returns free memory to the system only above the heap's goal.
// A server that went quiet after a burst (or that holds a thousand idle
// long polls, which allocate a little now and then) keeps the garbage of
// its last cycle and the free pages under that goal for minutes. Like the
// JVM's periodic collection of an idle heap, Run watches the allocation
// rate and, once the process has been quiet for a period, collects and
// returns what is free: a quiet server's resident memory is then its live
// heap, not its goal.
package idlemem

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config says when a process is quiet, and what is worth returning.
type Config struct {
	// Every is how often the allocation rate is looked at (default 10s).
	Every time.Duration
	// Quiet is how many bytes a period may allocate and still be quiet
	// (default 16 MiB: a busy server allocates that in a fraction of a
	// second).
	Quiet uint64
	// Slack is how much the heap must hold beyond its live objects (their
	// garbage, free pages not yet returned) to be worth a collection
	// (default 4 MiB).
	Slack uint64
}

// Run trims the process's memory whenever a period was quiet and the heap
// holds more than Slack beyond what lives, until ctx ends. It costs a
// read of a few runtime metrics per period, and a collection only when
// it returns something.
func Run(ctx context.Context, cfg Config) {
	if cfg.Every <= 0 {
		cfg.Every = 10 * time.Second
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 16 << 20
	}
	if cfg.Slack == 0 {
		cfg.Slack = 4 << 20
	}
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	last := read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := read()
		if now.allocs-last.allocs <= cfg.Quiet && now.held > now.live+cfg.Slack {
			trim()
			now = read() // its own allocations do not count
		}
		last = now
	}
}

// trim collects and returns free memory (a variable for tests).
var trim = debug.FreeOSMemory

// sample is what Run reads of the runtime.
type sample struct {
	allocs uint64 // bytes allocated since the process started
	live   uint64 // the heap's live bytes at the last collection
	held   uint64 // heap memory the process holds from the system
}

var names = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

func read() sample {
	ms := make([]metrics.Sample, len(names))
	for i, n := range names {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	return sample{allocs: v(0), live: v(1), held: v(2) + v(3) + v(4)}
}
