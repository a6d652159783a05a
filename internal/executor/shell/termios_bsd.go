//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package shell

import (
	"os"
	"syscall"
	"unsafe"
)

// rawOutput turns off echo and output post-processing (such as \n → \r\n)
// on the terminal tty, so the session's output reaches Go byte for byte.
func rawOutput(tty *os.File) error {
	rc, err := tty.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		var t syscall.Termios
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGETA, uintptr(unsafe.Pointer(&t))); e != 0 {
			ioErr = e
			return
		}
		t.Lflag &^= syscall.ECHO | syscall.ECHOE | syscall.ECHOK | syscall.ECHONL
		t.Oflag &^= syscall.OPOST
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSETA, uintptr(unsafe.Pointer(&t))); e != 0 {
			ioErr = e
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}
