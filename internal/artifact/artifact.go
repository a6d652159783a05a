// Package artifact keeps workflow artifacts in the server's object storage
// (internal/blob), so every agent and every server sees what any job
// pushed. An artifact is a file or a directory tree; each file is one
// object under
//
//	artifacts/<project>/<scope>/<id>/<path>
//
// where scope is job, workflow or project and id the job's, workflow's
// or project's ID. A directory is the set of objects under its path: its
// listing is its manifest, and empty directories are not kept.
//
// Store implements jobsvc.ArtifactStorage, so the job service's rules
// (who may write what) apply unchanged on the server: the agent's
// requests are served by jobsvc.ArtifactHandler over a Store. Content
// streams through as tree streams (jobsvc.WriteTree/ReadTree format);
// nothing is held whole in memory.
//
// Atomicity: each file appears whole or not at all (blob.Store.Put). A
// push that fails half-way deletes what it had written, so a broken push
// leaves nothing behind; a forced push removes the old artifact first.
// A pull that runs while a directory is being pushed may see part of it.
package artifact

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/jobsvc"
)

// Scopes of artifacts.
const (
	ScopeJob      = "job"
	ScopeWorkflow = "workflow"
	ScopeProject  = "project"
)

// treeRoot is the name of the root in a tree stream.
const treeRoot = jobsvc.TreeRoot

// Store keeps artifacts in a blob store.
type Store struct {
	Blobs blob.Store
}

var _ jobsvc.ArtifactStorage = (*Store)(nil)

// New returns a Store over blobs.
func New(blobs blob.Store) *Store { return &Store{Blobs: blobs} }

// Entry is one stored artifact file.
type Entry struct {
	// Path is relative to the scope, slash-separated.
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	Scope     string    `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
}

// validScope reports whether s is one of the scopes.
func validScope(s string) bool {
	return s == ScopeJob || s == ScopeWorkflow || s == ScopeProject
}

// scopePrefix is the key prefix of a scope's artifacts, ending in "/".
func scopePrefix(project, scope, id string) (string, error) {
	if !validScope(scope) {
		return "", fmt.Errorf("unknown artifact scope %q: want job, workflow or project", scope)
	}
	for _, s := range []string{project, id} {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
			return "", fmt.Errorf("invalid artifact owner ID %q", s)
		}
	}
	return "artifacts/" + project + "/" + scope + "/" + id + "/", nil
}

// key is the object key of a (its file, or its directory's prefix
// without the trailing "/").
func key(a jobsvc.Artifact) (string, error) {
	prefix, err := scopePrefix(a.Project, a.Scope, a.ID)
	if err != nil {
		return "", err
	}
	p, err := jobsvc.CleanArtifactPath(a.Path)
	if err != nil {
		return "", err
	}
	k := prefix + p
	if err := blob.ValidateKey(k); err != nil {
		return "", fmt.Errorf("artifact path %q: %w", a.Path, err)
	}
	return k, nil
}

// files lists the objects of the directory at k (without the file k).
func (s *Store) files(ctx context.Context, k string) ([]blob.Info, error) {
	var out []blob.Info
	for info, err := range s.Blobs.List(ctx, k+"/") {
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Exists reports whether a is there, as a file or a directory.
func (s *Store) Exists(ctx context.Context, a jobsvc.Artifact) (bool, error) {
	k, err := key(a)
	if err != nil {
		return false, err
	}
	if _, err := s.Blobs.Stat(ctx, k); err == nil {
		return true, nil
	} else if !errors.Is(err, blob.ErrNotFound) {
		return false, err
	}
	for _, err := range s.Blobs.List(ctx, k+"/") {
		if err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// Put stores the tree stream read from r as a, file by file. With force an
// existing a is removed first; without, ErrExists. A failure removes what
// this push wrote.
func (s *Store) Put(ctx context.Context, a jobsvc.Artifact, r io.Reader, force bool) (err error) {
	k, err := key(a)
	if err != nil {
		return err
	}
	if ok, err := s.Exists(ctx, a); err != nil {
		return err
	} else if ok {
		if !force {
			return jobsvc.ErrExists
		}
		if err := s.remove(ctx, k); err != nil {
			return err
		}
	}
	var written []string
	defer func() {
		if err != nil {
			// Leave nothing of a broken push, even if the request's
			// context is what ended.
			cleanup := context.WithoutCancel(ctx)
			for _, w := range written {
				s.Blobs.Delete(cleanup, w)
			}
		}
	}()
	tr := jobsvc.NewTreeReader(r)
	for {
		rel, hdr, err := tr.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			continue // directories are implied by their files
		}
		target := k
		if rel != "" {
			target = k + "/" + rel
		}
		if err := blob.ValidateKey(target); err != nil {
			return fmt.Errorf("read the tree: entry %q: %w", hdr.Name, err)
		}
		info, err := s.Blobs.PutSized(ctx, target, tr, hdr.Size)
		if err != nil {
			return fmt.Errorf("store %s: %w", rel, err)
		}
		written = append(written, info.Key)
	}
}

// remove deletes the file k and everything under k/.
func (s *Store) remove(ctx context.Context, k string) error {
	if err := s.Blobs.Delete(ctx, k); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	infos, err := s.files(ctx, k)
	if err != nil {
		return err
	}
	for _, info := range infos {
		if err := s.Blobs.Delete(ctx, info.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	return nil
}

// Get writes a's tree stream to w: a file, or a directory with its files.
func (s *Store) Get(ctx context.Context, a jobsvc.Artifact, w io.Writer) error {
	k, err := key(a)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if info, err := s.Blobs.Stat(ctx, k); err == nil {
		if err := s.copyFile(ctx, tw, treeRoot, info); err != nil {
			return err
		}
		return tw.Close()
	} else if !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	infos, err := s.files(ctx, k)
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return jobsvc.ErrNotFound
	}
	dirs := map[string]bool{}
	mkdir := func(name string, mod time.Time) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mod})
	}
	for _, info := range infos {
		rel := strings.TrimPrefix(info.Key, k+"/")
		if err := mkdir(treeRoot, info.ModTime); err != nil {
			return err
		}
		segs := strings.Split(rel, "/")
		for i := 1; i < len(segs); i++ {
			if err := mkdir(treeRoot+"/"+strings.Join(segs[:i], "/"), info.ModTime); err != nil {
				return err
			}
		}
		if err := s.copyFile(ctx, tw, treeRoot+"/"+rel, info); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyFile writes one object to tw as the file name.
func (s *Store) copyFile(ctx context.Context, tw *tar.Writer, name string, info blob.Info) error {
	rc, err := s.Blobs.Get(ctx, info.Key, blob.Range{})
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: info.Size, ModTime: info.ModTime}); err != nil {
		return err
	}
	n, err := io.CopyBuffer(onlyWriter{tw}, io.LimitReader(rc, info.Size), make([]byte, copyBuffer))
	if err != nil {
		return err
	}
	if n != info.Size {
		return fmt.Errorf("read %s: %d of %d bytes", info.Key, n, info.Size)
	}
	return nil
}

// Delete removes a (a file or a whole directory); ErrNotFound if it is
// not there.
func (s *Store) Delete(ctx context.Context, a jobsvc.Artifact) error {
	k, err := key(a)
	if err != nil {
		return err
	}
	if ok, err := s.Exists(ctx, a); err != nil {
		return err
	} else if !ok {
		return jobsvc.ErrNotFound
	}
	return s.remove(ctx, k)
}

// List lists the files of one scope's artifacts (a job's, a workflow's or
// a project's), in path order.
func (s *Store) List(ctx context.Context, project, scope, id string) ([]Entry, error) {
	prefix, err := scopePrefix(project, scope, id)
	if err != nil {
		return nil, err
	}
	out := []Entry{}
	for info, err := range s.Blobs.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Path: strings.TrimPrefix(info.Key, prefix), Size: info.Size, Scope: scope, CreatedAt: info.ModTime.UTC()})
	}
	return out, nil
}

// Open opens one stored file of a scope for download; ErrNotFound if no
// file has that path (directories are not downloaded whole).
func (s *Store) Open(ctx context.Context, project, scope, id, p string) (io.ReadCloser, Entry, error) {
	k, err := key(jobsvc.Artifact{Project: project, Scope: scope, ID: id, Path: p})
	if err != nil {
		return nil, Entry{}, jobsvc.ErrNotFound
	}
	info, err := s.Blobs.Stat(ctx, k)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, Entry{}, jobsvc.ErrNotFound
	}
	if err != nil {
		return nil, Entry{}, err
	}
	rc, err := s.Blobs.Get(ctx, k, blob.Range{})
	if errors.Is(err, blob.ErrNotFound) {
		return nil, Entry{}, jobsvc.ErrNotFound
	}
	if err != nil {
		return nil, Entry{}, err
	}
	prefix, _ := scopePrefix(project, scope, id)
	return rc, Entry{Path: strings.TrimPrefix(k, prefix), Size: info.Size, Scope: scope, CreatedAt: info.ModTime.UTC()}, nil
}

// copyBuffer is the size of the buffer files are copied with: large
// writes keep the per-write cost of the layers below (tar, HTTP chunks,
// TLS) small.
const copyBuffer = 1 << 20

// onlyWriter hides a writer's ReadFrom, so io.CopyBuffer uses its buffer.
type onlyWriter struct{ io.Writer }
