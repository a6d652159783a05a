//go:build !unix

package repocache

import "context"

// lockFile is a no-op where flock is not available: fetches are then
// serialised only inside one process.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	return func() {}, nil
}
