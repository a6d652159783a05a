package cli

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGrowOutputPipe: baton run's output, a pipe, grows to
// outputPipeSize; a file is left alone.
func TestGrowOutputPipe(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	size := func() int {
		n, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := size(); got >= outputPipeSize {
		t.Fatalf("a new pipe holds %d bytes already: the test proves nothing", got)
	}
	growOutputPipe(w)
	if got := size(); got != outputPipeSize {
		t.Errorf("pipe holds %d bytes, want %d", got, outputPipeSize)
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	growOutputPipe(f)
	if _, err := f.WriteString("still writable\n"); err != nil {
		t.Errorf("a file after growOutputPipe: %v", err)
	}
}
