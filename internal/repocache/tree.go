package repocache

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/repourl"
)

// File is one file of a commit's tree, as ListFiles reports it.
type File struct {
	// Path is slash-separated, relative to the top level.
	Path string
	// Mode is git's: "100644", "100755" or "120000" (a symbolic link).
	Mode string
	Size int64
}

// ListFiles lists every file of commit sha of url (not directories or
// submodules), sorted by path, fetching first if the mirror lacks the
// commit.
func (c *Cache) ListFiles(ctx context.Context, url, sha string) ([]File, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return nil, err
	}
	m, err := c.commit(ctx, u, sha)
	if err != nil {
		return nil, err
	}
	out, err := c.git(ctx, m, "ls-tree", "-r", "-z", "--long", "--full-tree", "--end-of-options", sha+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("list files at %s of %s: %w", sha, repourl.Redact(u), err)
	}
	var files []File
	for entry := range strings.SplitSeq(string(out), "\x00") {
		meta, name, ok := strings.Cut(entry, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 4 || f[1] != "blob" {
			continue
		}
		size, _ := strconv.ParseInt(f[3], 10, 64)
		files = append(files, File{Path: name, Mode: f[0], Size: size})
	}
	return files, nil
}

// Log returns the commits reachable from sha that changed path (every
// commit when path is ""), newest first, at most limit, following the
// file's renames when path is a file.
func (c *Cache) Log(ctx context.Context, url, sha, path string, limit int) ([]CommitInfo, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return nil, err
	}
	m, err := c.commit(ctx, u, sha)
	if err != nil {
		return nil, err
	}
	args := []string{"-c", "log.showSignature=false", "log", "-z", "--no-color", "--format=" + gitrepo.CommitFormat,
		"--max-count=" + strconv.Itoa(limit), "--end-of-options", sha + "^{commit}", "--"}
	if path != "" {
		args = append(args, cleanPath(path))
	}
	out, err := c.git(ctx, m, args...)
	if err != nil {
		return nil, fmt.Errorf("log of %s at %s of %s: %w", path, sha, repourl.Redact(u), err)
	}
	var commits []CommitInfo
	// -z ends each commit with a NUL; a record has 10 NUL-separated
	// fields of its own, so records are split by counting.
	fields := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	for len(fields) >= 10 {
		ci, err := gitrepo.ParseCommit(strings.Join(fields[:10], "\x00"))
		if err != nil {
			return nil, fmt.Errorf("log of %s at %s of %s: %w", path, sha, repourl.Redact(u), err)
		}
		commits = append(commits, *ci)
		fields = fields[10:]
		if len(fields) > 0 {
			fields[0] = strings.TrimLeft(fields[0], "\n")
		}
	}
	return commits, nil
}

// Archive writes the tree of commit sha of url to w as a tar archive
// (`git archive`), fetching first if the mirror lacks the commit.
func (c *Cache) Archive(ctx context.Context, url, sha string, w io.Writer) error {
	u, err := normalizeURL(url)
	if err != nil {
		return err
	}
	m, err := c.commit(ctx, u, sha)
	if err != nil {
		return err
	}
	cmd := gitrepo.Command(ctx, m, []string{"GIT_ASKPASS=", "SSH_ASKPASS=", "GCM_INTERACTIVE=never"},
		"archive", "--format=tar", "--end-of-options", sha+"^{commit}")
	var stderr strings.Builder
	cmd.Stdout = w
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("archive %s of %s: %w: %s", sha, repourl.Redact(u), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// ResolveCached is Resolve answered by the mirror as it is, without a
// fetch: the ref's commit as of the mirror's last fetch. A mirror that
// does not exist yet, or lacks the ref, is ErrUnknownRevision.
func (c *Cache) ResolveCached(ctx context.Context, url, ref string) (string, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return "", err
	}
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("resolve %q in %s: %w", ref, repourl.Redact(u), ErrUnknownRevision)
	}
	m := filepath.Join(c.dir, key(u)+".git")
	if _, err := os.Stat(m); err != nil {
		return "", fmt.Errorf("resolve %q in %s: %w: no mirror yet", ref, repourl.Redact(u), ErrUnknownRevision)
	}
	out, err := c.git(ctx, m, "rev-parse", "-q", "--verify", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("resolve %q in %s: %w", ref, repourl.Redact(u), ErrUnknownRevision)
	}
	return strings.TrimSpace(string(out)), nil
}
