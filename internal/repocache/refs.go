package repocache

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Resolving a branch is on the path from an API call to its first job.
// Running git for it costs a process (and, for a fetch, two or three);
// reading a ref is reading a file. So a full ref name ("refs/heads/x",
// "refs/tags/x") is resolved by reading the ref files of a repository
// directly: of the origin itself when it is a repository on this machine
// (a path or a file:// URL), which spares the fetch when the mirror
// already has the commit, and of the mirror after a fetch. Anything these
// readers do not understand (a reftable repository, a linked worktree, a
// short or unusual name) is left to git.

// localGitDir returns the git directory of the repository at URL u when
// u names one on this machine whose refs readRef can read, else "".
func localGitDir(u string) string {
	p := u
	if rest, ok := strings.CutPrefix(u, "file://"); ok {
		if strings.Contains(rest, "%") || !strings.HasPrefix(rest, "/") {
			return "" // escapes or a host: leave them to git
		}
		p = rest
	} else if strings.Contains(u, "://") || !filepath.IsAbs(u) {
		return ""
	}
	p = filepath.Clean(p)
	gd := p
	if st, err := os.Stat(filepath.Join(p, ".git")); err == nil {
		if !st.IsDir() {
			return "" // a .git file: a linked worktree or a submodule
		}
		gd = filepath.Join(p, ".git")
	}
	if _, err := os.Stat(filepath.Join(gd, "HEAD")); err != nil {
		return ""
	}
	for _, other := range []string{"commondir", "reftable"} {
		if _, err := os.Lstat(filepath.Join(gd, other)); !errors.Is(err, fs.ErrNotExist) {
			return "" // refs kept elsewhere, or not in files
		}
	}
	return gd
}

// fullRef reports whether ref is a branch or tag name that readRef may
// turn into a path: "refs/heads/..." or "refs/tags/..." made of
// components git's check-ref-format accepts.
func fullRef(ref string) bool {
	rest, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		rest, ok = strings.CutPrefix(ref, "refs/tags/")
	}
	if !ok || rest == "" || strings.Contains(ref, "..") || strings.Contains(ref, "@{") {
		return false
	}
	for _, c := range []byte(ref) {
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return false
		}
	}
	for comp := range strings.SplitSeq(rest, "/") {
		if comp == "" || comp[0] == '.' || strings.HasSuffix(comp, ".lock") {
			return false
		}
	}
	return !strings.HasSuffix(ref, ".")
}

// readRef returns the object a full ref (see fullRef) names in git
// directory gd, following symbolic refs, from its loose ref file or
// packed-refs. ok is false when gd has no such ref, or holds something
// readRef does not understand.
func readRef(gd, ref string) (id string, ok bool) {
	for range 5 { // symbolic ref hops
		if !fullRef(ref) {
			return "", false
		}
		b, err := os.ReadFile(filepath.Join(gd, filepath.FromSlash(ref)))
		if err != nil {
			// Not a loose ref (or a directory of them): packed-refs says.
			// A ref being packed is written there before its loose file
			// goes, so reading in this order never misses it.
			return packedRef(gd, ref)
		}
		s := strings.TrimSpace(string(b))
		if target, sym := strings.CutPrefix(s, "ref: "); sym {
			ref = target
			continue
		}
		if fullHash.MatchString(s) {
			return s, true
		}
		return "", false
	}
	return "", false
}

// packedRef looks ref up in gd's packed-refs file.
func packedRef(gd, ref string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(gd, "packed-refs"))
	if err != nil {
		return "", false
	}
	suffix := []byte(" " + ref)
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' || line[0] == '^' || !bytes.HasSuffix(line, suffix) {
			continue
		}
		h := string(line[:len(line)-len(suffix)])
		if fullHash.MatchString(h) {
			return h, true
		}
		return "", false
	}
	return "", false
}
