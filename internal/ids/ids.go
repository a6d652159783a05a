// Package ids makes the identifiers of workflows, pipelines, jobs and
// projects: random (version 4) UUIDs, as Semaphore uses.
package ids

import (
	"crypto/rand"
	"fmt"
)

// New returns a new random UUID in its canonical text form.
func New() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
