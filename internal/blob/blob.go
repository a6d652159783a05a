// Package blob is Baton's object storage: a small Store contract (streaming
// Put of unknown size, ranged Get, Stat, Delete, List by prefix) with two
// implementations, a local directory (Dir) and S3-compatible storage (S3),
// chosen by a storage URL (see Open).
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// Sentinel errors callers branch on. Every error a Store returns for a
// missing object wraps ErrNotFound.
var (
	// ErrNotFound means no object has the key.
	ErrNotFound = errors.New("blob: object not found")
	// ErrInvalidKey means the key breaks a rule of ValidateKey.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrInvalidRange means a read starts past the end of the object.
	ErrInvalidRange = errors.New("blob: range starts past the end of the object")
)

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Range selects part of an object: Length bytes from Offset; Length 0
// means to the end. An Offset equal to the object's size reads nothing;
// past it is ErrInvalidRange. A Length past the end stops at the end.
type Range struct {
	Offset int64
	Length int64
}

// Store is object storage. Objects appear whole or not at all: a Put that
// fails (reader error, cancelled context, storage down) leaves no object
// and no partial content visible, and a Put over an existing key replaces
// it atomically.
type Store interface {
	// Put stores everything r yields under key and returns its Info; the
	// size need not be known in advance and the content is streamed.
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	// PutSized is Put of exactly size bytes, known in advance, so that
	// S3 sends one PUT or right-sized parts. A reader that yields fewer
	// or more than size bytes fails it with ErrSizeMismatch, and nothing
	// is stored.
	PutSized(ctx context.Context, key string, r io.Reader, size int64) (Info, error)
	// Get opens part or all of an object.
	Get(ctx context.Context, key string, r Range) (io.ReadCloser, error)
	// Stat describes an object.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes an object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List yields the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
}

// MaxKeyLen is the longest key accepted, in bytes.
const MaxKeyLen = 900

// ValidateKey checks a key: 1 to MaxKeyLen bytes of UTF-8 without control
// characters or backslashes, made of "/"-separated segments that are
// neither empty, "." nor ".." (so no leading, trailing or doubled "/").
// Both implementations apply it, so a key valid on one is valid on the
// other and can never name something outside the store.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	if err := validateChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty path segment (leading, trailing or doubled /)", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q path segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// validatePrefix checks a List prefix: empty, or the start of a valid key
// (it may end in "/" or in the middle of a segment).
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return fmt.Errorf("%w: prefix longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	if err := validateChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		if seg == "" && !last {
			return fmt.Errorf("%w: prefix %q has an empty path segment", ErrInvalidKey, prefix)
		}
		if !last && (seg == "." || seg == "..") {
			return fmt.Errorf("%w: prefix %q has a %q path segment", ErrInvalidKey, prefix, seg)
		}
	}
	return nil
}

func validateChars(s string) error {
	for i, r := range s {
		switch {
		case r == '\uFFFD' && !strings.HasPrefix(s[i:], "\uFFFD"):
			return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: control character %U", ErrInvalidKey, r)
		case r == '\\':
			return fmt.Errorf("%w: %q has a backslash", ErrInvalidKey, s)
		}
	}
	return nil
}

// ctxReader fails reads once ctx ends, so a long copy stops promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := context.Cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ErrUnavailable is the error of a request the object storage did not
// answer (refused, reset, timed out).
var ErrUnavailable = errors.New("object storage unavailable")

// ErrSizeMismatch is PutSized's error for a reader that yields more or
// fewer bytes than the size it was given.
var ErrSizeMismatch = errors.New("blob: the content's size differs from the size given")

// sizedReader yields exactly size bytes of r and fails otherwise: early
// EOF, or a byte past size (checked as the last byte is read, so that a
// consumer that stops reading at size still sees the error).
type sizedReader struct {
	r    io.Reader
	left int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, s.probe()
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case s.left == 0:
		// The last bytes are held back when more follow, so that a
		// consumer that reads into a buffer of size bytes and ignores
		// an error once it is full (minio-go does) sees a short read.
		if perr := s.probe(); perr != io.EOF {
			return 0, perr
		}
		return n, nil
	case err == io.EOF:
		return n, fmt.Errorf("%w: %d bytes short", ErrSizeMismatch, s.left)
	}
	return n, err
}

// probe reads past the end: io.EOF if there is nothing more.
func (s *sizedReader) probe() error {
	var b [1]byte
	for {
		n, err := s.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: more bytes than given", ErrSizeMismatch)
		}
		if err != nil {
			return err
		}
	}
}
