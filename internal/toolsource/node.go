package toolsource

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/batonci/baton/internal/toolcache"
)

// Node fetches Node.js from an npm registry's node-<os>-<arch> package
// (its tarballs hold bin/node, include/ and share/).
type Node struct {
	// Registry is the npm registry's base URL; "" means the one
	// RegistryLookup finds on first use, or none.
	Registry       string
	RegistryLookup *Lookup
	Client         *http.Client
}

func (n *Node) httpClient() *http.Client {
	if n.Client != nil {
		return n.Client
	}
	return http.DefaultClient
}

// npmPackage is the part of a registry's package document used here.
type npmPackage struct {
	DistTags map[string]string     `json:"dist-tags"`
	Versions map[string]npmVersion `json:"versions"`
}

type npmVersion struct {
	Dist struct {
		Tarball   string `json:"tarball"`
		Integrity string `json:"integrity"`
		Shasum    string `json:"shasum"`
	} `json:"dist"`
}

// packageDoc fetches a package's (abbreviated) document.
func packageDoc(ctx context.Context, client *http.Client, registry, name string) (npmPackage, error) {
	if registry == "" {
		return npmPackage{}, fmt.Errorf("npm: %w (--tool-source npm=URL, or npm's registry setting)", errNoSource)
	}
	h := http.Header{"Accept": {"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"}}
	data, err := readSmall(ctx, client, joinURL(registry, strings.Replace(url.PathEscape(name), "%40", "@", 1)), h, 64<<20)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return npmPackage{}, &UnknownError{What: "npm package", Name: name}
	}
	if err != nil {
		return npmPackage{}, err
	}
	var doc npmPackage
	if err := json.Unmarshal(data, &doc); err != nil {
		return npmPackage{}, fmt.Errorf("npm package %s: %w", name, err)
	}
	return doc, nil
}

func (p npmPackage) versions() []string {
	var vs []string
	for v := range p.Versions {
		vs = append(vs, v)
	}
	return vs
}

// resolveNPM picks the version of a package document that want names: a
// dist-tag ("latest") or a version prefix.
func resolveNPM(doc npmPackage, what, name, want string) (string, npmVersion, error) {
	if v, ok := doc.DistTags[want]; ok {
		if nv, ok := doc.Versions[v]; ok {
			return v, nv, nil
		}
	}
	if want == "" {
		want = "latest"
		if v, ok := doc.DistTags["latest"]; ok {
			return v, doc.Versions[v], nil
		}
	}
	v := Highest(want, doc.versions())
	if v == "" {
		return "", npmVersion{}, &UnknownError{What: what, Name: name + "@" + want, Available: Newest(doc.versions(), 8)}
	}
	return v, doc.Versions[v], nil
}

func nodePackage(goos, arch string) string {
	if arch == "amd64" {
		arch = "x64"
	}
	return "node-" + goos + "-" + arch
}

// Resolve returns the highest Node.js release matching want.
func (n *Node) Resolve(ctx context.Context, want, goos, arch string) (string, error) {
	doc, err := packageDoc(ctx, n.httpClient(), registry(ctx, n.Registry, n.RegistryLookup), nodePackage(goos, arch))
	var ue *UnknownError
	if errors.As(err, &ue) {
		return "", &Refused{Msg: fmt.Sprintf("node: the registry has no Node.js builds for %s/%s", goos, arch)}
	}
	if err != nil {
		return "", err
	}
	v, _, err := resolveNPM(doc, "node version", "node", want)
	if errors.As(err, &ue) {
		ue.Name = want
	}
	return v, err
}

// Installer downloads version's tarball, checks its integrity hash and
// unpacks it.
func (n *Node) Installer(version, goos, arch string, progress io.Writer) toolcache.Installer {
	return func(ctx context.Context, dir string) (toolcache.Manifest, error) {
		doc, err := packageDoc(ctx, n.httpClient(), registry(ctx, n.Registry, n.RegistryLookup), nodePackage(goos, arch))
		if err != nil {
			return toolcache.Manifest{}, err
		}
		nv, ok := doc.Versions[version]
		if !ok {
			return toolcache.Manifest{}, &UnknownError{What: "node version", Name: version, Available: Newest(doc.versions(), 8)}
		}
		verified, err := fetchTarball(ctx, n.httpClient(), nv, dir, progress)
		if err != nil {
			return toolcache.Manifest{}, fmt.Errorf("node %s: %w", version, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "bin", "node")); err != nil {
			return toolcache.Manifest{}, fmt.Errorf("node %s: the package has no bin/node", version)
		}
		return toolcache.Manifest{Bin: []string{"bin"}, Source: nv.Dist.Tarball, Verified: verified}, nil
	}
}

// fetchTarball downloads a package's tarball, checks it and unpacks its
// package/ directory into dir.
func fetchTarball(ctx context.Context, client *http.Client, nv npmVersion, dir string, progress io.Writer) (string, error) {
	check, verified, err := integrity(nv.Dist.Integrity, nv.Dist.Shasum)
	if err != nil {
		return "", err
	}
	file, err := download(ctx, client, nv.Dist.Tarball, filepath.Dir(dir), progress)
	if err != nil {
		return "", err
	}
	defer os.Remove(file)
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(check.h, f); err != nil {
		return "", err
	}
	if got := check.h.Sum(nil); string(got) != string(check.want) {
		return "", fmt.Errorf("integrity mismatch: the tarball's %s is not the registry's", check.algo)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := untarPackage(f, dir); err != nil {
		return "", err
	}
	return verified, nil
}

type hashCheck struct {
	algo string
	h    hash.Hash
	want []byte
}

// integrity parses the registry's integrity (SRI, "sha512-BASE64") or,
// lacking it, the SHA-1 shasum.
func integrity(sri, shasum string) (hashCheck, string, error) {
	for _, part := range strings.Fields(sri) {
		algo, b64, ok := strings.Cut(part, "-")
		if !ok {
			continue
		}
		want, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		switch algo {
		case "sha512":
			return hashCheck{algo, sha512.New(), want}, "sha512 integrity matches the registry's", nil
		case "sha256":
			return hashCheck{algo, sha256.New(), want}, "sha256 integrity matches the registry's", nil
		}
	}
	if want, err := hex.DecodeString(shasum); err == nil && len(want) == sha1.Size {
		return hashCheck{"sha1", sha1.New(), want}, "sha1 shasum matches the registry's", nil
	}
	return hashCheck{}, "", errors.New("the registry gives no integrity hash for it")
}

// untarPackage unpacks a gzipped npm tarball's files (under package/, or
// the archive's single top directory) into dir.
func untarPackage(r io.Reader, dir string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		_, name, ok := strings.Cut(h.Name, "/")
		if !ok || name == "" {
			continue
		}
		dst, err := insideDir(dir, name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			w, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o755|0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
