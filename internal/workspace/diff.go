package workspace

import (
	"context"
	"strings"

	"github.com/batonci/baton/internal/gitrepo"
)

// ChangedFiles lists the files that differ in a git range (`git diff
// --name-only RANGE`), where the range may name the snapshot commit, so
// change_in sees uncommitted changes too.
func (s *Snapshot) ChangedFiles(ctx context.Context, rng string) ([]string, error) {
	env := []string{
		"GIT_OBJECT_DIRECTORY=" + s.objects,
		"GIT_ALTERNATE_OBJECT_DIRECTORIES=" + s.repo.ObjectsDir(),
	}
	// -z: paths as they are, not C-quoted (core.quotePath) when they
	// have unusual characters.
	out, err := gitrepo.Run(ctx, s.repo.Root(), env, append(safeConfig[:len(safeConfig):len(safeConfig)],
		"diff", "--name-only", "-z", "--find-renames", "--no-ext-diff", "--no-textconv", rng, "--")...)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}
