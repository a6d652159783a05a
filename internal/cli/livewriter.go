package cli

import (
	"io"
	"sync"
	"time"
)

// Live output is written in blocks of up to liveBlock bytes, and no byte
// waits longer than liveDelay for more to join it.
const (
	liveBlock = 64 << 10
	liveDelay = 10 * time.Millisecond
)

// liveWriter gathers output to write it in large blocks, few write calls
// for many lines, but holds no byte back for longer than its delay: a
// line a job prints is shown within the delay although nothing follows
// it. Its timer writes from a goroutine of its own, so every method
// locks.
type liveWriter struct {
	w     io.Writer
	block int           // write once this many bytes are held
	delay time.Duration // the longest a byte is held

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer // writes what is held once the delay is over
	armed bool        // the timer is set
	err   error       // the first write error: what follows is dropped
}

func newLiveWriter(w io.Writer, block int, delay time.Duration) *liveWriter {
	return &liveWriter{w: w, block: block, delay: delay, buf: make([]byte, 0, block+block/4)}
}

// Write holds p, writing what is held once it fills a block.
func (l *liveWriter) Write(p []byte) (int, error) {
	l.release(append(l.hold(), p...))
	return len(p), nil
}

// WriteString is Write for a string.
func (l *liveWriter) WriteString(s string) (int, error) {
	l.release(append(l.hold(), s...))
	return len(s), nil
}

// hold locks the writer and returns the bytes it holds, for the caller
// to append to in place (no copy through Write) and give back with
// release, which unlocks.
func (l *liveWriter) hold() []byte {
	l.mu.Lock()
	return l.buf
}

// release takes back the held bytes that hold returned, appended to:
// it writes them when they fill a block, else makes sure they are
// written within the delay. It unlocks the writer.
func (l *liveWriter) release(buf []byte) {
	defer l.mu.Unlock()
	l.buf = buf
	switch {
	case len(buf) >= l.block:
		l.writeHeld()
	case len(buf) > 0 && !l.armed:
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(l.delay, l.late)
		} else {
			l.timer.Reset(l.delay)
		}
	}
}

// late writes what has been held for the delay.
func (l *liveWriter) late() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	l.writeHeld()
}

// Flush writes what is held now.
func (l *liveWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeHeld()
	return l.err
}

// writeHeld writes the held bytes and stops the timer, which has nothing
// left to write (in a flood it would fire for each delay); the caller holds
// mu. A buffer that one huge line made large is not kept.
func (l *liveWriter) writeHeld() {
	if l.armed && l.timer.Stop() {
		l.armed = false
	}
	if len(l.buf) == 0 {
		return
	}
	if l.err == nil {
		_, l.err = l.w.Write(l.buf)
	}
	if cap(l.buf) > 4*l.block {
		l.buf = make([]byte, 0, l.block+l.block/4)
		return
	}
	l.buf = l.buf[:0]
}
