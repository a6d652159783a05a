//go:build !linux

package reaper

import "syscall"

// parentDeathSignal is unused where there is no PR_SET_PDEATHSIG.
const parentDeathSignal = syscall.Signal(0)

// becomeSubreaper does nothing where there are no subreapers: orphaned
// descendants go to init, and only the process group is killed.
func becomeSubreaper() error { return nil }

// setParentDeathSignal does nothing: the lifeline alone tells.
func setParentDeathSignal(*syscall.SysProcAttr) {}
