//go:build !unix

package logstore

import "os"

// lockFile is a no-op where flock is unavailable: only one process may
// write a log there, as documented.
func lockFile(*os.File) error { return nil }

// lockable tells whether lockFile really locks.
const lockable = false
