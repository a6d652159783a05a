// Package repocache keeps git repositories cached on a machine: one bare
// mirror per repository URL in a directory, fetched on demand. The server
// uses it to poll repositories, read pipeline files and commit data at a
// commit and compute change_in; agents use it to give every job a working
// copy of the commit it builds without cloning over the network each time.
//
// It runs the git binary (os/exec) with the environment hygiene of
// internal/gitrepo: no variable that points git at another repository,
// LC_ALL=C, and GIT_TERMINAL_PROMPT=0 so that a repository asking for
// credentials fails instead of hanging. Any URL git can clone works:
// https, ssh, git://, file:// and plain paths (relative paths are made
// absolute). A cache given an SSH identity (SetSSH) reaches SSH URLs
// with that key and those host keys alone (internal/gitssh).
//
// A mirror is created with `git clone --mirror` on first use and updated
// with `git fetch --prune`. Fetches of one URL are serialised: inside a
// process, callers that arrive while a fetch runs share the next one (so
// every caller sees a fetch that started after it called), and across
// processes a lock file (flock) guards each mirror. Reads never take the
// lock: git updates refs atomically and a new mirror appears with a
// rename.
//
// Working copies made by Materialize borrow the mirror's objects through
// alternates (`git clone --shared`), so nothing is copied. Git's automatic
// garbage collection in the mirror only deletes objects that have been
// unreachable for two weeks (gc.pruneExpire), which a working copy of a
// running job does not outlive in practice.
package repocache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/gitssh"
	"github.com/batonci/baton/internal/repourl"
)

// ErrNotExist is wrapped by ReadFile's error when the commit has no file at
// the path. It is fs.ErrNotExist, so errors.Is(err, fs.ErrNotExist) works
// too.
var ErrNotExist = fs.ErrNotExist

// ErrUnknownRevision is wrapped by the errors of methods given a commit,
// ref or range the repository does not have, even after a fetch. It is
// gitrepo.ErrUnknownRevision, so callers branch on one sentinel whether
// the repository is a local working tree or a cached mirror.
var ErrUnknownRevision = gitrepo.ErrUnknownRevision

// CommitInfo describes one commit: its hash, parents, author, committer,
// times and message.
type CommitInfo = gitrepo.Commit

// Cache is a directory of bare mirrors, one per repository URL. Its methods
// are safe for concurrent use, and several processes may share a
// directory.
type Cache struct {
	dir string

	mu       sync.Mutex
	repos    map[string]*repo  // by key
	projects map[string]*Cache // by project ID: see Project

	// afterFetch, when set by tests, runs after every git fetch or clone.
	afterFetch func(url string)

	objects readers // one `git cat-file --batch` per mirror

	// ssh is the identity the commands that reach the repository use
	// (SetSSH); nil leaves ssh to the machine's settings.
	ssh atomic.Pointer[gitssh.Identity]
}

// SetSSH makes this cache's commands that reach a repository (clone,
// fetch, ls-remote) use id's key and known hosts for SSH URLs; nil goes
// back to the machine's ssh settings. A script library's cache is its
// own (Project), so its identity reaches no other repository.
func (c *Cache) SetSSH(id *gitssh.Identity) { c.ssh.Store(id) }

// repo serialises the fetches of one URL in this process.
type repo struct {
	turn chan struct{} // holds a token while a fetch runs
	// fetches counts this process's fetches of the mirror; only every
	// maintenanceEvery-th one lets git run its automatic maintenance.
	fetches atomic.Int64

	mu   sync.Mutex
	next *fetchCall // the fetch the next caller joins; nil if none waits
}

// fetchCall is one fetch shared by the callers that joined it.
type fetchCall struct {
	done    chan struct{}
	waiters int   // callers that joined, for tests
	err     error // valid once done is closed
	// abandoned is set when the caller that ran the fetch gave up (its
	// context ended); the others must not take its error as theirs.
	abandoned bool
}

// New returns a cache of mirrors kept in dir, which is created when first
// needed.
func New(dir string) *Cache {
	return &Cache{dir: dir, repos: map[string]*repo{}}
}

// Dir is the directory that holds the mirrors.
func (c *Cache) Dir() string { return c.dir }

// Project returns the cache of one project's mirrors, in
// DIR/projects/<ID>: a project never reads another project's mirror,
// even of the same URL, so what one project's jobs or settings put in a
// mirror (a fetched pull request head, a URL with another project's
// credentials) never reaches another. The same ID gives the same Cache.
func (c *Cache) Project(id string) *Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.projects[id]; p != nil {
		return p
	}
	if c.projects == nil {
		c.projects = map[string]*Cache{}
	}
	p := New(filepath.Join(c.dir, "projects", projectDir(id)))
	p.afterFetch = c.afterFetch
	c.projects[id] = p
	return p
}

// Projects adapts a Cache to callers that name the project a repository
// is read for: each call uses that project's own mirrors (Project).
type Projects struct{ Cache *Cache }

// ListRefs lists the refs of url for the project of projectID.
func (p Projects) ListRefs(ctx context.Context, projectID, url string) (map[string]string, error) {
	return p.Cache.Project(projectID).ListRefs(ctx, url)
}

// MergeCommit makes a pull request's merge commit in the mirror of the
// project of projectID.
func (p Projects) MergeCommit(ctx context.Context, projectID, url, baseSHA, headURL, headSHA string) (string, error) {
	return p.Cache.Project(projectID).MergeCommit(ctx, url, baseSHA, headURL, headSHA)
}

// projectDir is the directory name of a project's mirrors: its ID when
// that is a safe name (IDs are UUIDs), else a hash of it.
func projectDir(id string) string {
	if id != "" && id != "." && id != ".." && !unsafeChars.MatchString(id) && len(id) <= 64 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "id-" + hex.EncodeToString(sum[:12])
}

// Fetch brings the mirror of url up to date: `git clone --mirror` the
// first time, `git fetch --prune` after. Callers that arrive while a fetch
// of the same URL runs wait for it to end and then share one new fetch.
func (c *Cache) Fetch(ctx context.Context, url string) error {
	u, err := normalizeURL(url)
	if err != nil {
		return err
	}
	return c.fetch(ctx, u)
}

func (c *Cache) fetch(ctx context.Context, u string) error {
	r := c.repo(u)
	for {
		r.mu.Lock()
		call := r.next
		if call == nil {
			call = &fetchCall{done: make(chan struct{})}
			r.next = call
		}
		call.waiters++
		r.mu.Unlock()

		select {
		case <-call.done:
		case r.turn <- struct{}{}:
			select {
			case <-call.done: // another caller ran it before we got the turn
			default:
				r.mu.Lock()
				if r.next == call {
					r.next = nil // later callers start a new call
				}
				r.mu.Unlock()
				call.err = c.update(ctx, u)
				call.abandoned = ctx.Err() != nil
				close(call.done)
			}
			<-r.turn
		case <-ctx.Done():
			return fmt.Errorf("fetch %s: %w", repourl.Redact(u), context.Cause(ctx))
		}
		if call.abandoned && ctx.Err() == nil {
			continue // its runner gave up; run a fetch of our own
		}
		return call.err
	}
}

func (c *Cache) repo(u string) *repo {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key(u)
	r := c.repos[k]
	if r == nil {
		r = &repo{turn: make(chan struct{}, 1)}
		c.repos[k] = r
	}
	return r
}

// maintenanceEvery is how often a fetch lets git's automatic maintenance
// (gc) run.
const maintenanceEvery = 50

// update clones or fetches the mirror of u under the cross-process lock.
func (c *Cache) update(ctx context.Context, u string) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("fetch %s: %w", repourl.Redact(u), err)
	}
	base := filepath.Join(c.dir, key(u))
	unlock, err := lockFile(ctx, base+".lock")
	if err != nil {
		return fmt.Errorf("fetch %s: lock the mirror: %w", repourl.Redact(u), err)
	}
	defer unlock()
	if c.afterFetch != nil {
		defer c.afterFetch(u)
	}

	mirror := base + ".git"
	if _, err := os.Stat(mirror); err == nil {
		// Automatic garbage collection runs in the foreground, under the
		// lock, rather than as a detached process that outlives us; and
		// only on some fetches, since even deciding that there is nothing
		// to do is a process on the path from a push to its first job.
		auto := "false"
		if c.repo(u).fetches.Add(1)%maintenanceEvery == 0 {
			auto = "true"
		}
		if _, err := c.remoteGit(ctx, mirror, "-c", "gc.autoDetach=false", "-c", "maintenance.autoDetach=false",
			"-c", "maintenance.auto="+auto, "fetch", "--prune", "--quiet", "origin"); err != nil {
			return fmt.Errorf("fetch %s: %w", repourl.Redact(u), err)
		}
		return nil
	}
	// Clone next to the mirror and rename, so that readers never see a
	// half-made mirror. We hold the lock, so the temporary name is ours.
	tmp := base + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("clone %s: %w", repourl.Redact(u), err)
	}
	if _, err := c.remoteGit(ctx, c.dir, "clone", "--mirror", "--quiet", "--", u, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("clone %s: %w", repourl.Redact(u), err)
	}
	if err := os.Rename(tmp, mirror); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("clone %s: %w", repourl.Redact(u), err)
	}
	return nil
}

// mirror returns the mirror directory of u, cloning it first if needed.
func (c *Cache) mirror(ctx context.Context, u string) (string, error) {
	m := filepath.Join(c.dir, key(u)+".git")
	if _, err := os.Stat(m); err == nil {
		return m, nil
	}
	if err := c.fetch(ctx, u); err != nil {
		return "", err
	}
	return m, nil
}

// commit returns the mirror of u once it holds the commit rev names,
// fetching if it does not.
func (c *Cache) commit(ctx context.Context, u, rev string) (string, error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("commit %q of %s: %w", rev, repourl.Redact(u), ErrUnknownRevision)
	}
	m, err := c.mirror(ctx, u)
	if err != nil {
		return "", err
	}
	if c.mirrorHasCommit(ctx, m, rev) {
		return m, nil
	}
	if err := c.fetch(ctx, u); err != nil {
		return "", err
	}
	if c.mirrorHasCommit(ctx, m, rev) {
		return m, nil
	}
	return "", fmt.Errorf("commit %q of %s: %w: the repository has no such commit", rev, repourl.Redact(u), ErrUnknownRevision)
}

func (c *Cache) hasCommit(ctx context.Context, m, rev string) bool {
	_, err := c.git(ctx, m, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
	return err == nil
}

// mirrorHasCommit is hasCommit for a mirror, asked of its object reader.
func (c *Cache) mirrorHasCommit(ctx context.Context, m, rev string) bool {
	if strings.HasPrefix(rev, "-") {
		return false
	}
	_, typ, _, err := c.object(m, rev+"^{commit}")
	if err == nil || errors.Is(err, errMissing) {
		return err == nil && typ == "commit"
	}
	return c.hasCommit(ctx, m, rev) // the reader failed: ask git the slow way
}

// ListRefs returns the refs of the repository at url as `git ls-remote`
// reports them, without the cache: "refs/heads/main" and "refs/tags/v1"
// map to commit hashes (an annotated tag to the commit it tags). HEAD is
// left out. It is cheap enough to poll.
func (c *Cache) ListRefs(ctx context.Context, url string) (map[string]string, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", repourl.Redact(u), err)
	}
	out, err := c.remoteGit(ctx, c.dir, "ls-remote", "--", u)
	if err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", repourl.Redact(u), err)
	}
	refs := map[string]string{}
	peeled := map[string]string{}
	for line := range strings.SplitSeq(string(out), "\n") {
		sha, ref, ok := strings.Cut(line, "\t")
		if !ok || !strings.HasPrefix(ref, "refs/") {
			continue
		}
		if base, ok := strings.CutSuffix(ref, "^{}"); ok {
			peeled[base] = sha
			continue
		}
		refs[ref] = sha
	}
	for ref, sha := range peeled {
		refs[ref] = sha
	}
	return refs, nil
}

// HeadBranch returns the branch the repository at url's HEAD names (what
// a clone checks out), asked with `git ls-remote --symref`, without the
// cache. A repository whose HEAD names no branch (a detached HEAD, or a
// server that does not say) is ErrUnknownRevision.
func (c *Cache) HeadBranch(ctx context.Context, url string) (string, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", fmt.Errorf("read HEAD of %s: %w", repourl.Redact(u), err)
	}
	out, err := c.remoteGit(ctx, c.dir, "ls-remote", "--symref", "--", u, "HEAD")
	if err != nil {
		return "", fmt.Errorf("read HEAD of %s: %w", repourl.Redact(u), err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		target, ok := strings.CutPrefix(line, "ref: ")
		if !ok {
			continue
		}
		ref, name, _ := strings.Cut(target, "\t")
		if branch, ok := strings.CutPrefix(ref, "refs/heads/"); ok && name == "HEAD" && branch != "" {
			return branch, nil
		}
	}
	return "", fmt.Errorf("read HEAD of %s: %w: HEAD names no branch", repourl.Redact(u), ErrUnknownRevision)
}

// RemoveProject deletes the mirrors of the project of id (see Project),
// for a deleted project. The project's Cache must no longer be in use.
func (c *Cache) RemoveProject(id string) error {
	c.mu.Lock()
	delete(c.projects, id)
	c.mu.Unlock()
	dir := filepath.Join(c.dir, "projects", projectDir(id))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the mirrors of project %s: %w", id, err)
	}
	return nil
}

// ReadFile returns the content of the file at path (slash-separated,
// relative to the repository's top level) in commit sha, fetching first if
// the mirror lacks the commit. A symbolic link inside the repository is
// followed. If the commit has no such file, the error wraps ErrNotExist.
func (c *Cache) ReadFile(ctx context.Context, url, sha, path string) ([]byte, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return nil, err
	}
	m, err := c.commit(ctx, u, sha)
	if err != nil {
		return nil, err
	}
	p := cleanPath(path)
	for range 10 { // symbolic link hops
		mode, typ, id, err := c.entry(ctx, m, sha, p)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s of %s: %w", path, sha, repourl.Redact(u), err)
		}
		switch {
		case id == "":
			return nil, fmt.Errorf("read %s at %s of %s: %w", path, sha, repourl.Redact(u), ErrNotExist)
		case typ == "tree":
			return nil, fmt.Errorf("read %s at %s of %s: is a directory", path, sha, repourl.Redact(u))
		case typ != "blob":
			return nil, fmt.Errorf("read %s at %s of %s: is a submodule", path, sha, repourl.Redact(u))
		}
		data, err := c.blob(ctx, m, id)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s of %s: %w", path, sha, repourl.Redact(u), err)
		}
		if mode != "120000" {
			return data, nil
		}
		target := string(data)
		if strings.HasPrefix(target, "/") {
			return nil, fmt.Errorf("read %s at %s of %s: symbolic link to %s outside the repository", path, sha, repourl.Redact(u), target)
		}
		p = cleanPath(p[:strings.LastIndexByte(p, '/')+1] + target)
		if p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("read %s at %s of %s: symbolic link to %s outside the repository", path, sha, repourl.Redact(u), target)
		}
	}
	return nil, fmt.Errorf("read %s at %s of %s: too many levels of symbolic links", path, sha, repourl.Redact(u))
}

// entry describes the entry at p in commit rev, as lsTree does, asking the
// mirror's object reader (lsTree when it cannot answer).
func (c *Cache) entry(ctx context.Context, m, rev, p string) (mode, typ, id string, err error) {
	if p == "" || p == "." {
		return "040000", "tree", "root", nil
	}
	dir, name := ".", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i], p[i+1:]
	}
	treeName := rev + "^{commit}:" + dir
	if dir == "." {
		treeName = rev + "^{tree}"
	}
	treeID, ttyp, tree, err := c.object(m, treeName)
	switch {
	case errors.Is(err, errMissing):
		return "", "", "", nil // no such directory: no such file
	case err != nil:
		return c.lsTree(ctx, m, rev, p)
	case ttyp != "tree":
		return "", "", "", nil
	}
	mode, id, ok := treeEntry(tree, name, len(treeID)/2)
	if !ok {
		return "", "", "", nil
	}
	switch mode {
	case "40000":
		return "040000", "tree", id, nil
	case "160000":
		return mode, "commit", id, nil
	}
	return mode, "blob", id, nil
}

// blob reads a blob by id, through the object reader when it can.
func (c *Cache) blob(ctx context.Context, m, id string) ([]byte, error) {
	if _, typ, data, err := c.object(m, id); err == nil && typ == "blob" {
		return data, nil
	}
	return c.git(ctx, m, "cat-file", "blob", id)
}

// lsTree describes the entry at p in commit rev; id is "" if there is none.
func (c *Cache) lsTree(ctx context.Context, m, rev, p string) (mode, typ, id string, err error) {
	if p == "" || p == "." {
		return "040000", "tree", "root", nil
	}
	out, err := c.git(ctx, m, "--literal-pathspecs", "ls-tree", "-z", "--full-tree", "--end-of-options", rev+"^{commit}", "--", p)
	if err != nil {
		return "", "", "", err
	}
	for entry := range strings.SplitSeq(string(out), "\x00") {
		meta, name, ok := strings.Cut(entry, "\t")
		if !ok || name != p {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 3 {
			return "", "", "", fmt.Errorf("unexpected output of git ls-tree: %q", entry)
		}
		return f[0], f[1], f[2], nil
	}
	return "", "", "", nil
}

func cleanPath(p string) string {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimPrefix(p, "/")
}

// Commit describes commit sha, fetching first if the mirror lacks it.
func (c *Cache) Commit(ctx context.Context, url, sha string) (CommitInfo, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return CommitInfo{}, err
	}
	m, err := c.commit(ctx, u, sha)
	if err != nil {
		return CommitInfo{}, err
	}
	if id, typ, data, err := c.object(m, sha+"^{commit}"); err == nil && typ == "commit" {
		if info, err := parseCommitObject(id, data); err == nil {
			return info, nil
		}
	}
	// The object reader could not answer: ask git show.
	out, err := c.git(ctx, m, "-c", "log.showSignature=false", "show", "-s", "--no-color",
		"--format="+gitrepo.CommitFormat, "--end-of-options", sha+"^{commit}", "--")
	if err != nil {
		return CommitInfo{}, fmt.Errorf("commit %s of %s: %w", sha, repourl.Redact(u), err)
	}
	ci, err := gitrepo.ParseCommit(string(out))
	if err != nil {
		return CommitInfo{}, fmt.Errorf("commit %s of %s: %w", sha, repourl.Redact(u), err)
	}
	return *ci, nil
}

var fullHash = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// Resolve returns the hash of the commit ref names: a branch ("main" or
// "refs/heads/main"), a tag (an annotated tag resolves to the commit it
// tags), or a commit hash, abbreviated or not. A full hash the mirror
// already has is answered without the network. A full branch or tag name
// ("refs/heads/main") of a repository on this machine is read in that
// repository, and fetched only when the mirror lacks the commit; anything
// else is resolved after a fetch. Either way a branch resolves to its
// newest commit.
func (c *Cache) Resolve(ctx context.Context, url, ref string) (string, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return "", err
	}
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("resolve %q in %s: %w", ref, repourl.Redact(u), ErrUnknownRevision)
	}
	m := filepath.Join(c.dir, key(u)+".git")
	_, statErr := os.Stat(m)
	haveMirror := statErr == nil
	if haveMirror && fullHash.MatchString(ref) && c.mirrorHasCommit(ctx, m, ref) {
		return ref, nil
	}
	// A branch or tag of a repository on this machine: read its head
	// there, and fetch only when the mirror lacks that commit.
	var origin string
	if haveMirror && fullRef(ref) {
		if gd := localGitDir(u); gd != "" {
			if id, ok := readRef(gd, ref); ok {
				origin = id
				if sha, ok := c.peelCommit(m, id); ok {
					return sha, nil
				}
			}
		}
	}
	if err := c.fetch(ctx, u); err != nil {
		return "", err
	}
	if origin != "" {
		if sha, ok := c.peelCommit(m, origin); ok {
			return sha, nil
		}
	}
	if fullRef(ref) {
		if id, ok := readRef(m, ref); ok {
			if sha, ok := c.peelCommit(m, id); ok {
				return sha, nil
			}
		}
	}
	out, err := c.git(ctx, m, "rev-parse", "-q", "--verify", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("resolve %q in %s: %w: no such branch, tag or commit", ref, repourl.Redact(u), ErrUnknownRevision)
	}
	return strings.TrimSpace(string(out)), nil
}

// peelCommit returns the commit object id names in mirror m (the commit
// an annotated tag tags), if m has it.
func (c *Cache) peelCommit(m, id string) (string, bool) {
	sha, typ, _, err := c.object(m, id+"^{commit}")
	return sha, err == nil && typ == "commit"
}

// ChangedFiles returns the paths (slash-separated, relative to the top
// level) that `git diff --name-only rng` lists, as change_in computes them:
// "a...b" compares b with the merge base of a and b, "a..b" and "a b"
// compare a with b. A mirror has no working tree, so a range must name two
// revisions. Renamed files are listed under their new name. A revision the
// mirror lacks triggers one fetch; if it is still missing the error wraps
// ErrUnknownRevision and names it.
func (c *Cache) ChangedFiles(ctx context.Context, url, rng string) ([]string, error) {
	u, err := normalizeURL(url)
	if err != nil {
		return nil, err
	}
	revs, err := rangeRevisions(rng)
	if err != nil {
		return nil, fmt.Errorf("changed files in %q: %w", rng, err)
	}
	m, err := c.mirror(ctx, u)
	if err != nil {
		return nil, err
	}
	missing := func() string {
		for _, r := range revs {
			if !c.hasCommit(ctx, m, r) {
				return r
			}
		}
		return ""
	}
	if missing() != "" {
		if err := c.fetch(ctx, u); err != nil {
			return nil, err
		}
		if r := missing(); r != "" {
			return nil, fmt.Errorf("changed files in %q of %s: %w %q: the repository has no such commit", rng, repourl.Redact(u), ErrUnknownRevision, r)
		}
	}
	args := []string{"-c", "diff.renames=true", "-c", "diff.relative=false",
		"diff", "--name-only", "-z", "--no-ext-diff", "--no-textconv", "--end-of-options"}
	args = append(args, strings.Fields(rng)...)
	args = append(args, "--")
	out, err := c.git(ctx, m, args...)
	if err != nil {
		return nil, fmt.Errorf("changed files in %q of %s: %w", rng, repourl.Redact(u), err)
	}
	var files []string
	for f := range strings.SplitSeq(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// rangeRevisions splits a range ("a...b", "a..b", "a b") into its
// revisions; it refuses ranges that do not name two.
func rangeRevisions(rng string) ([]string, error) {
	fields := strings.Fields(rng)
	var revs []string
	switch {
	case len(fields) == 1 && strings.Contains(fields[0], "..."):
		revs = strings.SplitN(fields[0], "...", 2)
	case len(fields) == 1 && strings.Contains(fields[0], ".."):
		revs = strings.SplitN(fields[0], "..", 2)
	case len(fields) == 2:
		revs = fields
	}
	if len(revs) != 2 || revs[0] == "" || revs[1] == "" {
		return nil, fmt.Errorf("a range must name two revisions (A...B, A..B or \"A B\")")
	}
	for _, r := range revs {
		if strings.HasPrefix(r, "-") || strings.HasPrefix(r, "^") {
			return nil, fmt.Errorf("bad revision %q", r)
		}
	}
	return revs, nil
}

// Materialize makes dst (which must not exist, or be empty) a working copy
// of commit sha of url: a git repository cloned from the mirror with
// `--shared` (its objects are the mirror's, through alternates), whose
// origin is url, with HEAD on a local branch named branch at sha, or
// detached at sha if branch is "". The branch tracks origin's branch of
// the same name when origin has one. The mirror is fetched first if it
// lacks the commit.
func (c *Cache) Materialize(ctx context.Context, url, sha, branch, dst string) error {
	return c.materialize(ctx, url, sha, branch, dst, true)
}

// MaterializeOwn is Materialize for a working copy that must not need the
// mirror afterwards: a job that runs as another user, or in a container,
// cannot read the cache directory. The copy has its own object files:
// hard links to the mirror's (which git never changes in place) where
// the file system allows, else copies.
func (c *Cache) MaterializeOwn(ctx context.Context, url, sha, branch, dst string) error {
	return c.materialize(ctx, url, sha, branch, dst, false)
}

func (c *Cache) materialize(ctx context.Context, url, sha, branch, dst string, shared bool) error {
	u, err := normalizeURL(url)
	if err != nil {
		return err
	}
	m, err := c.commit(ctx, u, sha)
	if err != nil {
		return err
	}
	made := false // whether dst is ours to remove on failure
	fail := func(err error) error {
		if made {
			os.RemoveAll(dst)
		}
		return fmt.Errorf("check out %s of %s in %s: %w", sha, repourl.Redact(u), dst, err)
	}
	if branch != "" {
		if _, err := c.git(ctx, m, "check-ref-format", "--branch", branch); err != nil {
			return fail(fmt.Errorf("bad branch name %q", branch))
		}
	}
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 {
		return fail(errors.New("the directory is not empty"))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fail(err)
	}
	made = true
	clone := []string{"clone", "--quiet", "--no-checkout"}
	if shared {
		clone = append(clone, "--shared")
	}
	if _, err := c.git(ctx, filepath.Dir(dst), append(clone, "--", m, dst)...); err != nil {
		return fail(err)
	}
	if _, err := c.git(ctx, dst, "remote", "set-url", "origin", u); err != nil {
		return fail(err)
	}
	if branch == "" {
		_, err = c.git(ctx, dst, "checkout", "--quiet", "--force", "--detach", sha+"^{commit}", "--")
	} else {
		_, err = c.git(ctx, dst, "checkout", "--quiet", "--force", "--no-track", "-B", branch, sha+"^{commit}", "--")
		if err == nil && c.hasCommit(ctx, dst, "refs/remotes/origin/"+branch) {
			_, err = c.git(ctx, dst, "branch", "--quiet", "--set-upstream-to=origin/"+branch, branch)
		}
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// gitError is a failed git command; its message is git's, without the
// command line (which may hold credentials).
type gitError struct {
	stderr string
	err    error
}

func (e *gitError) Error() string {
	msg := strings.TrimSpace(e.stderr)
	if msg == "" {
		return e.err.Error()
	}
	// git prefixes its messages with "fatal: " or "error: "; keep the
	// first few lines, which say what went wrong.
	var lines []string
	for l := range strings.SplitSeq(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 4 {
		lines = lines[:4]
	}
	return repourl.Redact(strings.Join(lines, "; "))
}

func (e *gitError) Unwrap() error { return e.err }

// remoteGit is git for a command that reaches the repository: with the
// cache's SSH identity, when it has one, for the command's duration.
func (c *Cache) remoteGit(ctx context.Context, dir string, args ...string) ([]byte, error) {
	id := c.ssh.Load()
	if id == nil {
		return c.git(ctx, dir, args...)
	}
	env, cleanup, err := id.Env()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return c.gitEnv(ctx, dir, env, args...)
}

// git runs git in dir and returns its standard output.
func (c *Cache) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	return c.gitEnv(ctx, dir, nil, args...)
}

// gitEnv is git with env added to its environment.
func (c *Cache) gitEnv(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := gitrepo.Command(ctx, dir, append([]string{"GIT_ASKPASS=", "SSH_ASKPASS=", "GCM_INTERACTIVE=never"}, env...), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		var xerr *exec.ExitError
		if !errors.As(err, &xerr) {
			return nil, fmt.Errorf("run git: %w", err)
		}
		return stdout.Bytes(), &gitError{stderr: stderr.String(), err: err}
	}
	return stdout.Bytes(), nil
}

// normalizeURL makes a plain path absolute; other URLs are kept as given.
func normalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("repository URL is empty")
	}
	if strings.HasPrefix(s, "-") {
		return "", fmt.Errorf("bad repository URL %q", s)
	}
	if strings.Contains(s, "://") || isSCPLike(s) {
		return s, nil
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", fmt.Errorf("repository path %s: %w", s, err)
	}
	return abs, nil
}

// isSCPLike reports whether u is git's "[user@]host:path": a colon before
// any slash.
func isSCPLike(u string) bool {
	colon := strings.IndexByte(u, ':')
	slash := strings.IndexByte(u, '/')
	return colon > 0 && (slash < 0 || colon < slash)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// key names the mirror of URL u: the repository's name for people, and a
// hash of the URL for uniqueness.
func key(u string) string {
	sum := sha256.Sum256([]byte(u))
	name := gitrepo.SlugFromURL(u)
	name = unsafeChars.ReplaceAllString(name[strings.LastIndexByte(name, '/')+1:], "_")
	name = strings.Trim(name, "._-")
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = "repo"
	}
	return name + "-" + hex.EncodeToString(sum[:12])
}
