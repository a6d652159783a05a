package toolbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
)

// TestCacheReadOnlyForForks: the job service, not the job, refuses a
// fork's writes, so no variable the job sets or unsets changes that.
func TestCacheReadOnlyForForks(t *testing.T) {
	t.Parallel()
	writer := newCacheEnv(t)
	gittest.Write(t, writer.dir, map[string]string{"deps/a": "a"})
	writer.cache_(t, "store", "deps", "deps").check(t, 0, "Stored")

	forkScope := testScope
	forkScope.Fork = true
	fork := newCacheEnv(t)
	fork.cache = writer.cache
	fork.env = append([]string{"HOME=" + fork.home, "BATON_CACHE_READONLY=0"}, serve(t, forkScope, writer.cache, "")...)
	gittest.Write(t, fork.dir, map[string]string{"other/b": "b"})
	for _, args := range [][]string{
		{"store", "other", "other"},
		{"delete", "deps"},
		{"clear"},
	} {
		fork.cache_(t, args...).check(t, 0, "cache: refused: cache "+args[0]+" is not allowed for pull requests from forks")
	}
	// Reading still works, and nothing changed.
	fork.cache_(t, "has_key", "deps").check(t, 0)
	fork.cache_(t, "has_key", "other").check(t, 1)
	fork.cache_(t, "restore", "deps").check(t, 0, "HIT")
	if des, _ := os.ReadDir(filepath.Join(writer.cache, "proj-1", "entries")); len(des) != 1 {
		t.Errorf("the cache has %d keys, want 1", len(des))
	}
}
