package probe

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a TB that records how a probe ended the test.
type recorder struct{ fatal, skip string }

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var r recorder
		Eventually(&r, time.Minute, func() error {
			if time.Since(start) < 3*time.Second {
				return errors.New("not yet")
			}
			return nil
		})
		if r.fatal != "" {
			t.Fatalf("failed: %s", r.fatal)
		}
		if waited := time.Since(start); waited > 3*time.Second+50*time.Millisecond {
			t.Errorf("returned %v after the condition held", waited-3*time.Second)
		}
	})
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		n := 0
		Eventually(&r, 5*time.Second, func() error {
			n++
			return fmt.Errorf("state queued (poll %d)", n)
		})
		if !strings.Contains(r.fatal, "after 5s") || !strings.Contains(r.fatal, fmt.Sprintf("state queued (poll %d)", n)) {
			t.Errorf("failure %q does not say how long it waited and what it last saw", r.fatal)
		}
	})
}

func TestMissingSkipsLocallyAndFailsInCI(t *testing.T) {
	t.Setenv("CI", "")
	var local recorder
	Missing(&local, "no %s", "docker")
	if local.skip != "no docker" || local.fatal != "" {
		t.Errorf("locally: skip %q, fatal %q; want a skip", local.skip, local.fatal)
	}
	t.Setenv("CI", "true")
	var ci recorder
	Missing(&ci, "no %s", "docker")
	if ci.skip != "" || !strings.HasPrefix(ci.fatal, "no docker") {
		t.Errorf("in CI: skip %q, fatal %q; want a failure", ci.skip, ci.fatal)
	}
}

func TestRequireRefusesAnUnknownDependency(t *testing.T) {
	var r recorder
	Require(&r, "dokker")
	if !strings.Contains(r.fatal, `"dokker"`) {
		t.Errorf("fatal %q, want it to name the unknown dependency", r.fatal)
	}
}
