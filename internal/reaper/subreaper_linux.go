package reaper

import "syscall"

// parentDeathSignal is the signal the kernel sends the supervisor when
// the thread that started it exits (PR_SET_PDEATHSIG). A Go program's
// threads may exit while the program runs on, so the supervisor checks
// that its parent changed before it acts.
const parentDeathSignal = syscall.SIGUSR2

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// becomeSubreaper makes orphaned descendants of this process its
// children instead of init's.
func becomeSubreaper() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return e
	}
	return nil
}

// setParentDeathSignal asks for parentDeathSignal when the parent dies.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = parentDeathSignal }
