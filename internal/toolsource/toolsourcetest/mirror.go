// Package toolsourcetest serves, for tests, a mirror of a Go module
// proxy's toolchain module: a real Go release zip, copied from the Go
// module cache (downloaded there through the machine's proxy when it is
// not there yet), with a checksum database of its own that signs the
// zip's real hash. It counts the downloads and can cut one off or serve
// a changed zip. StartModule serves a small module the test makes, the
// same way, for go install.
package toolsourcetest

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"
)

// GoRelease is the release the mirror serves.
const GoRelease = "1.22.5"

// Mirror is a running mirror.
type Mirror struct {
	// URL is the proxy's base URL; SumDB is the GOSUMDB value (name and
	// verifier key) of its checksum database, served under URL/sumdb/.
	URL, SumDB string
	// Version is the module version served ("v0.0.1-go1.22.5.linux-amd64").
	Version string
	zips    atomic.Int64
	mu      sync.Mutex
	cut     int  // downloads to cut off after half the bytes
	tamper  bool // serve a changed zip
	zipFile string
}

// Zips is the number of zip downloads that were asked for.
func (m *Mirror) Zips() int64 { return m.zips.Load() }

// CutNext makes the next n zip downloads stop after half the body.
func (m *Mirror) CutNext(n int) { m.mu.Lock(); m.cut = n; m.mu.Unlock() }

// Tamper makes the zip downloads serve a zip with one byte changed.
func (m *Mirror) Tamper(on bool) { m.mu.Lock(); m.tamper = on; m.mu.Unlock() }

// ToolchainZip returns the path of the Go release zip for goos/arch in
// the module cache, downloading it through the machine's proxy if
// needed; it skips the test when that fails.
func ToolchainZip(t testing.TB, goos, arch string) string {
	t.Helper()
	version := "v0.0.1-go" + GoRelease + "." + goos + "-" + arch
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	zip := filepath.Join(strings.TrimSpace(string(out)), "cache", "download", "golang.org", "toolchain", "@v", version+".zip")
	if _, err := os.Stat(zip); err != nil {
		dir := t.TempDir()
		cmd := exec.Command("go", "mod", "download", "golang.org/toolchain@"+version)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("the Go %s zip is not in the module cache and cannot be downloaded: %v: %s", GoRelease, err, out)
		}
	}
	return zip
}

// Start serves the Go release zip for goos/arch until the test ends.
func Start(t testing.TB, goos, arch string) *Mirror {
	t.Helper()
	m := &Mirror{Version: "v0.0.1-go" + GoRelease + "." + goos + "-" + arch, zipFile: ToolchainZip(t, goos, arch)}
	h1, err := dirhash.HashZip(m.zipFile, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	mod := []byte("module golang.org/toolchain\n")
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(mod)), nil })
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	m.SumDB = serveSumDB(t, mux, func(path, vers string) ([]byte, error) {
		if path != "golang.org/toolchain" || vers != m.Version {
			return nil, fmt.Errorf("%s@%s: not found", path, vers)
		}
		return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, vers, h1, path, vers, modHash)), nil
	})
	mux.HandleFunc("GET /golang.org/toolchain/@v/list", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "v0.0.1-go1.21.0.%s-%s\n%s\n", goos, arch, m.Version)
	})
	mux.HandleFunc("GET /golang.org/toolchain/@v/{file}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("file") {
		case m.Version + ".mod":
			w.Write(mod)
		case m.Version + ".zip":
			m.zips.Add(1)
			m.serveZip(w)
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func (m *Mirror) serveZip(w http.ResponseWriter) {
	m.mu.Lock()
	cut := m.cut > 0
	if cut {
		m.cut--
	}
	tamper := m.tamper
	m.mu.Unlock()
	data, err := os.ReadFile(m.zipFile)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if tamper {
		if data, err = changed(data); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	if cut {
		w.Write(data[:len(data)/2])
		// Cut the connection: the client sees a short body.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	w.Write(data)
}

// changed is a zip with the content of its VERSION file changed, the
// other files copied as they are.
func changed(data []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/VERSION") {
			if err := zw.Copy(f); err != nil {
				return nil, err
			}
			continue
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			return nil, err
		}
		io.WriteString(w, "go1.22.5-with-a-backdoor\n")
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ModuleProxy is a Go module proxy serving one small module, made by the
// test, with a checksum database of its own that signs its hashes: what
// `go install PATH@VERSION` needs, offline, with its checksums checked.
type ModuleProxy struct {
	// URL is GOPROXY; SumDB is GOSUMDB (the database's name and key).
	URL, SumDB string
	zips       atomic.Int64
}

// Zips is the number of module zip downloads that were asked for.
func (p *ModuleProxy) Zips() int64 { return p.zips.Load() }

// StartModule serves module path at version with files (go.mod among
// them, by slash-separated name) until the test ends.
func StartModule(t testing.TB, path, version string, files map[string]string) *ModuleProxy {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mv := module.Version{Path: path, Version: version}
	var zb bytes.Buffer
	if err := modzip.CreateFromDir(&zb, mv, dir); err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(t.TempDir(), "mod.zip")
	if err := os.WriteFile(zipFile, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h1, err := dirhash.HashZip(zipFile, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	mod := []byte(files["go.mod"])
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(mod)), nil })
	if err != nil {
		t.Fatal(err)
	}
	esc, err := module.EscapePath(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &ModuleProxy{}
	mux := http.NewServeMux()
	p.SumDB = serveSumDB(t, mux, func(path, vers string) ([]byte, error) {
		if path != mv.Path || vers != mv.Version {
			return nil, fmt.Errorf("%s@%s: not found", path, vers)
		}
		return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, vers, h1, path, vers, modHash)), nil
	})
	info := fmt.Sprintf(`{"Version":%q,"Time":"2026-01-01T00:00:00Z"}`, version)
	mux.HandleFunc("GET /"+esc+"/@v/list", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, version) })
	mux.HandleFunc("GET /"+esc+"/@latest", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, info) })
	mux.HandleFunc("GET /"+esc+"/@v/{file}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("file") {
		case version + ".info":
			io.WriteString(w, info)
		case version + ".mod":
			w.Write(mod)
		case version + ".zip":
			p.zips.Add(1)
			w.Write(zb.Bytes())
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// serveSumDB serves, under mux's /sumdb/baton-test-sumdb/, a checksum
// database of a new key that signs what lookup answers, and returns its
// GOSUMDB value (name and verifier key). The go command asks the proxy
// whether it serves the database (…/supported) before it uses it.
func serveSumDB(t testing.TB, mux *http.ServeMux, lookup func(path, vers string) ([]byte, error)) string {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "baton-test-sumdb")
	if err != nil {
		t.Fatal(err)
	}
	db := sumdb.NewServer(sumdb.NewTestServer(skey, lookup))
	mux.HandleFunc("GET /sumdb/baton-test-sumdb/supported", func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("/sumdb/baton-test-sumdb/", http.StripPrefix("/sumdb/baton-test-sumdb", db))
	return vkey
}
