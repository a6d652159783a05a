package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/repocache"
)

// TestTriggerFollowsTheBranch: a trigger that names a branch builds its
// head as the repository has it now, whether the server's mirror has that
// commit (no fetch) or not: after a new commit, after a force push back to
// an older commit and to one never fetched; a webhook naming a commit the
// mirror lacks gets it; a deleted branch is refused. Workflow numbers
// follow each other.
func TestTriggerFollowsTheBranch(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, "version: v1.0\nblocks:\n  - task:\n      jobs:\n        - commands: [\"true\"]\n")
		first := strings.TrimSpace(e.repo.Git("rev-parse", "HEAD"))
		number := 0
		run := func(branch, want string) {
			t.Helper()
			wf, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerManual, Branch: branch})
			if err != nil {
				t.Fatalf("Trigger(%s): %v", branch, err)
			}
			number++
			if wf.SHA != want || wf.Number != number {
				t.Errorf("workflow of %s: commit %s, number %d; want %s, %d", branch, wf.SHA, wf.Number, want, number)
			}
		}
		run("main", first)
		second := e.repo.Commit("second", map[string]string{"a.txt": "a\n"})
		run("main", second)
		e.repo.Git("update-ref", "refs/heads/main", first) // force-pushed back
		run("main", first)
		e.repo.Git("checkout", "-q", "--detach", first)
		forced := e.repo.Commit("forced", map[string]string{"b.txt": "b\n"})
		e.repo.Git("update-ref", "refs/heads/main", forced) // force-pushed to a new commit
		run("main", forced)

		// A webhook names its commit, which the mirror does not have yet.
		feature := e.repo.Commit("feature work", map[string]string{"c.txt": "c\n"})
		e.repo.Git("update-ref", "refs/heads/feature", feature)
		wf, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerPush,
			RefType: "branch", Branch: "feature", SHA: feature})
		if err != nil {
			t.Fatal(err)
		}
		number++
		if wf.SHA != feature || wf.Message != "feature work" || wf.Number != number {
			t.Errorf("pushed workflow: %s %q #%d", wf.SHA, wf.Message, wf.Number)
		}

		e.repo.Git("update-ref", "-d", "refs/heads/feature")
		_, err = e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerManual, Branch: "feature"})
		if !errors.Is(err, repocache.ErrUnknownRevision) {
			t.Errorf("Trigger(deleted branch) error = %v, want ErrUnknownRevision", err)
		}
	})
}
