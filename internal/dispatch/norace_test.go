//go:build !race

package dispatch_test

import "time"

// wakeLimit is the wake-up latency allowed: a job queued while a poll
// waits is delivered within it.
const wakeLimit = 50 * time.Millisecond
