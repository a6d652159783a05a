//go:build !unix

package agent

// lockDir does nothing where flock is not available.
func lockDir(path string) (unlock func(), err error) {
	return func() {}, nil
}
