// Package repourl decides which repository URLs a user may give a project,
// and hides the credentials a URL may carry wherever one is shown.
//
// Anyone who may create a project may name a remote repository: https,
// http, ssh, git, or the scp-like form user@host:path. A local path or a
// file:// URL makes the server read a directory of its own machine, so
// only organisation admins may name one. Redact replaces the user
// information of a URL (https://user:token@host/...) with "***" before
// the URL is shown anywhere: API answers, pages, CLI output, logs and
// error messages.
package repourl

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ErrLocal is wrapped by Check's error for a local path or file:// URL
// given by someone who is not an organisation admin.
var ErrLocal = errors.New("a repository on the server's own disk (a local path or file:// URL) may only be used by organisation admins")

// ErrInvalid is wrapped by Check's error for a URL that is not a
// repository URL git can fetch.
var ErrInvalid = errors.New("not a repository URL")

// remoteSchemes are the URL schemes anyone may use.
var remoteSchemes = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "git+ssh": true, "ssh+git": true}

// scpLike is git's user@host:path form (no scheme, a colon before the
// first slash).
var scpLike = regexp.MustCompile(`^(?:[^@/\s]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:`)

// Check reports whether a user may use raw as a project's repository
// URL: remote URLs for anyone, local paths and file:// URLs for
// organisation admins (isAdmin) only. The error says which rule refused
// the URL, with its credentials redacted.
func Check(raw string, isAdmin bool) error {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return fmt.Errorf("%w: the URL is empty", ErrInvalid)
	case strings.ContainsAny(raw, "\x00\n\r"):
		return fmt.Errorf("%w: %q contains a control character", ErrInvalid, Redact(raw))
	case strings.HasPrefix(raw, "-"):
		// git would read it as an option.
		return fmt.Errorf("%w: %q starts with '-'", ErrInvalid, Redact(raw))
	}
	if IsLocal(raw) {
		if !isAdmin {
			return fmt.Errorf("%w (got %q)", ErrLocal, Redact(raw))
		}
		return nil
	}
	if scheme, _, ok := strings.Cut(raw, "://"); ok {
		scheme = strings.ToLower(scheme)
		if !remoteSchemes[scheme] {
			return fmt.Errorf("%w: the scheme %q is not one of https, http, ssh or git", ErrInvalid, scheme)
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: %q has no host", ErrInvalid, Redact(raw))
		}
		if strings.HasPrefix(u.Host, "-") {
			return fmt.Errorf("%w: the host of %q starts with '-'", ErrInvalid, Redact(raw))
		}
		return nil
	}
	if scpLike.MatchString(raw) {
		return nil
	}
	return fmt.Errorf("%w: %q is neither https://, http://, ssh://, git:// nor user@host:path", ErrInvalid, Redact(raw))
}

// IsLocal reports whether raw names a repository on the local disk: a
// file:// URL, an absolute or relative path, or anything git would take
// for a path (a transport git runs locally, like ext:: or fd::, counts
// too).
func IsLocal(raw string) bool {
	raw = strings.TrimSpace(raw)
	lower := strings.ToLower(raw)
	if strings.HasPrefix(lower, "file:") || strings.Contains(raw, "::") {
		return true
	}
	if strings.Contains(raw, "://") {
		return false
	}
	// git's rule: a colon before any slash makes it scp-like, else a path.
	colon := strings.IndexByte(raw, ':')
	slash := strings.IndexAny(raw, `/\`)
	if colon > 0 && (slash < 0 || colon < slash) && !isWindowsDrive(raw) {
		return false
	}
	return true
}

func isWindowsDrive(s string) bool {
	return len(s) >= 2 && s[1] == ':' && (s[0]|0x20) >= 'a' && (s[0]|0x20) <= 'z'
}

// userinfo matches the user information of a URL with a scheme.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@`)

// Redact returns raw with the user information of every URL in it
// (https://user:token@host/...) replaced by "***":
// https://***@host/.... It works on any text (an error message that
// quotes a URL, a line of git's output), and leaves scp-like addresses
// (git@host:path), whose user is no secret, as they are.
func Redact(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	return userinfo.ReplaceAllString(raw, "${1}***@")
}
