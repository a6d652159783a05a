// Package gitrepo answers questions about a local git repository: where its
// top level is, what HEAD, the current and default branches and the remote
// are, what a commit says, which files a commit range changes.
//
// It is a thin wrapper over the git command-line tool (run with os/exec),
// so it sees exactly what the user's git sees: worktrees, alternates,
// packed refs, shallow clones and the user's configuration. Every git
// command it runs has GIT_OPTIONAL_LOCKS=0, so reading a repository never
// rewrites its index, and the variables that point git at another
// repository (GIT_DIR, GIT_INDEX_FILE, ...) are removed from the
// environment, so a Repo always means the directory it was opened on.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrNotRepository is returned by Open for a directory that is not inside a
// git working tree.
var ErrNotRepository = errors.New("not a git repository")

// ErrNoCommits is returned by HeadSHA for a repository whose current branch
// has no commits yet.
var ErrNoCommits = errors.New("repository has no commits yet")

// ErrUnknownRevision is wrapped by the errors of methods that were given a
// revision the repository does not have.
var ErrUnknownRevision = errors.New("unknown revision")

// Repo is a git working tree on this machine. Its methods are safe for
// concurrent use.
type Repo struct {
	root         string // absolute top level of the working tree
	gitDir       string // absolute; .git, or .git/worktrees/<name> for a linked worktree
	commonDir    string // absolute; shared by all worktrees
	objectsDir   string // absolute
	indexFile    string // absolute
	objectFormat string // "sha1" or "sha256"
	remoteURL    string // remote.origin.url, may be empty
}

// Open returns the repository whose working tree contains dir. It fails
// with an error wrapping ErrNotRepository if there is none (or if dir is
// inside a bare repository, which has no working tree).
func Open(ctx context.Context, dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open repository: %s is not a directory", abs)
	}
	out, err := Run(ctx, abs, nil, "rev-parse", "--path-format=absolute",
		"--is-inside-work-tree", "--show-toplevel", "--absolute-git-dir", "--git-common-dir",
		"--git-path", "objects", "--git-path", "index", "--show-object-format")
	if err != nil {
		var gerr *Error
		if errors.As(err, &gerr) && strings.Contains(gerr.Stderr, "not a git repository") {
			return nil, fmt.Errorf("open repository: %s: %w (run baton inside a git working tree, or `git init` one)", abs, ErrNotRepository)
		}
		if errors.As(err, &gerr) && strings.Contains(gerr.Stderr, "must be run in a work tree") {
			return nil, fmt.Errorf("open repository: %s: %w: it is a bare repository or a git directory, not a working tree", abs, ErrNotRepository)
		}
		return nil, fmt.Errorf("open repository %s: %w", abs, err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 1 || lines[0] != "true" {
		return nil, fmt.Errorf("open repository: %s: %w: it is inside a git directory or a bare repository, not a working tree", abs, ErrNotRepository)
	}
	if len(lines) != 7 {
		return nil, fmt.Errorf("open repository %s: unexpected output of git rev-parse: %q", abs, out)
	}
	r := &Repo{
		root:         filepath.Clean(lines[1]),
		gitDir:       filepath.Clean(lines[2]),
		commonDir:    filepath.Clean(lines[3]),
		objectsDir:   filepath.Clean(lines[4]),
		indexFile:    filepath.Clean(lines[5]),
		objectFormat: lines[6],
	}
	r.remoteURL, err = r.configValue(ctx, "remote.origin.url")
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", abs, err)
	}
	return r, nil
}

// Root is the absolute path of the top level of the working tree.
func (r *Repo) Root() string { return r.root }

// GitDir is the absolute path of the repository's git directory (.git, or
// .git/worktrees/NAME in a linked worktree).
func (r *Repo) GitDir() string { return r.gitDir }

// CommonDir is the absolute path of the git directory shared by all
// worktrees of the repository; it holds the objects, refs and config.
func (r *Repo) CommonDir() string { return r.commonDir }

// ObjectsDir is the absolute path of the repository's object database.
func (r *Repo) ObjectsDir() string { return r.objectsDir }

// IndexFile is the absolute path of the working tree's index (staging
// area) file. It need not exist.
func (r *Repo) IndexFile() string { return r.indexFile }

// ObjectFormat is the repository's hash algorithm: "sha1" or "sha256".
func (r *Repo) ObjectFormat() string { return r.objectFormat }

// RemoteURL is the URL of the remote named origin, as configured (before
// any url.*.insteadOf rewriting), or "" if there is no such remote.
func (r *Repo) RemoteURL() string { return r.remoteURL }

// Slug is the repository's "owner/name": the path of the origin remote's
// URL without a trailing ".git" for network URLs (https, ssh, git and
// scp-like "host:owner/name"), its last two path elements for file URLs
// and local paths, and the name of the top-level directory if there is no
// remote.
func (r *Repo) Slug() string {
	if s := SlugFromURL(r.remoteURL); s != "" {
		return s
	}
	return filepath.Base(r.root)
}

// RepoName is the last element of Slug: the repository's name.
func (r *Repo) RepoName() string {
	s := r.Slug()
	return s[strings.LastIndexByte(s, '/')+1:]
}

// SlugFromURL returns the "owner/name" of a git remote URL, or "" if it has
// none. See Repo.Slug.
func SlugFromURL(rawURL string) string {
	u := strings.TrimSpace(rawURL)
	if u == "" {
		return ""
	}
	var p string
	local := false
	switch {
	case strings.Contains(u, "://"):
		parsed, err := url.Parse(u)
		if err != nil {
			return ""
		}
		p = parsed.Path
		local = parsed.Scheme == "file"
	case isSCPLike(u):
		p = u[strings.IndexByte(u, ':')+1:]
	default:
		p = u
		local = true
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), "/.git")
	p = strings.TrimSuffix(p, ".git")
	var parts []string
	for part := range strings.SplitSeq(p, "/") {
		if part != "" && part != "." {
			parts = append(parts, part)
		}
	}
	if local && len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "/")
}

// isSCPLike reports whether u is git's scp-like syntax "[user@]host:path":
// a colon before any slash.
func isSCPLike(u string) bool {
	colon := strings.IndexByte(u, ':')
	slash := strings.IndexByte(u, '/')
	return colon > 0 && (slash < 0 || colon < slash)
}

// HeadSHA returns the full hash of the commit HEAD points at, or an error
// wrapping ErrNoCommits if the current branch has no commits yet.
func (r *Repo) HeadSHA(ctx context.Context) (string, error) {
	out, err := Run(ctx, r.root, nil, "rev-parse", "-q", "--verify", "HEAD^{commit}")
	if err != nil {
		var gerr *Error
		if errors.As(err, &gerr) && gerr.ExitCode == 1 {
			return "", fmt.Errorf("head of %s: %w", r.root, ErrNoCommits)
		}
		return "", fmt.Errorf("head of %s: %w", r.root, err)
	}
	return out, nil
}

// CurrentBranch returns the name of the checked-out branch (which may have
// no commits yet), or "" if HEAD is detached.
func (r *Repo) CurrentBranch(ctx context.Context) (string, error) {
	out, err := Run(ctx, r.root, nil, "symbolic-ref", "-q", "--short", "HEAD")
	if err != nil {
		var gerr *Error
		if errors.As(err, &gerr) && gerr.ExitCode == 1 {
			return "", nil
		}
		return "", fmt.Errorf("current branch of %s: %w", r.root, err)
	}
	return out, nil
}

// DefaultBranch returns the repository's trunk: the branch origin/HEAD
// points at if it is set, else "main" or "master" (in that order) if a
// local or origin branch of that name exists, else the current branch.
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) {
	out, err := Run(ctx, r.root, nil, "for-each-ref", "--format=%(refname)%00%(symref)",
		"refs/remotes/origin/HEAD", "refs/heads/main", "refs/heads/master",
		"refs/remotes/origin/main", "refs/remotes/origin/master")
	if err != nil {
		return "", fmt.Errorf("default branch of %s: %w", r.root, err)
	}
	have := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		name, symref, _ := strings.Cut(line, "\x00")
		if name == "refs/remotes/origin/HEAD" {
			if b, ok := strings.CutPrefix(symref, "refs/remotes/origin/"); ok && b != "" {
				return b, nil
			}
			continue
		}
		have[name] = true
	}
	for _, b := range []string{"main", "master"} {
		if have["refs/heads/"+b] || have["refs/remotes/origin/"+b] {
			return b, nil
		}
	}
	return r.CurrentBranch(ctx)
}

// Commit describes one commit.
type Commit struct {
	SHA            string   // full hash
	Parents        []string // full hashes, first parent first
	AuthorName     string
	AuthorEmail    string
	AuthorTime     time.Time
	CommitterName  string
	CommitterEmail string
	CommitTime     time.Time
	// Subject is the first line of the message.
	Subject string
	// Message is the whole message, without trailing newlines.
	Message string
}

// CommitFormat is the `git show --format` that ParseCommit reads.
const CommitFormat = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%B"

// ParseCommit reads the output of `git show -s --format=CommitFormat`.
func ParseCommit(out string) (*Commit, error) {
	f := strings.SplitN(strings.TrimRight(out, "\n"), "\x00", 10)
	if len(f) != 10 {
		return nil, fmt.Errorf("unexpected output of git show: %q", out)
	}
	at, err1 := time.Parse(time.RFC3339, f[4])
	ct, err2 := time.Parse(time.RFC3339, f[7])
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &Commit{
		SHA:            f[0],
		Parents:        strings.Fields(f[1]),
		AuthorName:     f[2],
		AuthorEmail:    f[3],
		AuthorTime:     at,
		CommitterName:  f[5],
		CommitterEmail: f[6],
		CommitTime:     ct,
		Subject:        f[8],
		Message:        strings.TrimRight(f[9], "\n"),
	}, nil
}

// Commit returns the commit that rev (a hash, a ref, or any revision git
// understands) names. An annotated tag names the commit it tags.
func (r *Repo) Commit(ctx context.Context, rev string) (*Commit, error) {
	out, err := Run(ctx, r.root, nil, "-c", "log.showSignature=false", "show", "-s",
		"--no-color", "--format="+CommitFormat, "--end-of-options", rev+"^{commit}", "--")
	if err != nil {
		if isUnknownRevision(err) {
			return nil, fmt.Errorf("commit %q: %w", rev, ErrUnknownRevision)
		}
		return nil, fmt.Errorf("commit %q: %w", rev, err)
	}
	c, err := ParseCommit(out)
	if err != nil {
		return nil, fmt.Errorf("commit %q: %w", rev, err)
	}
	return c, nil
}

// ChangedFiles returns the paths (relative to the top level, with forward
// slashes) that `git diff --name-only rng` lists, as Semaphore's change_in
// computes them: "a...b" compares b with the merge base of a and b, "a..b"
// and "a b" compare a with b, and a single revision compares it with the
// working tree. Rename detection is on, git's default and so what
// Semaphore's machines do, whatever the user's configuration says: a
// renamed file is listed under its new name only. If a revision in the range does not exist, the error
// wraps ErrUnknownRevision and names it.
func (r *Repo) ChangedFiles(ctx context.Context, rng string) ([]string, error) {
	args := []string{"-c", "diff.renames=true", "-c", "diff.relative=false",
		"diff", "--name-only", "-z", "--no-ext-diff", "--no-textconv", "--end-of-options"}
	args = append(args, strings.Fields(rng)...)
	args = append(args, "--")
	out, err := runRaw(ctx, r.root, nil, args...)
	if err != nil {
		for _, rev := range rangeRevisions(rng) {
			if _, verr := Run(ctx, r.root, nil, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}"); verr != nil {
				return nil, fmt.Errorf("changed files in %q: %w %q: the repository has no such commit (fetch it, or check the range)", rng, ErrUnknownRevision, rev)
			}
		}
		return nil, fmt.Errorf("changed files in %q: %w", rng, err)
	}
	var files []string
	for f := range strings.SplitSeq(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// rangeRevisions splits a range ("a...b", "a..b", "a b", "a") into its
// revisions, leaving out empty sides (which git reads as HEAD).
func rangeRevisions(rng string) []string {
	var revs []string
	for field := range strings.FieldsSeq(rng) {
		var parts []string
		switch {
		case strings.Contains(field, "..."):
			parts = strings.SplitN(field, "...", 2)
		case strings.Contains(field, ".."):
			parts = strings.SplitN(field, "..", 2)
		default:
			parts = []string{strings.TrimPrefix(field, "^")}
		}
		for _, p := range parts {
			if p != "" {
				revs = append(revs, p)
			}
		}
	}
	return revs
}

// TagsAt returns the names of the tags (lightweight and annotated) that
// point at the commit rev names, sorted.
func (r *Repo) TagsAt(ctx context.Context, rev string) ([]string, error) {
	sha, err := Run(ctx, r.root, nil, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("tags at %q: %w", rev, ErrUnknownRevision)
	}
	out, err := Run(ctx, r.root, nil, "for-each-ref", "--points-at="+sha, "--format=%(refname:strip=2)", "refs/tags")
	if err != nil {
		return nil, fmt.Errorf("tags at %q: %w", rev, err)
	}
	var tags []string
	for t := range strings.SplitSeq(out, "\n") {
		if t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags, nil
}

// IsDirty reports whether the working tree differs from HEAD: modified,
// staged, deleted or untracked (not ignored) files. It does not rewrite
// the index.
func (r *Repo) IsDirty(ctx context.Context) (bool, error) {
	out, err := runRaw(ctx, r.root, nil, "status", "--porcelain", "-z", "--untracked-files=normal", "--ignore-submodules=none")
	if err != nil {
		return false, fmt.Errorf("status of %s: %w", r.root, err)
	}
	return len(out) > 0, nil
}

// Config returns the value of git configuration key as the repository
// sees it, or "" if it is not set.
func (r *Repo) Config(ctx context.Context, key string) (string, error) {
	return r.configValue(ctx, key)
}

func (r *Repo) configValue(ctx context.Context, key string) (string, error) {
	out, err := Run(ctx, r.root, nil, "config", "--get", key)
	if err != nil {
		var gerr *Error
		if errors.As(err, &gerr) && gerr.ExitCode == 1 {
			return "", nil
		}
		return "", fmt.Errorf("config %s: %w", key, err)
	}
	return out, nil
}

// Error is a failed git command.
type Error struct {
	Args     []string // git's arguments
	ExitCode int      // -1 if git did not exit normally
	Stderr   string   // what git printed on standard error
	Err      error    // from os/exec
}

// Error returns git's own message (its standard error), or the os/exec
// error if git printed none.
func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg)
}

// Unwrap returns the os/exec error.
func (e *Error) Unwrap() error { return e.Err }

func isUnknownRevision(err error) bool {
	var gerr *Error
	if !errors.As(err, &gerr) {
		return false
	}
	s := gerr.Stderr
	return strings.Contains(s, "unknown revision") || strings.Contains(s, "bad revision") ||
		strings.Contains(s, "Needed a single revision") || strings.Contains(s, "bad object") ||
		strings.Contains(s, "ambiguous argument")
}

// Run runs git with args in dir and returns its standard output without
// the trailing newline. The environment is this process's, without the
// variables that would point git at another repository, with
// GIT_OPTIONAL_LOCKS=0 and LC_ALL=C, plus env ("KEY=VALUE", these win). A
// failure is an *Error carrying git's standard error.
func Run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	out, err := runRaw(ctx, dir, env, args...)
	return strings.TrimRight(string(out), "\n"), err
}

func runRaw(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := Command(ctx, dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		code := -1
		var xerr *exec.ExitError
		if errors.As(err, &xerr) {
			code = xerr.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return stdout.Bytes(), &Error{Args: args, ExitCode: code, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// Command returns an unstarted git command with the directory and
// environment that Run uses.
func Command(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = Environ(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// repoVars are the variables that make git use a repository other than the
// one in its working directory.
var repoVars = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
	"GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_QUARANTINE_PATH",
}

// Environ returns base without the variables that point git at another
// repository, with GIT_OPTIONAL_LOCKS=0, LC_ALL=C and GIT_TERMINAL_PROMPT=0
// set, and then extra appended (later entries win).
func Environ(base []string, extra ...string) []string {
	env := make([]string, 0, len(base)+len(extra)+3)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(repoVars, k) || k == "GIT_OPTIONAL_LOCKS" || k == "LC_ALL" || k == "GIT_TERMINAL_PROMPT" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
	return append(env, extra...)
}
