package repocache

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"time"
)

// FileFS is a file system of regular files that read returns whole: the
// tree of one commit, for pipeline.LoadWith, which reads files by name
// and never lists directories. Names are checked with fs.ValidPath and
// errors come back as *fs.PathError (wrapping fs.ErrNotExist for a file
// that is not there).
type FileFS func(name string) ([]byte, error)

// ReadFile implements fs.ReadFileFS.
func (read FileFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	b, err := read(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fs.ErrNotExist
		}
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// Open implements fs.FS for regular files.
func (read FileFS) Open(name string) (fs.File, error) {
	b, err := read.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &memFile{name: name, r: bytes.NewReader(b), size: int64(len(b))}, nil
}

type memFile struct {
	name string
	r    *bytes.Reader
	size int64
}

func (m *memFile) Read(p []byte) (int, error) { return m.r.Read(p) }
func (m *memFile) Close() error               { return nil }
func (m *memFile) Stat() (fs.FileInfo, error) { return memInfo{m}, nil }

type memInfo struct{ f *memFile }

func (i memInfo) Name() string       { return i.f.name[strings.LastIndexByte(i.f.name, '/')+1:] }
func (i memInfo) Size() int64        { return i.f.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
