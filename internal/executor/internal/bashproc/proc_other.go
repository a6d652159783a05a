//go:build !linux

package bashproc

import (
	"errors"
	"syscall"
)

// groupAlive reports whether any process is left in process group pgid.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) != syscall.ESRCH
}

// growPipe is not supported here: the reader does not wait in floods.
func growPipe(fd uintptr, size int) error {
	return errors.ErrUnsupported
}
