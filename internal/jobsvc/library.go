package jobsvc

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// Script libraries (lib checkout): the job asks its service for a library
// by name and gets a tar archive of its files at the commit the workflow
// fixed. The service forwards to the server (the agent's
// LibraryStorage), which checks that the library is one of the job's
// workflow's; the repository's credentials never reach the job.

// LibraryStorage gives a job the files of a script library: a tar archive
// and the commit it is of. A refusal is a *StatusError with the status
// and message to pass on.
type LibraryStorage interface {
	Library(ctx context.Context, scope Scope, name string) (tarball io.ReadCloser, commit string, err error)
}

// HeaderLibraryCommit carries the commit of a library archive.
const HeaderLibraryCommit = "Baton-Library-Commit"

func (s *Service) libraryGet(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Libraries == nil {
		writeError(w, http.StatusServiceUnavailable, "this job has no script libraries")
		return
	}
	rc, commit, err := s.cfg.Libraries.Library(r.Context(), s.cfg.Scope, r.PathValue("name"))
	var se *StatusError
	if errors.As(err, &se) {
		writeError(w, se.Code, "%s", se.Message)
		return
	}
	if err != nil {
		storageError(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set(HeaderLibraryCommit, commit)
	io.Copy(w, rc)
}

// Library returns a library's tar archive and its commit; close it.
func (c *Client) Library(ctx context.Context, name string) (io.ReadCloser, string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/libraries/"+url.PathEscape(name), nil, nil)
	if err != nil {
		return nil, "", err
	}
	return resp.Body, resp.Header.Get(HeaderLibraryCommit), nil
}

// LocalLibraries gives `baton run`'s jobs the libraries of --library
// NAME=DIR: a directory's regular files and symbolic links, as a tar
// archive (commit "local").
type LocalLibraries map[string]string

var _ LibraryStorage = LocalLibraries{}

// Library archives the directory of name.
func (l LocalLibraries) Library(ctx context.Context, _ Scope, name string) (io.ReadCloser, string, error) {
	dir, ok := l[name]
	if !ok {
		return nil, "", &StatusError{Code: http.StatusNotFound, Message: "there is no library \"" + name + "\" (give one to baton run with --library NAME=DIR)"}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(ctx, dir, pw)) }()
	return pr, "local", nil
}

// tarDir writes the files under dir (without .git) to w as a tar archive.
func tarDir(ctx context.Context, dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
