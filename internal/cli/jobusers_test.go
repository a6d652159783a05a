package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestNotRootSaysJobsShareItsRights checks the one line `baton up` and
// `baton agent` print when they cannot run jobs as other users, and that
// --job-user is refused then.
func TestNotRootSaysJobsShareItsRights(t *testing.T) {
	old := runsAsRoot
	runsAsRoot = func() bool { return false }
	defer func() { runsAsRoot = old }()

	var stderr bytes.Buffer
	o := &IO{Err: &stderr}
	pool, work, err := jobIsolation(o, "up", "", 2, "", "/srv/baton")
	if err != nil || pool != nil || work != "" {
		t.Fatalf("jobIsolation = %v, %q, %v", pool, work, err)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "baton up: jobs run as this user") || !strings.Contains(lines[0], "share its rights") || !strings.Contains(lines[0], "data directory") {
		t.Errorf("warning = %q, want one line saying jobs share the user's rights", stderr.String())
	}

	stderr.Reset()
	if _, _, err := jobIsolation(o, "agent", "ci", 1, "", "/srv/baton"); err == nil || !strings.Contains(err.Error(), "only root") {
		t.Errorf("--job-user without root = %v, want a refusal", err)
	}
}
