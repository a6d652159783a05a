package reaper

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// proc is what the supervisor needs to know of a process.
type proc struct {
	ppid, pgid int
	start      uint64 // start time, clock ticks after boot
}

// listProcs reads /proc: every process by ID. Processes that exit while it
// reads are left out; zombies are included.
func listProcs() map[int]proc {
	procs := map[int]proc{}
	d, err := os.Open("/proc")
	if err != nil {
		return procs
	}
	names, _ := d.Readdirnames(-1)
	_ = d.Close()
	buf := make([]byte, 1024)
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		f, err := os.Open("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		n, _ := f.Read(buf)
		_ = f.Close()
		if p, ok := parseStat(buf[:n]); ok {
			procs[pid] = p
		}
	}
	return procs
}

// parseStat parses /proc/PID/stat: "pid (comm) state ppid pgrp session
// tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
// priority nice threads itrealvalue starttime ..."; comm may hold spaces
// and ')'.
func parseStat(stat []byte) (proc, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return proc{}, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgid, err2 := strconv.Atoi(string(f[2]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return proc{}, false
	}
	return proc{ppid: ppid, pgid: pgid, start: start}, true
}

// descendants returns the IDs of root's descendants.
func descendants(procs map[int]proc, root int) []int {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// killTree sends sig to every descendant of root, and to root itself
// unless it is this process. With outsideGroup, only descendants that
// left root's process group get it (the group's members got the signal
// from its sender). It reports how many processes it signalled.
func killTree(root int, sig syscall.Signal, outsideGroup bool) int {
	procs := listProcs()
	n := 0
	for _, pid := range descendants(procs, root) {
		if outsideGroup && procs[pid].pgid == procs[root].pgid {
			continue
		}
		if syscall.Kill(pid, sig) == nil {
			n++
		}
	}
	if root != os.Getpid() && syscall.Kill(root, sig) == nil {
		n++
	}
	return n
}
