//go:build !linux

package reaper

// becomeSubreaper does nothing where there are no subreapers: orphaned
// descendants go to init, and only the process group is killed.
func becomeSubreaper() error { return nil }
