package cli

import (
	"os"
	"testing"

	"github.com/creack/pty"
)

// TestNullDeviceIsNotATerminal: /dev/null is a character device but not a
// terminal, so `baton run >/dev/null` writes no colours; a pty is one.
func TestNullDeviceIsNotATerminal(t *testing.T) {
	t.Parallel()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("%s is taken for a terminal", os.DevNull)
	}
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer tty.Close()
	if !isTerminal(tty) {
		t.Errorf("a pty is not taken for a terminal")
	}
}
