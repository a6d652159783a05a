package toolsource

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/batonci/baton/internal/toolcache"
)

// toolchainModule is the module whose versions are Go's release zips,
// one per release, OS and architecture (v0.0.1-go1.22.5.linux-amd64).
const toolchainModule = "golang.org/toolchain"

// Go fetches Go toolchains from a module proxy.
type Go struct {
	// Proxy is the module proxy's base URL (the first entry of GOPROXY).
	Proxy string
	// SumDB is GOSUMDB: "off", a database's name (its records are read
	// through the proxy, the zip's hash compared with them, but without
	// a key their signature is not checked), or "name+key [URL]" (the
	// records are checked against the signed tree, as the go command
	// does).
	SumDB  string
	Client *http.Client

	once   sync.Once
	client *sumdb.Client
	err    error
}

func (g *Go) httpClient() *http.Client {
	if g.Client != nil {
		return g.Client
	}
	return http.DefaultClient
}

// Versions lists the Go releases the proxy has for goos/arch ("1.22.5").
func (g *Go) Versions(ctx context.Context, goos, arch string) ([]string, error) {
	if g.Proxy == "" {
		return nil, fmt.Errorf("go: %w (--tool-source go=URL, or GOPROXY)", errNoSource)
	}
	data, err := readSmall(ctx, g.httpClient(), joinURL(g.Proxy, toolchainModule, "@v", "list"), nil, 4<<20)
	if err != nil {
		return nil, fmt.Errorf("list Go versions: %w", err)
	}
	suffix := "." + goos + "-" + arch
	var vs []string
	for _, line := range strings.Fields(string(data)) {
		v, ok := strings.CutPrefix(line, "v0.0.1-go")
		if !ok {
			continue
		}
		if v, ok = strings.CutSuffix(v, suffix); ok {
			vs = append(vs, v)
		}
	}
	return vs, nil
}

// Resolve returns the highest Go release matching want.
func (g *Go) Resolve(ctx context.Context, want, goos, arch string) (string, error) {
	vs, err := g.Versions(ctx, goos, arch)
	if err != nil {
		return "", err
	}
	v := Highest(want, vs)
	if v == "" {
		return "", &UnknownError{What: "go version", Name: want, Available: Newest(vs, 8)}
	}
	return v, nil
}

// Installer downloads version's zip, checks it and unpacks it.
func (g *Go) Installer(version, goos, arch string, progress io.Writer) toolcache.Installer {
	return func(ctx context.Context, dir string) (toolcache.Manifest, error) {
		modVersion := "v0.0.1-go" + version + "." + goos + "-" + arch
		url := joinURL(g.Proxy, toolchainModule, "@v", modVersion+".zip")
		zipFile, err := download(ctx, g.httpClient(), url, filepath.Dir(dir), progress)
		if err != nil {
			return toolcache.Manifest{}, err
		}
		defer os.Remove(zipFile)
		// One pass: the files are unpacked and hashed together; the
		// entry appears only once the hash is checked.
		start := time.Now()
		h1, err := unzipModule(zipFile, toolchainModule+"@"+modVersion+"/", dir)
		if err != nil {
			return toolcache.Manifest{}, fmt.Errorf("go %s: %w", version, err)
		}
		verified, err := g.verify(ctx, h1, modVersion)
		if err != nil {
			return toolcache.Manifest{}, fmt.Errorf("go %s: %w", version, err)
		}
		if progress != nil {
			fmt.Fprintf(progress, "unpacked and checked in %s\n", time.Since(start).Round(time.Millisecond))
		}
		// As the go command does on first use: the zip keeps no modes.
		for _, sub := range []string{"bin", "pkg/tool"} {
			filepath.WalkDir(filepath.Join(dir, sub), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					os.Chmod(p, 0o755)
				}
				return nil
			})
		}
		if _, err := os.Stat(filepath.Join(dir, "bin", "go")); err != nil {
			return toolcache.Manifest{}, fmt.Errorf("go %s: the zip has no bin/go", version)
		}
		return toolcache.Manifest{Bin: []string{"bin"}, Source: url, Verified: verified}, nil
	}
}

// verify checks the zip's module hash against the checksum database and
// says what was checked.
func (g *Go) verify(ctx context.Context, h1, modVersion string) (string, error) {
	name, key, url := parseSumDB(g.SumDB)
	if name == "off" || name == "" {
		return "not verified (checksum database off); " + h1, nil
	}
	want := toolchainModule + " " + modVersion + " " + h1
	if key == "" {
		// The record as the proxy serves it: the hash is compared, the
		// signature cannot be.
		data, err := readSmall(ctx, g.httpClient(), joinURL(g.Proxy, "sumdb", name, "lookup", toolchainModule+"@"+modVersion), nil, 1<<20)
		if err != nil {
			return "", fmt.Errorf("look up the checksum: %w", err)
		}
		if !hasLine(data, want) {
			return "", fmt.Errorf("checksum mismatch: the download's hash is %s, not the one in %s's record", h1, name)
		}
		return fmt.Sprintf("%s matches %s's record (served by the proxy; no key configured to check its signature)", h1, name), nil
	}
	g.once.Do(func() {
		if _, err := note.NewVerifier(key); err != nil {
			g.err = fmt.Errorf("GOSUMDB key: %w", err)
			return
		}
		base := url
		if base == "" {
			base = joinURL(g.Proxy, "sumdb", name)
		}
		g.client = sumdb.NewClient(&sumdbOps{ctx: context.Background(), key: key, name: name, base: base, http: g.httpClient(), cache: map[string][]byte{}})
	})
	if g.err != nil {
		return "", g.err
	}
	lines, err := g.client.Lookup(toolchainModule, modVersion)
	if err != nil {
		return "", fmt.Errorf("look up the checksum: %w", err)
	}
	for _, l := range lines {
		if l == want {
			return fmt.Sprintf("%s matches %s's signed record", h1, name), nil
		}
	}
	return "", fmt.Errorf("checksum mismatch: the download's hash is %s, not the one in %s's signed record", h1, name)
}

func hasLine(data []byte, want string) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == want {
			return true
		}
	}
	return false
}

// parseSumDB splits GOSUMDB ("name", "name+hash+key", "name+hash+key URL").
func parseSumDB(s string) (name, key, url string) {
	s = strings.TrimSpace(s)
	first, url, _ := strings.Cut(s, " ")
	url = strings.TrimSpace(url)
	if strings.Contains(first, "+") {
		key = first
		name, _, _ = strings.Cut(first, "+")
		return name, key, url
	}
	return first, "", url
}

// unzipModule unpacks a module zip (its files all under prefix) into dir
// and returns its module hash (h1:, as dirhash.HashZip computes it: every
// entry's name and content).
func unzipModule(zipFile, prefix, dir string) (string, error) {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return "", fmt.Errorf("not a module zip: %w", err)
	}
	defer zr.Close()
	sums := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		if _, dup := sums[f.Name]; dup || strings.Contains(f.Name, "\n") {
			return "", fmt.Errorf("not a module zip: file %q twice or badly named", f.Name)
		}
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok {
			return "", fmt.Errorf("not a module zip: file %q is not under %s", f.Name, prefix)
		}
		h := sha256.New()
		if name != "" && !strings.HasSuffix(name, "/") {
			dst, err := insideDir(dir, name)
			if err != nil {
				return "", err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return "", err
			}
			if err := writeZipFile(f, dst, h); err != nil {
				return "", err
			}
		} else if err := hashZipFile(f, h); err != nil {
			return "", err
		}
		sums[f.Name] = h.Sum(nil)
		names = append(names, f.Name)
	}
	slices.Sort(names)
	summary := sha256.New()
	for _, n := range names {
		fmt.Fprintf(summary, "%x  %s\n", sums[n], n)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(summary.Sum(nil)), nil
}

func hashZipFile(f *zip.File, h io.Writer) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(h, r)
	return err
}

func writeZipFile(f *zip.File, dst string, h io.Writer) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.MultiWriter(w, h), r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// sumdbOps are the checksum database client's operations: remote reads
// over HTTP, configuration and cache in memory (the agent process's).
type sumdbOps struct {
	ctx       context.Context
	key, name string
	base      string
	http      *http.Client
	mu        sync.Mutex
	latest    []byte
	cache     map[string][]byte
}

func (o *sumdbOps) ReadRemote(p string) ([]byte, error) {
	return readSmall(o.ctx, o.http, strings.TrimSuffix(o.base, "/")+p, nil, 16<<20)
}

func (o *sumdbOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.latest, nil
}

func (o *sumdbOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !bytes.Equal(old, o.latest) {
		return sumdb.ErrWriteConflict
	}
	o.latest = new
	return nil
}

func (o *sumdbOps) ReadCache(file string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d, ok := o.cache[file]; ok {
		return d, nil
	}
	return nil, os.ErrNotExist
}

func (o *sumdbOps) WriteCache(file string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cache[file] = data
}

func (o *sumdbOps) Log(string)           {}
func (o *sumdbOps) SecurityError(string) {}
