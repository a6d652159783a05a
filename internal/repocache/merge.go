package repocache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/repourl"
)

// ErrMergeConflict is MergeCommit's error when the head does not merge
// cleanly into the base.
var ErrMergeConflict = errors.New("merge conflict")

// MergeCommit creates, in the mirror of url, the commit that merges
// headSHA into baseSHA, as Semaphore builds a pull request, and returns
// its hash. The head is looked for in the mirror (GitHub's
// refs/pull/N/head arrive with a fetch) and, failing that, fetched from
// headURL (a fork; "" means url). The merge is deterministic: its author,
// committer and date are fixed by the two parents, so merging the same
// commits again, here or in another cache, gives the same hash.
//
// The commit is referenced by no ref of the mirror (a fetch would prune
// it); git keeps unreferenced objects for two weeks before gc prunes them.
func (c *Cache) MergeCommit(ctx context.Context, url, baseSHA, headURL, headSHA string) (string, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return "", err
	}
	if headSHA == "" || strings.HasPrefix(headSHA, "-") {
		return "", fmt.Errorf("merge: head %q: %w", headSHA, ErrUnknownRevision)
	}
	m, err := c.commit(ctx, u, baseSHA)
	if err != nil {
		return "", fmt.Errorf("merge: base: %w", err)
	}
	if !c.hasCommit(ctx, m, headSHA) {
		if err := c.fetchHead(ctx, u, m, headURL, headSHA); err != nil {
			return "", fmt.Errorf("merge: head %s: %w", headSHA, err)
		}
	}
	out, err := c.git(ctx, m, "merge-tree", "--write-tree", "--no-messages", "--", baseSHA, headSHA)
	if err != nil {
		var gerr *gitError
		if errors.As(err, &gerr) && len(out) > 0 {
			return "", fmt.Errorf("merge %s into %s: %w", headSHA, baseSHA, ErrMergeConflict)
		}
		return "", fmt.Errorf("merge %s into %s: %w", headSHA, baseSHA, err)
	}
	tree, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	when, err := c.git(ctx, m, "log", "-1", "--format=%ct", "--end-of-options", headSHA)
	if err != nil {
		return "", fmt.Errorf("merge: read head: %w", err)
	}
	ts, _ := strconv.ParseInt(strings.TrimSpace(string(when)), 10, 64)
	if bw, err := c.git(ctx, m, "log", "-1", "--format=%ct", "--end-of-options", baseSHA); err == nil {
		if b, _ := strconv.ParseInt(strings.TrimSpace(string(bw)), 10, 64); b > ts {
			ts = b
		}
	}
	date := strconv.FormatInt(ts, 10) + " +0000"
	cmd := gitrepo.Command(ctx, m, []string{
		"GIT_AUTHOR_NAME=Baton", "GIT_AUTHOR_EMAIL=baton@localhost", "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=Baton", "GIT_COMMITTER_EMAIL=baton@localhost", "GIT_COMMITTER_DATE=" + date,
	}, "commit-tree", tree, "-p", baseSHA, "-p", headSHA, "-m", "Merge "+headSHA+" into "+baseSHA)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("merge: commit: %w: %s", err, repourl.Redact(strings.TrimSpace(stderr.String())))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// fetchHead brings headSHA into the mirror m of u: a fetch of u, or of
// headURL when it is another repository (a fork), under the mirror's lock.
func (c *Cache) fetchHead(ctx context.Context, u, m, headURL, headSHA string) error {
	h := u
	if headURL != "" {
		var err error
		if h, err = normalizeURL(headURL); err != nil {
			return err
		}
	}
	if key(h) == key(u) {
		if err := c.fetch(ctx, u); err != nil {
			return err
		}
	} else {
		unlock, err := lockFile(ctx, strings.TrimSuffix(m, ".git")+".lock")
		if err != nil {
			return fmt.Errorf("lock the mirror: %w", err)
		}
		_, err = c.remoteGit(ctx, m, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--", h, headSHA)
		unlock()
		if err != nil {
			return fmt.Errorf("fetch %s: %w", repourl.Redact(h), err)
		}
	}
	if !c.hasCommit(ctx, m, headSHA) {
		return fmt.Errorf("%w: %s has no such commit", ErrUnknownRevision, repourl.Redact(h))
	}
	return nil
}
