package auth

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrBadCredentials is a sign-in with a wrong login or password; which of
// the two is never said.
var ErrBadCredentials = errors.New("wrong login or password")

// RetryError refuses an attempt made too soon after too many failures.
type RetryError struct {
	// After is how long to wait before trying again.
	After time.Duration
}

// Error says how long to wait, in whole seconds.
func (e *RetryError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: try again in %d s", e.Seconds())
}

// Seconds is After rounded up to whole seconds, at least 1 (for
// Retry-After).
func (e *RetryError) Seconds() int {
	return max(1, int(math.Ceil(e.After.Seconds())))
}
