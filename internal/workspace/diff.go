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
	out, err := gitrepo.Run(ctx, s.repo.Root(), env, append(safeConfig[:len(safeConfig):len(safeConfig)], "diff", "--name-only", "--no-renames", rng, "--")...)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(out, "\n") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}
