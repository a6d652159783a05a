package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// outputPipeSize is the capacity baton run asks for when its output is a
// pipe: its blocks of output (liveBlock) then rarely wait for the reader
// to take the one before, which a default pipe of 64 KiB holds only one
// of. Pages are used only while the pipe holds data.
const outputPipeSize = 1 << 20

// growOutputPipe grows w to outputPipeSize when it is a smaller pipe.
// Where the kernel refuses (a user over its pipe limits) or w is no pipe,
// it leaves w as it is.
func growOutputPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	rc, err := f.SyscallConn() // unlike Fd, leaves the descriptor's mode alone
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if size, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && size < outputPipeSize {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, outputPipeSize)
		}
	})
}
