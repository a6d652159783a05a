package artifact

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/blob"
)

// RetentionRule is one rule of a project's retention policy, as
// Semaphore's: artifact files of Scope whose path (relative to the scope)
// matches Glob are deleted once older than MaxAge. For each file, the
// first rule of its scope whose glob matches decides; a file that no rule
// matches is kept.
type RetentionRule struct {
	Scope  string
	Glob   string
	MaxAge time.Duration
}

// MaxRetentionRules is how many rules a project may have.
const MaxRetentionRules = 50

// Validate checks a rule and says which part is wrong.
func (r RetentionRule) Validate() error {
	if !validScope(r.Scope) {
		return fmt.Errorf("retention rule scope %q: want job, workflow or project", r.Scope)
	}
	g := strings.TrimPrefix(r.Glob, "/")
	if g == "" || len(g) > 500 {
		return fmt.Errorf("retention rule glob %q: want 1 to 500 characters, such as ** or logs/*.txt", r.Glob)
	}
	for seg := range strings.SplitSeq(g, "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("retention rule glob %q: %v", r.Glob, err)
		}
	}
	if r.MaxAge < time.Minute {
		return fmt.Errorf("retention rule age %s: want at least 1m", r.MaxAge)
	}
	return nil
}

// ParseAge reads an age: a Go duration (90m, 36h) or a number of days
// (7d) or weeks (2w).
func ParseAge(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("age %q: want a positive number of days (7d), weeks (2w) or a duration (36h)", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("age %q: want a positive number of days (7d), weeks (2w) or a duration (36h)", s)
	}
	return d, nil
}

// MatchGlob reports whether an artifact path matches glob: segments as
// path.Match, and "**" for any number of segments (none included); a
// leading "/" is ignored on both.
func MatchGlob(glob, p string) bool {
	return matchSegs(strings.Split(strings.TrimPrefix(glob, "/"), "/"), strings.Split(strings.TrimPrefix(p, "/"), "/"))
}

func matchSegs(g, p []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			for i := 0; i <= len(p); i++ {
				if matchSegs(g[1:], p[i:]) {
					return true
				}
			}
			return false
		}
		if len(p) == 0 {
			return false
		}
		if ok, _ := path.Match(g[0], p[0]); !ok {
			return false
		}
		g, p = g[1:], p[1:]
	}
	return len(p) == 0
}

// Sweep applies a project's retention rules at now: it deletes every
// artifact file of the project that a rule says is too old, and returns
// how many it deleted.
func (s *Store) Sweep(ctx context.Context, project string, rules []RetentionRule, now time.Time) (int, error) {
	if len(rules) == 0 {
		return 0, nil
	}
	if project == "" || strings.ContainsAny(project, "/\\\x00") || project == "." || project == ".." {
		return 0, fmt.Errorf("sweep: invalid project ID %q", project)
	}
	prefix := "artifacts/" + project + "/"
	var doomed []string
	for info, err := range s.Blobs.List(ctx, prefix) {
		if err != nil {
			return 0, fmt.Errorf("sweep %s: %w", project, err)
		}
		// artifacts/<project>/<scope>/<id>/<path>
		parts := strings.SplitN(strings.TrimPrefix(info.Key, prefix), "/", 3)
		if len(parts) != 3 {
			continue
		}
		for _, r := range rules {
			if r.Scope != parts[0] || !MatchGlob(r.Glob, parts[2]) {
				continue
			}
			if now.Sub(info.ModTime) > r.MaxAge {
				doomed = append(doomed, info.Key)
			}
			break
		}
	}
	n := 0
	var errs []error
	for _, k := range doomed {
		if err := s.Blobs.Delete(ctx, k); err != nil && !errors.Is(err, blob.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
