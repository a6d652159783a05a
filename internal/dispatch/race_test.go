//go:build race

package dispatch_test

import "time"

// wakeLimit is the wake-up latency allowed under the race detector, which
// slows everything down several times.
const wakeLimit = 250 * time.Millisecond
