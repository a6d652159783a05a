package engine

import (
	"context"
	"errors"
	"time"
)

// headBranchTimeout bounds how long creating a project waits to learn
// its repository's default branch.
const headBranchTimeout = 15 * time.Second

// HeadBranch returns the branch the repository at url checks out by
// default (the branch its HEAD names), for a new project's default
// branch.
func (e *Engine) HeadBranch(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, headBranchTimeout)
	defer cancel()
	return e.cfg.Repos.HeadBranch(ctx, url)
}

// ForgetProject deletes what this server keeps of a deleted project
// outside the database: the logs of its jobs (jobIDs) and its
// repository mirrors. It goes on past a failure and returns them all.
func (e *Engine) ForgetProject(projectID string, jobIDs []string) error {
	var errs []error
	if e.cfg.Logs != nil {
		for _, id := range jobIDs {
			if err := e.cfg.Logs.Delete(id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if e.cfg.Repos != nil {
		if err := e.cfg.Repos.RemoveProject(projectID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
