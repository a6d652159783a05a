package bashproc

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// groupAlive reports whether a live (non-zombie) process is left in process
// group pgid. kill(-pgid, 0) alone is not enough: orphaned children are
// reparented to init, and where init does not reap them (as in many
// containers) their zombies still count as group members.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); err == syscall.ESRCH {
		return false
	}
	d, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	want := []byte(strconv.Itoa(pgid))
	buf := make([]byte, 512)
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		f, err := os.Open("/proc/" + name + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		n, _ := f.Read(buf)
		_ = f.Close()
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces and ')'.
		stat := buf[:n]
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(stat[i+1:])
		if len(fields) < 3 {
			continue
		}
		state := fields[0]
		if bytes.Equal(fields[2], want) && !bytes.Equal(state, []byte("Z")) && !bytes.Equal(state, []byte("X")) {
			return true
		}
	}
	return false
}

// growPipe makes the pipe fd holds at least size bytes large. It fails for
// anything but a pipe, and for a user over the kernel's limits
// (/proc/sys/fs/pipe-max-size, pipe-user-pages-soft).
func growPipe(fd uintptr, size int) error {
	cur, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETPIPE_SZ, 0)
	if e != 0 {
		return e
	}
	if int(cur) >= size {
		return nil
	}
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETPIPE_SZ, uintptr(size)); e != 0 {
		return e
	}
	return nil
}
