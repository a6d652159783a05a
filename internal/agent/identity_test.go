package agent_test

import (
	"testing"

	"github.com/batonci/baton/internal/agent"
)

// Two agents of one name on different data directories have different
// identities (neither sweeps the other's containers); one agent keeps its
// identity across restarts.
func TestIdentity(t *testing.T) {
	a, b := agent.Identity("ci-1", "/srv/agent-a"), agent.Identity("ci-1", "/srv/agent-b")
	if a == b {
		t.Errorf("same identity %q for two data directories", a)
	}
	if again := agent.Identity("ci-1", "/srv/agent-a/"); again != a {
		t.Errorf("identity changed across restarts: %q, then %q", a, again)
	}
}
