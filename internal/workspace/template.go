package workspace

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/batonci/baton/internal/gitrepo"
)

// template is a snapshot checked out once; job copies are copies of it.
type template struct {
	dir   string
	index *indexFile // parsed .git/index; nil if it could not be parsed
}

// indexRel is the template's index, relative to its top level.
const indexRel = ".git/index"

// templateConfig keeps the template's index in the one format indexFile
// patches, and its checkout free of daemons.
var templateConfig = []string{
	"-c", "index.version=2", "-c", "core.splitIndex=false", "-c", "core.untrackedCache=false",
	"-c", "core.fsmonitor=false", "-c", "checkout.workers=0", "-c", "gc.auto=0",
	"-c", "maintenance.auto=false", "-c", "advice.detachedHead=false",
}

func buildTemplate(ctx context.Context, s *Snapshot, dir string) (*template, error) {
	repo := s.repo
	git := func(stdin string, args ...string) (string, error) {
		cmd := gitrepo.Command(ctx, dir, nil, append(templateConfig[:len(templateConfig):len(templateConfig)], args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			var xerr *exec.ExitError
			if errors.As(err, &xerr) {
				return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(xerr.Stderr)))
			}
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimRight(string(out), "\n"), nil
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := git("", "init", "-q", "--template=", "--object-format="+repo.ObjectFormat(), "."); err != nil {
		return nil, err
	}
	gitDir := filepath.Join(dir, ".git")

	// Objects: the snapshot's, then the user's, read in place.
	alternates := s.objects + "\n" + repo.ObjectsDir() + "\n"
	if err := os.WriteFile(filepath.Join(gitDir, "objects", "info", "alternates"), []byte(alternates), 0o644); err != nil {
		return nil, err
	}
	// A shallow repository's history ends where its shallow file says.
	if err := copyFileIfExists(filepath.Join(repo.CommonDir(), "shallow"), filepath.Join(gitDir, "shallow")); err != nil {
		return nil, err
	}

	// Refs: the branch, plus the user's tags and origin's branches.
	refs, err := gitrepo.Run(ctx, repo.Root(), nil, "for-each-ref", "--format=%(objectname) %(refname) %(symref)", "refs/tags", "refs/remotes/origin")
	if err != nil {
		return nil, err
	}
	var updates strings.Builder
	var originHead string
	hasUpstream := false
	for line := range strings.SplitSeq(refs, "\n") {
		oid, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, symref, _ := strings.Cut(rest, " ")
		if name == "refs/remotes/origin/HEAD" {
			originHead = symref
			continue
		}
		if s.branch != "" && name == "refs/remotes/origin/"+s.branch {
			hasUpstream = true
		}
		fmt.Fprintf(&updates, "create %s %s\n", name, oid)
	}
	if s.branch != "" {
		fmt.Fprintf(&updates, "create refs/heads/%s %s\n", s.branch, s.sha)
	}
	if _, err := git(updates.String(), "update-ref", "--stdin"); err != nil {
		return nil, err
	}
	if s.branch != "" {
		_, err = git("", "symbolic-ref", "HEAD", "refs/heads/"+s.branch)
	} else {
		_, err = git("", "update-ref", "--no-deref", "HEAD", s.sha)
	}
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(originHead, "refs/remotes/origin/") {
		if _, err := git("", "symbolic-ref", "refs/remotes/origin/HEAD", originHead); err != nil {
			return nil, err
		}
	}
	if _, err := git("", "pack-refs", "--all", "--prune"); err != nil {
		return nil, err
	}

	// Configuration a clone of origin would have.
	var cfg strings.Builder
	if url := repo.RemoteURL(); url != "" {
		fmt.Fprintf(&cfg, "[remote \"origin\"]\n\turl = %s\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n", configQuote(url))
		if hasUpstream {
			fmt.Fprintf(&cfg, "[branch %s]\n\tremote = origin\n\tmerge = %s\n", configQuote(s.branch), configQuote("refs/heads/"+s.branch))
		}
	}
	if lfs := filepath.Join(repo.CommonDir(), "lfs"); isDir(lfs) {
		fmt.Fprintf(&cfg, "[lfs]\n\tstorage = %s\n", configQuote(lfs))
	}
	if cfg.Len() > 0 {
		f, err := os.OpenFile(filepath.Join(gitDir, "config"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		_, werr := f.WriteString(cfg.String())
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, err
		}
	}

	// The files.
	if _, err := git("", "reset", "-q", "--hard", "HEAD"); err != nil {
		return nil, err
	}
	if err := setTreeTimes(dir, templateTime(time.Now())); err != nil {
		return nil, err
	}

	t := &template{dir: dir}
	if data, err := os.ReadFile(filepath.Join(dir, indexRel)); err == nil {
		hashSize := 20
		if repo.ObjectFormat() == "sha256" {
			hashSize = sha256.Size
		}
		t.index, _ = parseIndex(data, hashSize) // on failure copies keep the template's index
	}
	return t, nil
}

// setTreeTimes sets the access and modification times of every file and
// symlink under dir, except in .git, to t.
func setTreeTimes(dir string, t time.Time) error {
	ts := syscall.NsecToTimespec(t.UnixNano())
	times := [2]syscall.Timespec{ts, ts}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == filepath.Join(dir, ".git") {
				return filepath.SkipDir
			}
			return nil
		}
		return lutimens(p, &times)
	})
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// copyTo copies the template to dst (which must not exist) and gives the
// copy an index with the copy's stat data.
func (t *template) copyTo(ctx context.Context, dst string) error {
	skip := func(rel string) bool { return t.index != nil && rel == indexRel }
	stats, err := copyTree(ctx, t.dir, dst, skip)
	if err != nil {
		return err
	}
	if t.index == nil {
		return nil
	}
	return os.WriteFile(filepath.Join(dst, indexRel), t.index.withStats(stats), 0o644)
}
