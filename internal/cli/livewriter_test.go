package cli

import (
	"bytes"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lockedBuffer is a bytes.Buffer that a liveWriter's timer may write to
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLiveWriter: bytes are held until a block is full or the delay is
// over, whichever comes first, and Flush writes them at once.
func TestLiveWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		w := newLiveWriter(&out, 8, 10*time.Millisecond)
		w.WriteString("one\n")
		if got := out.String(); got != "" {
			t.Fatalf("written at once: %q", got)
		}
		time.Sleep(9 * time.Millisecond)
		synctest.Wait()
		if got := out.String(); got != "" {
			t.Fatalf("written before the delay: %q", got)
		}
		w.WriteString("two\n") // held 1 ms already: the timer is not reset
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := out.String(); got != "one\ntwo\n" {
			t.Fatalf("after the delay: %q", got)
		}

		w.WriteString("a full block\n")
		if got := out.String(); got != "one\ntwo\na full block\n" {
			t.Fatalf("a full block is held: %q", got)
		}
		w.WriteString("three\n")
		w.Flush()
		if got := out.String(); got != "one\ntwo\na full block\nthree\n" {
			t.Fatalf("after Flush: %q", got)
		}
		time.Sleep(time.Second)
		if got := out.String(); got != "one\ntwo\na full block\nthree\n" {
			t.Fatalf("written twice: %q", got)
		}
	})
}
