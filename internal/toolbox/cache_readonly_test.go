package toolbox

import (
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
)

func TestCacheReadOnlyForForks(t *testing.T) {
	t.Parallel()
	writer := newCacheEnv(t)
	gittest.Write(t, writer.dir, map[string]string{"deps/a": "a"})
	writer.cache_(t, "store", "deps", "deps").check(t, 0, "Stored")

	fork := newCacheEnv(t, "BATON_CACHE_READONLY=1")
	fork.cache = writer.cache
	fork.env = append(append([]string{}, writer.env...), "BATON_CACHE_READONLY=1")
	gittest.Write(t, fork.dir, map[string]string{"other/b": "b"})
	for _, args := range [][]string{
		{"store", "other", "other"},
		{"delete", "deps"},
		{"clear"},
	} {
		fork.cache_(t, args...).check(t, 0, "The cache is read-only for this job")
	}
	// Reading still works, and nothing changed.
	fork.cache_(t, "has_key", "deps").check(t, 0)
	fork.cache_(t, "has_key", "other").check(t, 1)
	fork.cache_(t, "restore", "deps").check(t, 0, "HIT")
}
